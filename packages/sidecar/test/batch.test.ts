import { describe, expect, it } from 'vitest';
import { diffReconcile, mergeEntries, type StreamEntry } from '../src/batch.js';

const NOW = 1_800_000_000_000;
const ban = (id: string, ip: string, until: number, jail = 'django-login'): StreamEntry => [
  id,
  ['type', 'ban', 'ip', ip, 'jail', jail, 'until', String(until), 'reason', 'maxretry', 'at', String(NOW - 10)],
];
const unban = (id: string, ip: string): StreamEntry => [id, ['type', 'unban', 'ip', ip, 'jail', '', 'reason', 'manual', 'by', 'cli', 'at', String(NOW)]];

describe('mergeEntries: one firewall batch from a run of events', () => {
  it('the latest event per address wins, in stream order', () => {
    const m = mergeEntries(
      [ban('1-0', '203.0.113.1', NOW + 1000), unban('2-0', '203.0.113.1'), unban('3-0', '203.0.113.2'), ban('4-0', '203.0.113.2', -1), ban('5-0', '203.0.113.3', NOW + 5000)],
      NOW,
    );
    expect(m.ids).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0']);
    expect(m.firewall.remove.map((b) => b.ip)).toEqual(['203.0.113.1']);
    expect(m.firewall.add).toEqual([
      { ip: '203.0.113.2', jail: 'django-login', until: -1 },
      { ip: '203.0.113.3', jail: 'django-login', until: NOW + 5000 },
    ]);
    expect(m.events.map((e) => e.id)).toEqual(['2-0', '4-0', '5-0']);
  });

  it('a ban already over adds no rule (and removes one we may hold)', () => {
    const m = mergeEntries([ban('1-0', '203.0.113.9', NOW - 1)], NOW);
    expect(m.firewall.add).toEqual([]);
    expect(m.expired.map((b) => b.ip)).toEqual(['203.0.113.9']);
    expect(m.firewall.remove.map((b) => b.ip)).toEqual(['203.0.113.9']);
  });

  it('canonicalises addresses: IPv6 compressed, mapped IPv4 folded, CIDR masked', () => {
    const m = mergeEntries(
      [ban('1-0', '2001:DB8:0:0::1', NOW + 1), ban('2-0', '::ffff:198.51.100.4', NOW + 1), ban('3-0', '10.1.2.3/8', NOW + 1)],
      NOW,
    );
    expect(m.firewall.add.map((b) => b.ip)).toEqual(['2001:db8::1', '198.51.100.4', '10.0.0.0/8']);
  });

  it('sets malformed entries aside with their id and why', () => {
    const bad: StreamEntry[] = [
      ['1-0', ['type', 'ban', 'ip', '1.2.3.4; rm -rf /', 'jail', 'x', 'until', '-1', 'at', '1']],
      ['2-0', ['type', 'ban', 'ip', '999.1.1.1', 'jail', 'x', 'until', '-1', 'at', '1']],
      ['3-0', ['type', 'ban', 'ip', '', 'jail', 'x', 'until', '-1', 'at', '1']],
      ['4-0', ['type', 'explode', 'ip', '203.0.113.1', 'jail', 'x', 'at', '1']],
      ['5-0', ['type', 'ban', 'ip', '203.0.113.1', 'jail', 'x', 'at', '1']],
      ['6-0', []],
      ['7-0', ['type', 'ban', 'ip', '203.0.113.1', 'jail', '$(reboot)', 'until', '-1', 'at', '1']],
    ];
    const m = mergeEntries(bad, NOW);
    expect(m.firewall).toEqual({ add: [], remove: [] });
    expect(m.malformed.map((x) => x.id)).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0', '6-0', '7-0']);
    expect(m.malformed[0]!.error).toMatch(/bad ip/);
    expect(m.malformed[3]!.error).toMatch(/unknown type/);
    expect(m.malformed[4]!.error).toMatch(/bad until/);
    expect(m.ids).toHaveLength(7);
  });

  it('refuses bans of protected addresses (loopback, a range covering them): parked, never applied', () => {
    const refuse = (c: { text: string; network: string }) => (c.network.startsWith('127.') || c.text === '0.0.0.0/0' ? 'loopback' : null);
    const m = mergeEntries([ban('1-0', '0.0.0.0/0', -1), ban('2-0', '127.0.0.1', -1), ban('3-0', '203.0.113.1', -1), unban('4-0', '127.0.0.1')], NOW, refuse as never);
    expect(m.malformed.map((x) => [x.id, x.error])).toEqual([
      ['1-0', 'refused to ban 0.0.0.0/0: loopback'],
      ['2-0', 'refused to ban 127.0.0.1: loopback'],
    ]);
    expect(m.firewall.add.map((b) => b.ip)).toEqual(['203.0.113.1']);
    expect(m.firewall.remove.map((b) => b.ip)).toEqual(['127.0.0.1']);
  });
});

describe('diffReconcile: only the difference', () => {
  const o = (ip: string, until: number, current = true) => ({ ip, jail: 'j', until, current });
  const a = (ip: string, until: number) => ({ ip, jail: '', until });

  it('adds missing, removes stale, refreshes a changed until or an old rule shape, leaves the rest', () => {
    const d = diffReconcile(
      [o('203.0.113.1', NOW + 60_000), o('203.0.113.2', NOW + 60_000), o('203.0.113.3', NOW + 60_000), o('203.0.113.4', -1, false), o('203.0.113.5', -1)],
      [a('203.0.113.1', NOW + 60_500), a('203.0.113.3', NOW + 3_600_000), a('203.0.113.4', -1), a('203.0.113.5', -1), a('203.0.113.6', NOW + 1000), a('203.0.113.7', NOW - 1)],
      NOW,
    );
    expect(d.add.map((b) => b.ip)).toEqual(['203.0.113.3', '203.0.113.4', '203.0.113.6']);
    expect(d.remove.map((b) => b.ip)).toEqual(['203.0.113.2']);
  });

  it('nothing to do when the firewall matches', () => {
    expect(diffReconcile([o('203.0.113.1', -1)], [a('203.0.113.1', -1)], NOW)).toEqual({ add: [], remove: [] });
  });
});
