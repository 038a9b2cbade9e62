import { describe, expect, it } from 'vitest';
import { ExpiryHeap } from '../src/expiry.js';

describe('ExpiryHeap: one heap, one timer', () => {
  it('pops addresses in until order; a moved or deleted address is skipped', () => {
    let now = 1000;
    const w = new ExpiryHeap(
      () => {},
      () => now,
    );
    w.set('a', 5000);
    w.set('b', 2000);
    w.set('c', 3000);
    w.set('b', 6000); // extended
    w.delete('c');
    w.set('d', -1); // forever: not tracked
    expect(w.size).toBe(2);
    now = 5500;
    expect(w.takeDue()).toEqual(['a']);
    now = 10_000;
    expect(w.takeDue()).toEqual(['b']);
    expect(w.size).toBe(0);
    w.stop();
  });

  it('handles 100k bans with one timer and fires the due ones', async () => {
    const fired: string[] = [];
    const w = new ExpiryHeap((ips) => fired.push(...ips));
    const now = Date.now();
    for (let i = 0; i < 100_000; i++) w.set(`10.0.${i >> 8}.${i & 255}`, now + 3_600_000 + i);
    w.set('198.51.100.1', now + 30);
    w.set('198.51.100.2', now + 60);
    await new Promise((r) => setTimeout(r, 200));
    expect(fired).toEqual(['198.51.100.1', '198.51.100.2']);
    expect(w.size).toBe(100_000);
    w.stop();
  });
});
