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
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
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
