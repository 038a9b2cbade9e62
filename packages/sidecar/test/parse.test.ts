import { describe, expect, it } from 'vitest';
import { parseConfig } from '@portcullis/core';
import { FirewallError, UfwBackend } from '@portcullis/sidecar';
import { normalizeCidr, parseBanEvent } from '@portcullis/core';
import { MAX_DURATION_MS, checkBan } from '../src/backends/ban-length.js';
import { DockerUserChain } from '../src/backends/docker-user.js';
import { ruleKey } from '../src/backends/firewall.js';
import {
  nftBatchScript,
  nftSetFor,
  nftSetupScript,
  nftTimeout,
  parseNftTableJson,
  parseSetName,
  rulePorts,
} from '../src/backends/nftables.js';
import { editUfwUserRules, parseUfwComment, parseUfwUserRules, ufwAddArgs, ufwDeleteArgs } from '../src/backends/ufw.js';

const hex = (s: string) => Buffer.from(s).toString('hex');

// as ufw 0.36 writes /etc/ufw/user.rules (checked on Debian 12)
const USER_RULES = `*filter
:ufw-user-input - [0:0]
### RULES ###

### tuple ### route:deny tcp 80,443 0.0.0.0/0 any 203.0.113.7 in comment=${hex('portcullis django-login until forever')}
-A ufw-user-forward -p tcp -m multiport --dports 80,443 -s 203.0.113.7 -j DROP

### tuple ### deny tcp 80,443 0.0.0.0/0 any 203.0.113.7 in comment=${hex('portcullis django-login until 2026-11-25T03:00:00.000Z')}
-A ufw-user-input -p tcp -m multiport --dports 80,443 -s 203.0.113.7 -j DROP

### tuple ### reject any any 0.0.0.0/0 any 198.51.100.0/24 in comment=${hex('portcullis manual until forever')}
-A ufw-user-input -s 198.51.100.0/24 -j REJECT

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### deny any any 0.0.0.0/0 any 192.0.2.9 in comment=${hex('not ours')}
-A ufw-user-input -s 192.0.2.9 -j DROP

### END RULES ###
`;

