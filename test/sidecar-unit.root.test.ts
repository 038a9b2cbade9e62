import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_V4, firewallSkipReason, hasCommand, OTHER_V4 } from '@portcullis/testkit';
import { useTestNet } from '@portcullis/testkit/fixtures';

// deploy/portcullis-sidecar.service gives the sidecar root with only the
// capabilities of its CapabilityBoundingSet and no new privileges. The
// firewall commands the sidecar runs must work with exactly that, in a
// network namespace of the test's own (setpriv applies the same limits).
const unit = readFileSync('deploy/portcullis-sidecar.service', 'utf8');
const boundingSet = /^CapabilityBoundingSet=(.+)$/m.exec(unit)![1]!.split(/\s+/);
const skip = firewallSkipReason('ufw', 'nft', 'ss', 'setpriv');
const PORT = 8080;

describe.runIf(skip === null)(
  skip
    ? `the unit's capabilities (skipped: ${skip})`
    : `the unit's capabilities (${boundingSet.join(' ')}) suffice for every firewall command`,
  () => {
    const fw = useTestNet({ port: PORT, ufw: true });
    /** runs a command in the namespace as the unit would: uid 0, only the unit's capabilities, no new privileges */
    const asUnit = (cmd: string[], caps = boundingSet, input?: string) => {
      const bounding = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
      return fw.net.inServer(['setpriv', `--bounding-set=${bounding}`, '--inh-caps=-all', '--no-new-privs', '--', ...cmd], input);
    };

    it('is exactly CAP_NET_ADMIN and CAP_NET_RAW', () => {
      expect(boundingSet).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    });

    it('without them ufw cannot change the firewall (the limits are real)', () => {
      expect(() => asUnit(['ufw', 'prepend', 'deny', 'from', CLIENT_V4, 'to', 'any', 'port', String(PORT), 'proto', 'tcp'], [])).toThrow();
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    });

    it('ufw prepend / delete with a comment: the client is blocked, then let through', () => {
      const rule = ['deny', 'from', CLIENT_V4, 'to', 'any', 'port', String(PORT), 'proto', 'tcp'];
      asUnit(['ufw', 'prepend', ...rule, 'comment', 'portcullis test']);
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
      expect(fw.net.canConnect(OTHER_V4, PORT)).toBe(true);
      asUnit(['ufw', 'delete', ...rule]);
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    });

    it('nft -f - (a table, a timeout set, an element) and ss -K', () => {
      const script = [
        'table inet pcunit {',
        '  set v4 { type ipv4_addr; flags timeout; }',
        '  chain input { type filter hook input priority -10; ip saddr @v4 drop; }',
        '}',
        `add element inet pcunit v4 { ${CLIENT_V4} timeout 1h }`,
        '',
      ].join('\n');
      asUnit(['nft', '-f', '-'], boundingSet, script);
      expect(asUnit(['nft', 'list', 'set', 'inet', 'pcunit', 'v4'])).toContain(CLIENT_V4);
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
      asUnit(['ss', '-K', '-n', 'dst', CLIENT_V4]);
      asUnit(['nft', 'delete', 'table', 'inet', 'pcunit']);
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    });

    it.runIf(hasCommand('conntrack'))('conntrack -D (ends tracked connections of a banned address)', () => {
      // a connection leaves a tracked flow (ufw's rules use conntrack)
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
      const del = ['conntrack', '-D', '-f', 'ipv4', '-s', CLIENT_V4];
      expect(() => asUnit(del, [])).toThrow(/CAP_NET_ADMIN/);
      expect(asUnit(['sh', '-c', '"$@" 2>&1', 'sh', ...del])).toMatch(/[1-9]\d* flow entr(y|ies) ha(s|ve) been deleted/);
    });
  },
);
