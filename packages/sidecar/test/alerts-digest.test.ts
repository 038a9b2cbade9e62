import { describe, expect, it } from 'vitest';
import { DigestPolicy } from '../src/alerts/digest.js';

const ban = (ip: string, jail = 'django-login') => ({ type: 'ban' as const, ip, jail, until: -1, reason: 'maxretry', at: 1 });

describe('DigestPolicy: at most maxSingle + 1 messages per window', () => {
  it('100,000 bans in one window: maxSingle singles, one digest counting the rest per jail, listing a few', () => {
    const p = new DigestPolicy(60_000, 5, 50);
    const seen = { single: 0, listed: 0, counted: 0 };
    for (let i = 0; i < 100_000; i++)
      seen[p.admit(ban(`10.0.${i >> 8}.${i & 255}`, i % 2 ? 'sshd' : 'django-login'), `${i}-0`, 1000 + (i % 1000))]++;
    expect(seen).toEqual({ single: 5, listed: 50, counted: 99_945 });
    expect(p.due(30_000)).toBeNull();
    const d = p.due(61_000)!;
    expect(d.total).toBe(99_995);
    expect(d.ids).toHaveLength(99_995);
    expect(d.byJail).toEqual({ sshd: 49_998, 'django-login': 49_997 });
    expect(p.dueIn(61_000)).toBe(Infinity);
  });

  it('a flood that goes on gets one digest per window, no new singles; a quiet window resets', () => {
    const p = new DigestPolicy(1000, 2, 10);
    expect([p.admit(ban('a'), '1', 0), p.admit(ban('b'), '2', 10), p.admit(ban('c'), '3', 20)]).toEqual(['single', 'single', 'listed']);
    expect(p.dueIn(500)).toBe(500);
    expect(p.due(1000)!.total).toBe(1);
    expect(p.admit(ban('d'), '4', 1100)).toBe('listed');
    expect(p.due(2000)!.ids).toEqual(['4']);
    expect(p.admit(ban('e'), '5', 5000)).toBe('single');
  });
});
