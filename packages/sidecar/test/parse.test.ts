import { describe, expect, it } from 'vitest';
import { parseConfig } from '@portcullis/core';
import {
  UfwBackend, nftBatchScript, nftSetupScript, parseNftSetJson, parseUfwComment, parseUfwUserRules, ufwAddArgs, ufwDeleteArgs,
} from '@portcullis/sidecar';

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
      { ip: '203.0.113.7', jail: 'django-login', until: -1, spec: { route: true, action: 'deny', src: '203.0.113.7', ports: [80, 443], proto: 'tcp' } },
      { ip: '203.0.113.7', jail: 'django-login', until: Date.parse('2026-11-25T03:00:00.000Z'), spec: { route: false, action: 'deny', src: '203.0.113.7', ports: [80, 443], proto: 'tcp' } },
      { ip: '198.51.100.0/24', jail: 'manual', until: -1, spec: { route: false, action: 'reject', src: '198.51.100.0/24', ports: [], proto: 'any' } },
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
      'prepend', 'deny', 'from', '2001:db8::1', 'to', 'any', 'port', '80,443', 'proto', 'tcp', 'comment', 'portcullis django-login until 2026-01-01T00:00:00.000Z',
    ]);
    expect(ufwDeleteArgs({ ...spec, route: true })).toEqual(['route', 'delete', 'deny', 'from', '2001:db8::1', 'to', 'any', 'port', '80,443', 'proto', 'tcp']);
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
    expect(() => new UfwBackend({ firewall: parseConfig({ firewall: { ports: [80, 443], protocol: 'any' } }).firewall, run })).toThrow(/tcp/);
  });
});

describe('nftables: scripts and listing', () => {
  const fw = parseConfig({ firewall: { backend: 'nftables', ports: [80, 443] } }).firewall;
  const NOW = 1_800_000_000_000;

  it('setup creates table, interval+timeout sets and hooks without flushing sets', () => {
    const s = nftSetupScript(fw);
    expect(s).toContain('add set inet portcullis v4 { type ipv4_addr; flags timeout; }');
    expect(s).toContain('add set inet portcullis v6 { type ipv6_addr; flags timeout; }');
    expect(s).toContain('add set inet portcullis v4net { type ipv4_addr; flags interval, timeout; }');
    expect(s).toContain('add set inet portcullis v6net { type ipv6_addr; flags interval, timeout; }');
    expect(s).toContain('add rule inet portcullis input ip saddr @v4net tcp dport { 80, 443 } counter drop');
    expect(s).toContain('add chain inet portcullis input { type filter hook input priority filter - 10; policy accept; }');
    expect(s).toContain('add rule inet portcullis input ip saddr @v4 tcp dport { 80, 443 } counter drop');
    expect(s).toContain('delete chain inet portcullis forward');
    expect(s).not.toMatch(/flush (set|table|ruleset)/);
    const docker = nftSetupScript({ ...fw, docker: true, action: 'reject' });
    expect(docker).toContain('add rule inet portcullis forward ip6 saddr @v6 tcp dport { 80, 443 } counter reject');
  });

  it('a batch is one script: new bans are plain adds, live ones deleted and re-added (timeout refresh), unknown removals made to exist first', () => {
    const batch = {
      add: [
        { ip: '203.0.113.1', jail: 'j', until: NOW + 60_000 },
        { ip: '203.0.113.2', jail: 'j', until: -1 },
        { ip: '2001:db8::/64', jail: 'j', until: NOW + 1500 },
      ],
      remove: [{ ip: '198.51.100.1', jail: 'j', until: 0 }, { ip: '198.51.100.2', jail: 'j', until: 0 }],
    };
    expect(nftBatchScript('portcullis', batch, NOW, new Set(['203.0.113.2', '198.51.100.1']))).toBe(
      [
        'add element inet portcullis v4 { 198.51.100.2 }',
        'delete element inet portcullis v4 { 198.51.100.1, 198.51.100.2, 203.0.113.2 }',
        'add element inet portcullis v4 { 203.0.113.1 timeout 60000ms, 203.0.113.2 }',
        'add element inet portcullis v6net { 2001:db8::/64 timeout 1500ms }',
        '',
      ].join('\n'),
    );
    // without knowledge: everything made to exist, deleted, re-added
    expect(nftBatchScript('portcullis', { add: [batch.add[0]!], remove: [] }, NOW)).toBe(
      ['add element inet portcullis v4 { 203.0.113.1 }', 'delete element inet portcullis v4 { 203.0.113.1 }', 'add element inet portcullis v4 { 203.0.113.1 timeout 60000ms }', ''].join('\n'),
    );
  });

  it('reads elements back with their remaining time', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { set: { family: 'inet', name: 'v4', table: 'portcullis', elem: [{ elem: { val: { prefix: { addr: '10.0.0.0', len: 8 } }, timeout: 50, expires: 49 } }, '198.51.100.9'] } },
      ],
    });
    expect(parseNftSetJson(json, NOW)).toEqual([
      { ip: '10.0.0.0/8', jail: '', until: NOW + 49_000, current: true },
      { ip: '198.51.100.9', jail: '', until: -1, current: true },
    ]);
  });
});