describe('ufw: rules, comments and commands', () => {
  it('finds our rules (and only ours) in user.rules, comments hex-decoded', () => {
    const rules = parseUfwUserRules(USER_RULES);
    expect(rules).toEqual([
      {
        ip: '203.0.113.7',
        jail: 'django-login',
        until: -1,
        spec: { route: true, action: 'deny', src: '203.0.113.7', ports: [80, 443], proto: 'tcp' },
      },
      {
        ip: '203.0.113.7',
        jail: 'django-login',
        until: Date.parse('2026-11-25T03:00:00.000Z'),
        spec: { route: false, action: 'deny', src: '203.0.113.7', ports: [80, 443], proto: 'tcp' },
      },
      {
        ip: '198.51.100.0/24',
        jail: 'manual',
        until: -1,
        spec: { route: false, action: 'reject', src: '198.51.100.0/24', ports: [], proto: 'any' },
      },
    ]);
  });

  it('parses the comment tag', () => {
    expect(parseUfwComment('portcullis http-404 until forever')).toEqual({ jail: 'http-404', until: -1 });
    expect(parseUfwComment('portcullis x until nonsense')).toBeNull();
    expect(parseUfwComment('something else')).toBeNull();
  });

  it('builds argument arrays (never shell strings); delete matches prepend without the comment', () => {
    const spec = { route: false, action: 'deny' as const, src: '2001:db8::1', ports: [80, 443], proto: 'tcp' as const };
    expect(ufwAddArgs(spec, { ip: '2001:db8::1', jail: 'django-login', until: Date.parse('2026-01-01T00:00:00Z') })).toEqual([
      'prepend',
      'deny',
      'from',
      '2001:db8::1',
      'to',
      'any',
      'port',
      '80,443',
      'proto',
      'tcp',
      'comment',
      'portcullis django-login until 2026-01-01T00:00:00.000Z',
    ]);
    expect(ufwDeleteArgs({ ...spec, route: true })).toEqual([
      'route',
      'delete',
      'deny',
      'from',
      '2001:db8::1',
      'to',
      'any',
      'port',
      '80,443',
      'proto',
      'tcp',
    ]);
    expect(ufwDeleteArgs({ ...spec, ports: [], proto: 'any' })).toEqual(['delete', 'deny', 'from', '2001:db8::1']);
  });

  it('one ban is one rule, plus a route rule with docker; a config change marks old rules not current', async () => {
    const run = async () => ({ stdout: '', stderr: '', exitCode: 0 });
    const fw = parseConfig({ firewall: { ports: [443, 80], docker: true } }).firewall;
    const b = new UfwBackend({ firewall: fw, run });
    expect(b.describe({ add: [{ ip: '203.0.113.7', jail: 'j', until: -1 }], remove: [] })).toEqual([
      "ufw prepend deny from 203.0.113.7 to any port 80,443 proto tcp comment 'portcullis j until forever'",
      "ufw route prepend deny from 203.0.113.7 to any port 80,443 proto tcp comment 'portcullis j until forever'",
    ]);
    expect(() => new UfwBackend({ firewall: parseConfig({ firewall: { ports: [80, 443], protocol: 'any' } }).firewall, run })).toThrow(
      /tcp/,
    );
  });

  it("a ban's rule closes its jail's ports: an sshd ban 22, the address's login ban firewall.ports, each its own rule", () => {
    const run = async () => ({ stdout: '', stderr: '', exitCode: 0 });
    const fw = parseConfig({ firewall: { ports: [443, 80] } }).firewall;
    const b = new UfwBackend({ firewall: fw, run, shapes: [[80, 443], [22]] });
    expect(
      b.describe({
        add: [
          { ip: '203.0.113.7', jail: 'login', until: -1 },
          { ip: '203.0.113.7', jail: 'sshd', until: -1, ports: [22] },
        ],
        remove: [],
      }),
    ).toEqual([
      "ufw prepend deny from 203.0.113.7 to any port 80,443 proto tcp comment 'portcullis login until forever'",
      "ufw prepend deny from 203.0.113.7 to any port 22 proto tcp comment 'portcullis sshd until forever'",
    ]);
    expect(b.describe({ add: [], remove: [{ ip: '203.0.113.7', jail: 'sshd', until: 0, ports: [22] }] })).toEqual([
      'ufw delete deny from 203.0.113.7 to any port 22 proto tcp',
    ]);
    // protocol "any" takes one port per rule in ufw: a jail with two is refused before anything runs
    const any = parseConfig({ firewall: { ports: [80], protocol: 'any' } }).firewall;
    expect(() => new UfwBackend({ firewall: any, run, shapes: [[22, 2222]] })).toThrow(/a jail's ports: 22, 2222.*tcp/);
    expect(ruleKey({ ip: '203.0.113.7' })).toBe('203.0.113.7');
    expect(ruleKey({ ip: '203.0.113.7', ports: [22] })).toBe('203.0.113.7 22');
  });

  it("docker: one DOCKER-USER rule per port of the ban's own ports", () => {
    const run = async () => ({ stdout: '', stderr: '', exitCode: 0 });
    const chain = new DockerUserChain(parseConfig({ firewall: { ports: [80, 443], docker: true } }).firewall, run);
    expect(
      chain.rules([
        { ip: '203.0.113.7', ports: [22] },
        { ip: '203.0.113.7', ports: [80, 443] },
      ]).v4,
    ).toEqual([
      '-A portcullis-docker -s 203.0.113.7 -p tcp -m conntrack --ctorigdstport 22 --ctdir ORIGINAL -j DROP',
      '-A portcullis-docker -s 203.0.113.7 -p tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j DROP',
      '-A portcullis-docker -s 203.0.113.7 -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j DROP',
    ]);
  });
});

describe('ufw: editing its rule files', () => {
  it('drops our rule blocks, rewrites a comment, leaves every other byte alone', () => {
    const edited = editUfwUserRules(USER_RULES, (r) =>
      r.ip === '198.51.100.0/24' ? null : r.spec.route ? undefined : 'portcullis django-login until forever',
    );
    expect(edited).not.toContain('198.51.100.0/24');
    expect(edited).toContain('-A ufw-user-input -p tcp --dport 22 -j ACCEPT');
    expect(edited).toContain(`comment=${hex('not ours')}`);
    expect(edited).toContain('### END RULES ###\n');
    const rules = parseUfwUserRules(edited);
    expect(rules.map((r) => r.until)).toEqual([-1, -1]);
    expect(edited.split('\n').filter((l) => l.startsWith('-A '))).toHaveLength(4);
    expect(editUfwUserRules(USER_RULES, () => undefined)).toBe(USER_RULES);
  });
});

describe('ban lengths every backend takes', () => {
  const NOW = 1_800_000_000_000;
  it('forever, up to 10 years; an absurd or malformed until is a non-transient FirewallError naming it', () => {
    expect(() => checkBan({ ip: '192.0.2.1', jail: 'j', until: -1 }, NOW)).not.toThrow();
    expect(() => checkBan({ ip: '192.0.2.1', jail: 'j', until: NOW + MAX_DURATION_MS }, NOW)).not.toThrow();
    for (const until of [1e16, NOW + MAX_DURATION_MS * 2, Number.NaN, 1.5, -7]) {
      let err: unknown;
      try {
        checkBan({ ip: '192.0.2.1', jail: 'j', until }, NOW);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FirewallError);
      expect((err as FirewallError).transient).toBe(false);
      expect((err as FirewallError).code).toBe('ERR_PORTCULLIS_FIREWALL');
      expect((err as Error).message).toContain(String(until));
    }
  });

  it('nft timeouts in days/hours/minutes/seconds/ms (nft refuses Nms from 100,000,000 up)', () => {
    expect(nftTimeout(1500)).toBe('1s500ms');
    expect(nftTimeout(3_600_000)).toBe('1h');
    expect(nftTimeout(2 * 86_400_000 + 3_600_000 + 61_001)).toBe('2d1h1m1s1ms');
    expect(nftTimeout(MAX_DURATION_MS)).toBe('3650d');
    expect(nftTimeout(0.2)).toBe('1ms');
  });
});

describe('nftables: scripts and listing', () => {
  const fw = parseConfig({ firewall: { backend: 'nftables', ports: [80, 443] } }).firewall;
  const NOW = 1_800_000_000_000;

  it('setup creates table, timeout sets (one per range length in use) and hooks without flushing sets', () => {
    const s = nftSetupScript(fw, ['v6p64', 'v4p28', 'v4p24']);
    expect(s).toContain('add set inet portcullis v4 { type ipv4_addr; flags timeout; }');
    expect(s).toContain('add set inet portcullis v6 { type ipv6_addr; flags timeout; }');
    expect(s).toContain('add set inet portcullis v4p28 { type ipv4_addr; flags timeout; }');
    expect(s).toContain('add set inet portcullis v6p64 { type ipv6_addr; flags timeout; }');
    expect(s).toContain('add rule inet portcullis input ip saddr & 255.255.255.240 @v4p28 tcp dport { 80, 443 } counter drop');
    expect(s).toContain('add rule inet portcullis input ip6 saddr & ffff:ffff:ffff:ffff:: @v6p64 tcp dport { 80, 443 } counter drop');
    expect(s.indexOf('@v4p24')).toBeLessThan(s.indexOf('@v4p28'));
    expect(s).toContain('add chain inet portcullis input { type filter hook input priority filter - 10; policy accept; }');
    expect(s).toContain('add rule inet portcullis input ip saddr @v4 tcp dport { 80, 443 } counter drop');
    expect(s).toContain('delete chain inet portcullis forward');
    expect(s).not.toMatch(/flush (set|table|ruleset)/);
    expect(s).not.toContain('interval');
    const docker = nftSetupScript({ ...fw, docker: true, action: 'reject' });
    // the port the client asked for, from before Docker's DNAT
    expect(docker).toContain(
      'add rule inet portcullis forward ip6 saddr @v6 meta l4proto tcp ct original proto-dst { 80, 443 } counter reject',
    );
  });

  it('a batch is one script: new bans are plain adds, live ones deleted and re-added (timeout refresh), unknown removals made to exist first', () => {
    const batch = {
      add: [
        { ip: '203.0.113.1', jail: 'j', until: NOW + 60_000 },
        { ip: '203.0.113.2', jail: 'j', until: -1 },
        { ip: '2001:db8::/64', jail: 'j', until: NOW + 1500 },
      ],
      remove: [
        { ip: '198.51.100.1', jail: 'j', until: 0 },
        { ip: '198.51.100.2', jail: 'j', until: 0 },
      ],
    };
    expect(nftBatchScript('portcullis', batch, NOW, new Set(['203.0.113.2', '198.51.100.1']))).toBe(
      [
        'add element inet portcullis v4 { 198.51.100.2 }',
        'delete element inet portcullis v4 { 198.51.100.1, 198.51.100.2, 203.0.113.2 }',
        'add element inet portcullis v4 { 203.0.113.1 timeout 1m, 203.0.113.2 }',
        'add element inet portcullis v6p64 { 2001:db8:: timeout 1s500ms }',
        '',
      ].join('\n'),
    );
    // without knowledge: everything made to exist, deleted, re-added
    expect(nftBatchScript('portcullis', { add: [batch.add[0]!], remove: [] }, NOW)).toBe(
      [
        'add element inet portcullis v4 { 203.0.113.1 }',
        'delete element inet portcullis v4 { 203.0.113.1 }',
        'add element inet portcullis v4 { 203.0.113.1 timeout 1m }',
        '',
      ].join('\n'),
    );
  });

  it('a set per port list: v4/v6 (and ranges) for firewall.ports, a suffix naming the ports of the others', () => {
    expect(nftSetFor(normalizeCidr('203.0.113.7')!)).toBe('v4');
    expect(nftSetFor(normalizeCidr('203.0.113.7')!, [22])).toBe('v4_22');
    expect(nftSetFor(normalizeCidr('2001:db8::/64')!, [22, 2222])).toBe('v6p64_22_2222');
    expect(nftSetFor(normalizeCidr('10.0.0.0/8')!, [])).toBe('v4p8_all');
    expect(parseSetName('v6p64_22_2222')).toEqual({ family: 'v6', prefix: 64, ports: [22, 2222] });
    expect(parseSetName('v4')).toEqual({ family: 'v4', prefix: null });
    expect(parseSetName('v4_all')).toEqual({ family: 'v4', prefix: null, ports: [] });
    for (const other of ['v4net', 'v4p33', 'v5', 'v4_', 'v4_22_', 'mine']) expect(parseSetName(other)).toBeNull();
    const s = nftSetupScript(fw, ['v4_22', 'v6p64_22', 'v4p24']);
    expect(s).toContain('add set inet portcullis v4_22 { type ipv4_addr; flags timeout; }');
    expect(s).toContain('add rule inet portcullis input ip saddr @v4 tcp dport { 80, 443 } counter drop');
    expect(s).toContain('add rule inet portcullis input ip saddr @v4_22 tcp dport { 22 } counter drop');
    expect(s).toContain('add rule inet portcullis input ip6 saddr & ffff:ffff:ffff:ffff:: @v6p64_22 tcp dport { 22 } counter drop');
    const docker = nftSetupScript({ ...fw, docker: true }, ['v4_22']);
    expect(docker).toContain('add rule inet portcullis forward ip saddr @v4_22 meta l4proto tcp ct original proto-dst { 22 } counter drop');
    // one address in two jails: an element of each set, each with its own timeout; live ones known by ruleKey
    const batch = {
      add: [
        { ip: '203.0.113.1', jail: 'login', until: NOW + 60_000 },
        { ip: '203.0.113.1', jail: 'sshd', until: NOW + 1000, ports: [22] },
      ],
      remove: [],
    };
    expect(nftBatchScript('portcullis', batch, NOW, new Set(['203.0.113.1 22']))).toBe(
      [
        'add element inet portcullis v4 { 203.0.113.1 timeout 1m }',
        'delete element inet portcullis v4_22 { 203.0.113.1 }',
        'add element inet portcullis v4_22 { 203.0.113.1 timeout 1s }',
        '',
      ].join('\n'),
    );
  });

  it("reads the ports a rule in the kernel closes (an older version's union rule is recognised by them)", () => {
    const json = (right: unknown, field = 'dport', protocol = 'tcp') =>
      JSON.stringify([
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@v4' } },
        { match: { op: '==', left: { payload: { protocol, field } }, right } },
        { counter: { packets: 0, bytes: 0 } },
        { drop: null },
      ]);
    expect(rulePorts(json({ set: [22, 80, 443] }))).toEqual([22, 80, 443]);
    expect(rulePorts(json(8080))).toEqual([8080]);
    expect(rulePorts(json({ set: [{ range: [8000, 8002] }, 22] }, 'dport', 'th'))).toEqual([22, 8000, 8001, 8002]);
    expect(
      rulePorts(JSON.stringify([{ match: { left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@v4' } }, { drop: null }])),
    ).toEqual([]);
    expect(rulePorts('not json')).toBeNull();
  });

  it("reads elements back with their remaining time; a range from its set's prefix length", () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { set: { family: 'inet', name: 'v4p8', table: 'portcullis', elem: [{ elem: { val: '10.0.0.0', timeout: 50, expires: 49 } }] } },
        { set: { family: 'inet', name: 'v4', table: 'portcullis', elem: ['198.51.100.9'] } },
        { chain: { family: 'inet', table: 'portcullis', name: 'input', hook: 'input' } },
        { rule: { family: 'inet', table: 'portcullis', chain: 'input', expr: [{ match: { right: '@v4' } }] } },
      ],
    });
    const t = parseNftTableJson(json);
    expect(t.sets.get('v4p8')).toEqual([{ text: '10.0.0.0/8', expiresMs: 49_000 }]);
    expect(t.sets.get('v4')).toEqual([{ text: '198.51.100.9' }]);
    expect(t.chains.get('input')).toEqual({ hook: 'input', rules: ['[{"match":{"right":"@v4"}}]'] });
  });
});

describe("ban events: the jail's own end", () => {
  const base = ['type', 'ban', 'ip', '203.0.113.7', 'jail', 'sshd', 'reason', 'maxretry', 'at', '1'];
  it("jailUntil is kept only when it is earlier than the address's until; a later or malformed one is refused", () => {
    expect(parseBanEvent([...base, 'until', '5000', 'jailUntil', '3000'])).toMatchObject({ until: 5000, jailUntil: 3000 });
    expect(parseBanEvent([...base, 'until', '-1', 'jailUntil', '3000'])).toMatchObject({ until: -1, jailUntil: 3000 });
    expect(parseBanEvent([...base, 'until', '5000', 'jailUntil', '5000'])).not.toHaveProperty('jailUntil');
    expect(parseBanEvent([...base, 'until', '5000'])).not.toHaveProperty('jailUntil');
    for (const bad of ['6000', '-1', 'x', '-5'])
      expect(() => parseBanEvent([...base, 'until', '5000', 'jailUntil', bad])).toThrow(/bad jailUntil/);
  });
});
