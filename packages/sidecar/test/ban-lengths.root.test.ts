import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_V4, CLIENT_V6, firewallSkipReason, OTHER_V4, waitFor } from '@portcullis/testkit';
import { nsBackend, useTestNet } from '@portcullis/testkit/fixtures';
import { FirewallError, type Ban, type FirewallBackend } from '@portcullis/sidecar';
import { MAX_DURATION_MS } from '../src/backends/ban-length.js';
import { parseUfwUserRules } from '../src/backends/ufw.js';

const skip = firewallSkipReason('nft', 'ufw', 'iptables', 'ip6tables');
if (skip) console.warn(`[skipped] ban length tests: ${skip}`);

const PORT = 8080;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 1 h, 2 d, 1 w, 1 y, 10 y (the longest), forever */
const LENGTHS: Array<[string, number]> = [
  ['1h', HOUR],
  ['2d', 2 * DAY],
  ['1w', 7 * DAY],
  ['1y', 365 * DAY],
  ['10y', MAX_DURATION_MS],
  ['forever', -1],
];

function bans(now: number): Ban[] {
  return LENGTHS.map(([jail, ms], i) => ({ ip: `198.51.100.${i + 1}`, jail: `j${jail}`, until: ms === -1 ? -1 : now + ms }));
}

async function refused(backend: FirewallBackend, until: number): Promise<FirewallError> {
  const err = await backend.apply({ add: [{ ip: '198.51.100.99', jail: 'j', until }], remove: [] }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FirewallError);
  return err as FirewallError;
}

describe.runIf(skip === null)('ban lengths from 1 hour to forever reach the kernel', () => {
  const fw = useTestNet({ port: PORT });

  it('nftables: every length is an element with its timeout; an absurd until is refused (non-transient) and the next batch lands', async () => {
    const backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT] });
    const now = Date.now();
    await backend.apply({
      add: [...bans(now), { ip: CLIENT_V4, jail: 'j', until: now + 7 * DAY }, { ip: CLIENT_V6, jail: 'j', until: now + 365 * DAY }],
      remove: [],
    });
    const set = (JSON.parse(fw.net.inServer(['nft', '-j', 'list', 'set', 'inet', 'portcullis', 'v4'])).nftables as any[]).find(
      (o) => o.set,
    )!.set;
    const timeouts = new Map<string, number | undefined>(
      (set.elem as any[]).map((e) => (typeof e === 'string' ? [e, undefined] : [e.elem.val, e.elem.timeout])),
    );
    LENGTHS.forEach(([name, ms], i) => {
      const t = timeouts.get(`198.51.100.${i + 1}`);
      if (ms === -1) expect(timeouts.has(`198.51.100.${i + 1}`) && t === undefined, name).toBe(true);
      else expect(Math.abs(t! - ms / 1000), `${name}: kernel timeout ${t} s`).toBeLessThan(60);
    });
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(false);
    await waitFor('others connect', () => fw.net.canConnect(OTHER_V4, PORT));
    // listOwned reads the same lengths back (nft reports whole seconds)
    const owned = new Map((await backend.listOwned()).map((o) => [o.ip, o.until]));
    for (const b of bans(now))
      expect(b.until === -1 ? owned.get(b.ip) === -1 : Math.abs(owned.get(b.ip)! - b.until) < 60_000, b.ip).toBe(true);

    for (const until of [1e16, Date.now() + 2 * MAX_DURATION_MS]) {
      const err = await refused(backend, until);
      expect(err.transient).toBe(false);
      expect(err.message).toContain(String(until));
    }
    await backend.apply({ add: [{ ip: '198.51.100.50', jail: 'j', until: Date.now() + DAY }], remove: [] });
    expect(fw.net.inServer(['nft', 'list', 'set', 'inet', 'portcullis', 'v4'])).toContain('198.51.100.50');
    expect(fw.net.inServer(['nft', 'list', 'set', 'inet', 'portcullis', 'v4'])).not.toContain('198.51.100.99');
    fw.net.inServer(['nft', 'delete', 'table', 'inet', 'portcullis']);
  });

  it('ufw: every length is a rule whose comment carries its until; an absurd until is refused (non-transient) and the next batch lands', async () => {
    fw.net.enableUfw(PORT);
    try {
      const backend = await nsBackend(fw.net, { backend: 'ufw', ports: [PORT] });
      const now = Date.now();
      await backend.apply({ add: [...bans(now), { ip: CLIENT_V4, jail: 'j', until: now + 7 * DAY }], remove: [] });
      const rules = parseUfwUserRules(readFileSync(join(fw.net.etcUfw, 'user.rules'), 'utf8'));
      for (const b of bans(now)) {
        const r = rules.find((x) => x.ip === b.ip);
        expect(r?.until, b.jail).toBe(b.until);
        expect(r?.jail).toBe(b.jail);
      }
      const kernel = fw.net.inServer(['iptables', '-S', 'ufw-user-input']);
      for (const b of bans(now)) expect(kernel).toContain(`-s ${b.ip}/32`);
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
      await waitFor('others connect', () => fw.net.canConnect(OTHER_V4, PORT));

      const err = await refused(backend, 1e16);
      expect(err.transient).toBe(false);
      expect(err.message).toContain(String(1e16));
      await backend.apply({ add: [{ ip: '198.51.100.50', jail: 'j', until: Date.now() + DAY }], remove: [] });
      expect(fw.net.inServer(['iptables', '-S', 'ufw-user-input'])).toContain('-s 198.51.100.50/32');
      expect(fw.net.inServer(['iptables', '-S', 'ufw-user-input'])).not.toContain('198.51.100.99');
    } finally {
      fw.net.inServer(['ufw', '--force', 'reset']);
    }
  });
});
