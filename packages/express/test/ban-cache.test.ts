import { describe, expect, it } from 'vitest';
import { IpSet, normalizeIp } from '@portcullis/core';
import { BanCache } from '@portcullis/express';

describe('BanCache: range bans', () => {
  it('finds the ranges covering an address, v4 and v6, at their edges', () => {
    const c = new BanCache();
    c.replace([
      { ip: '10.1.0.0/16', until: 5_000 },
      { ip: '192.0.2.128/25', until: -1 },
      { ip: '2001:db8::/32', until: 5_000 },
      { ip: '2001:db8:aaaa:bbbb::/64', until: 9_000 },
      { ip: 'fd00:1:2:3:4:5:6:0/120', until: 7_000 },
      { ip: '203.0.113.9', until: 5_000 },
    ]);
    expect(c.size).toBe(6);
    expect(c.bannedUntil('10.1.255.255', 1)).toBe(5_000);
    expect(c.bannedUntil('10.2.0.0', 1)).toBe(0);
    expect(c.bannedUntil('10.0.255.255', 1)).toBe(0);
    expect(c.bannedUntil('192.0.2.128', 1)).toBe(-1);
    expect(c.bannedUntil('192.0.2.127', 1)).toBe(0);
    expect(c.bannedUntil('2001:db8:ffff::1', 1)).toBe(5_000);
    // two ranges cover it: the later end counts
    expect(c.bannedUntil('2001:db8:aaaa:bbbb::42', 1)).toBe(9_000);
    expect(c.bannedUntil('2001:db9::1', 1)).toBe(0);
    expect(c.bannedUntil('fd00:1:2:3:4:5:6:ff', 1)).toBe(7_000);
    expect(c.bannedUntil('fd00:1:2:3:4:5:6:100', 1)).toBe(0);
    expect(c.bannedUntil('203.0.113.9', 1)).toBe(5_000);
    // expired ranges stop counting; the inner one outlives the outer
    expect(c.bannedUntil('2001:db8:aaaa:bbbb::42', 6_000)).toBe(9_000);
    expect(c.bannedUntil('2001:db8:ffff::1', 6_000)).toBe(0);
    c.remove('2001:db8:aaaa:bbbb::/64');
    expect(c.bannedUntil('2001:db8:aaaa:bbbb::42', 1)).toBe(0);
    c.add('2001:db8:aaaa:bbbb::/64', 9_000);
    expect(c.bannedUntil('2001:db8:aaaa:bbbb::42', 1)).toBe(9_000);
    c.apply({ type: 'unban', ip: '192.0.2.128/25' });
    expect(c.bannedUntil('192.0.2.200', 1)).toBe(0);
  });

  it('agrees with IpSet on random ranges of every prefix length', () => {
    // xorshift32, seeded: the same ranges every run
    let seed = 7;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      seed >>>= 0;
      return seed % n;
    };
    const ranges: string[] = [];
    for (let i = 0; i < 300; i++) {
      const v4 = `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}/${8 + rnd(25)}`;
      const v6 = `${Array.from({ length: 8 }, () => rnd(65536).toString(16)).join(':')}/${16 + rnd(113)}`;
      ranges.push(v4, v6);
    }
    const set = new IpSet(ranges);
    const c = new BanCache();
    // canonical network text, as the store keeps it
    c.replace(set.cidrs.map((cidr) => ({ ip: cidr.text, until: -1 })));
    const probes = set.cidrs.map((cidr) => cidr.network);
    for (let i = 0; i < 3000; i++) {
      probes.push(
        i % 2 === 0
          ? `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`
          : normalizeIp(Array.from({ length: 8 }, () => rnd(65536).toString(16)).join(':'))!,
      );
    }
    let hits = 0;
    for (const probe of probes) {
      const expected = set.has(probe);
      if (expected) hits++;
      expect(c.bannedUntil(probe, 0) !== 0, probe).toBe(expected);
    }
    // both answers were put to the test
    expect(hits).toBeGreaterThan(600);
    expect(hits).toBeLessThan(probes.length);
  });
});

describe('BanCache: addresses', () => {
  it('holds many v4 and v6 addresses through growth, removal and re-adding', () => {
    const c = new BanCache();
    const v4 = (i: number) => `${10 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.9`;
    const v6 = (i: number) => normalizeIp(`2001:db8:${(i >>> 16).toString(16)}::${(i & 0xffff).toString(16)}`)!;
    for (let i = 0; i < 50_000; i++) {
      c.add(v4(i), 1_000 + i);
      c.add(v6(i), -1);
    }
    expect(c.size).toBe(100_000);
    for (let i = 0; i < 50_000; i += 7) {
      expect(c.bannedUntil(v4(i), 0)).toBe(1_000 + i);
      expect(c.bannedUntil(v6(i), 0)).toBe(-1);
    }
    expect(c.bannedUntil('10.0.0.8', 0)).toBe(0);
    expect(c.bannedUntil('2001:db8::ffff:1', 0)).toBe(0);
    // removal leaves the others findable (tombstones do not end a probe)
    for (let i = 0; i < 50_000; i += 2) {
      c.remove(v4(i));
      c.apply({ type: 'unban', ip: v6(i) });
    }
    expect(c.size).toBe(50_000);
    for (let i = 0; i < 50_000; i++) {
      expect(c.bannedUntil(v4(i), 0) !== 0).toBe(i % 2 === 1);
      expect(c.bannedUntil(v6(i), 0) !== 0).toBe(i % 2 === 1);
    }
    c.add(v4(0), 5);
    expect(c.bannedUntil(v4(0), 0)).toBe(5);
    expect(c.size).toBe(50_001);
  });

  it('forgets ended bans by sweeping, without a lookup', () => {
    const c = new BanCache();
    for (let i = 0; i < 100_000; i++)
      c.add(`198.18.${(i >> 8) & 255}.${i & 255}`.replace(/^198\.18\./, `${198 + (i >> 16)}.18.`), i % 2 === 0 ? 10 : 1_000);
    c.add('2001:db8::1', 10);
    c.add('2001:db8::/64', 10);
    c.add('192.0.2.0/24', -1);
    expect(c.size).toBe(100_003);
    let steps = 0;
    while (!c.sweep(100) && steps < 1000) steps++;
    expect(steps).toBeGreaterThan(1); // in steps, not in one go
    expect(c.size).toBe(50_001);
    expect(c.bannedUntil('192.0.2.1', 100)).toBe(-1);
  });
});
