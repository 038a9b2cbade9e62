import { describe, expect, it } from 'vitest';
import { diffReconcile, mergeEntries, type StreamEntry } from '../src/batch.js';

const NOW = 1_800_000_000_000;
const ban = (id: string, ip: string, until: number, jail = 'django-login'): StreamEntry => [
  id,
  ['type', 'ban', 'ip', ip, 'jail', jail, 'until', String(until), 'reason', 'maxretry', 'at', String(NOW - 10)],
];
const unban = (id: string, ip: string): StreamEntry => [
  id,
  ['type', 'unban', 'ip', ip, 'jail', '', 'reason', 'manual', 'by', 'cli', 'at', String(NOW)],
];
/** the guide's jails: sshd's rule closes 22, the others firewall.ports */
const portsOf = (jail: string) => (jail === 'sshd' ? [22] : undefined);
const jailBan = (id: string, ip: string, jail: string, until: number, jailUntil?: number): StreamEntry => [
  id,
  [
    'type',
    'ban',
    'ip',
    ip,
    'jail',
    jail,
    'until',
    String(until),
    'reason',
    'maxretry',
    'at',
    String(NOW - 10),
    ...(jailUntil === undefined ? [] : ['jailUntil', String(jailUntil)]),
  ],
];

describe('mergeEntries: one firewall batch from a run of events', () => {
  it('the latest event per address wins, in stream order', () => {
    const m = mergeEntries(
      [
        ban('1-0', '203.0.113.1', NOW + 1000),
        unban('2-0', '203.0.113.1'),
        unban('3-0', '203.0.113.2'),
        ban('4-0', '203.0.113.2', -1),
        ban('5-0', '203.0.113.3', NOW + 5000),
      ],
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
    const m = mergeEntries(
      [ban('1-0', '0.0.0.0/0', -1), ban('2-0', '127.0.0.1', -1), ban('3-0', '203.0.113.1', -1), unban('4-0', '127.0.0.1')],
      NOW,
      refuse as never,
    );
    expect(m.malformed.map((x) => [x.id, x.error])).toEqual([
      ['1-0', 'refused to ban 0.0.0.0/0: loopback'],
      ['2-0', 'refused to ban 127.0.0.1: loopback'],
    ]);
    expect(m.firewall.add.map((b) => b.ip)).toEqual(['203.0.113.1']);
    expect(m.firewall.remove.map((b) => b.ip)).toEqual(['127.0.0.1']);
  });
});

describe('mergeEntries: one rule per address and port list', () => {
  it("an address banned in two jails gets each jail's rule until that jail's own end", () => {
    const m = mergeEntries(
      [jailBan('1-0', '203.0.113.1', 'login', NOW + 1000), jailBan('2-0', '203.0.113.1', 'sshd', NOW + 1000, NOW + 500)],
      NOW,
      undefined,
      portsOf,
    );
    expect(m.firewall).toEqual({
      add: [
        { ip: '203.0.113.1', jail: 'login', until: NOW + 1000 },
        { ip: '203.0.113.1', jail: 'sshd', until: NOW + 500, ports: [22] },
      ],
      remove: [],
    });
  });

  it('jails of one port list share a rule until the later end; a ban in the same jail replaces its own', () => {
    const m = mergeEntries(
      [
        jailBan('1-0', '203.0.113.1', 'login', NOW + 9000),
        jailBan('2-0', '203.0.113.1', 'http-404', NOW + 9000, NOW + 100),
        jailBan('3-0', '203.0.113.2', 'login', NOW + 9000),
        jailBan('4-0', '203.0.113.2', 'login', NOW + 100),
      ],
      NOW,
      undefined,
      portsOf,
    );
    expect(m.firewall.add).toEqual([
      { ip: '203.0.113.1', jail: 'login', until: NOW + 9000 },
      { ip: '203.0.113.2', jail: 'login', until: NOW + 100 },
    ]);
    // what the firewall holds counts too: another jail's longer rule is not shortened
    const held = { rulesOf: (ip: string) => (ip === '203.0.113.3' ? [{ ip, jail: 'login', until: -1 }] : []) };
    expect(mergeEntries([jailBan('5-0', '203.0.113.3', 'manual', NOW + 100)], NOW, undefined, portsOf, held).firewall).toEqual({
      add: [],
      remove: [],
    });
    expect(mergeEntries([jailBan('5-0', '203.0.113.3', 'login', NOW + 100)], NOW, undefined, portsOf, held).firewall.add).toEqual([
      { ip: '203.0.113.3', jail: 'login', until: NOW + 100 },
    ]);
  });

  it("an unban lifts every rule the firewall holds for the address; a jail's ban ended removes only its rule", () => {
    const held = {
      rulesOf: (ip: string) => [
        { ip, jail: 'login', until: -1 },
        { ip, jail: 'sshd', until: -1, ports: [22] },
      ],
    };
    const m = mergeEntries([unban('1-0', '203.0.113.1')], NOW, undefined, portsOf, held);
    expect(m.firewall.remove).toEqual(held.rulesOf('203.0.113.1'));
    // unban, then an sshd ban in the same run: the login rule goes, the sshd one is refreshed
    const again = mergeEntries(
      [unban('1-0', '203.0.113.1'), jailBan('2-0', '203.0.113.1', 'sshd', NOW + 1000)],
      NOW,
      undefined,
      portsOf,
      held,
    );
    expect(again.firewall).toEqual({
      add: [{ ip: '203.0.113.1', jail: 'sshd', until: NOW + 1000, ports: [22] }],
      remove: [held.rulesOf('203.0.113.1')[0]],
    });
    expect(again.events.map((e) => e.id)).toEqual(['2-0']);
    const over = mergeEntries([jailBan('3-0', '203.0.113.1', 'sshd', NOW + 1000, NOW - 1)], NOW, undefined, portsOf);
    expect(over.firewall).toEqual({ add: [], remove: [{ ip: '203.0.113.1', jail: 'sshd', until: NOW - 1, ports: [22] }] });
  });
});

describe('diffReconcile: only the difference', () => {
  const o = (ip: string, until: number, current = true) => ({ ip, jail: 'j', until, current });
  const a = (ip: string, until: number) => ({ ip, jail: '', until });

  it('adds missing, removes stale, refreshes a changed until or an old rule shape, leaves the rest', () => {
    const d = diffReconcile(
      [
        o('203.0.113.1', NOW + 60_000),
        o('203.0.113.2', NOW + 60_000),
        o('203.0.113.3', NOW + 60_000),
        o('203.0.113.4', -1, false),
        o('203.0.113.5', -1),
      ],
      [
        a('203.0.113.1', NOW + 60_500),
        a('203.0.113.3', NOW + 3_600_000),
        a('203.0.113.4', -1),
        a('203.0.113.5', -1),
        a('203.0.113.6', NOW + 1000),
        a('203.0.113.7', NOW - 1),
      ],
      NOW,
    );
    expect(d.add.map((b) => b.ip)).toEqual(['203.0.113.3', '203.0.113.4', '203.0.113.6']);
    expect(d.remove.map((b) => b.ip)).toEqual(['203.0.113.2']);
  });

  it('nothing to do when the firewall matches', () => {
    expect(diffReconcile([o('203.0.113.1', -1)], [a('203.0.113.1', -1)], NOW)).toEqual({ add: [], remove: [] });
  });

  it("a rule is its address and ports: the union rule of an older version is replaced by the jail's, an sshd rule kept beside a login one", () => {
    const union = { ip: '203.0.113.1', jail: 'login', until: -1, ports: [22, 80, 443], current: true };
    const sshd = { ip: '203.0.113.2', jail: 'sshd', until: -1, ports: [22], current: true };
    const d = diffReconcile([union, sshd], [a('203.0.113.1', -1), { ...a('203.0.113.2', -1), ports: [22] }, a('203.0.113.2', -1)], NOW);
    expect(d).toEqual({ add: [a('203.0.113.1', -1), a('203.0.113.2', -1)], remove: [union] });
  });
});
