import { describe, expect, it } from 'vitest';
import { CLIENT_V4, CLIENT_V6, firewallSkipReason, OTHER_V4, waitFor } from '@portcullis/testkit';
import type { Sidecar } from '@portcullis/sidecar';
import { getJson, store, testConfig } from './harness.js';
import { useTestNet } from '@portcullis/testkit/fixtures';

const skip = firewallSkipReason('nft', 'ufw', 'iptables', 'ss');
if (skip) console.warn(`[skipped] sidecar firewall-watch tests: ${skip}`);

const PORT = 8080;

describe.runIf(skip === null)('the firewall is watched while the sidecar runs (real nft / ufw in a network namespace)', () => {
  const fw = useTestNet({ port: PORT, redis: true });
  let sidecar: Sidecar | undefined;

  const healthz = () => getJson(sidecar!.healthPort, '/healthz');
  /** the kernel's view, read through the backend (whatever its set layout) */
  const kernelHas = async (...ips: string[]) => {
    try {
      const owned = new Set((await sidecar!.backend.listOwned()).map((o) => o.ip));
      return ips.every((ip) => owned.has(ip));
    } catch {
      return false; // the table is gone
    }
  };

  it('nftables: `nft flush ruleset` under a running sidecar: the table comes back with every ban, packets are dropped again', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] }, sidecar: { checkInterval: '500ms' } });
    sidecar = await fw.sidecar(config, { hostId: 'watch-nft' });
    const s = await store(config);
    await s.ban(CLIENT_V4, { duration: 3_600_000 });
    await s.ban(CLIENT_V6, { duration: -1 });
    await s.ban('198.51.100.0/24', { duration: 3_600_000 });
    await waitFor('bans in the kernel', () => kernelHas(CLIENT_V4, CLIENT_V6, '198.51.100.0/24'));
    await waitFor('blocked', () => !fw.net.canConnect(CLIENT_V4, PORT));
    fw.net.inServer(['nft', 'flush', 'ruleset']); // what `systemctl restart nftables` does
    await waitFor('restored', async () =>
      /portcullis_sidecar_firewall_restores_total [1-9]/.test((await getJson(sidecar!.healthPort, '/metrics')).body),
    );
    await waitFor('table rebuilt with every ban', () => kernelHas(CLIENT_V4, CLIENT_V6, '198.51.100.0/24'), 20_000);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(false);
    expect(fw.net.canConnect(OTHER_V4, PORT)).toBe(true);
    // a ban after the restore is applied as usual
    await s.ban(OTHER_V4, { duration: 3_600_000 });
    await waitFor('new ban', () => kernelHas(OTHER_V4));
    await waitFor('healthy', async () => (await healthz()).status === 200);
    await s.unbanAll();
    await s.close();
  }, 60_000);

  it('ufw: `ufw disable` under a running sidecar fails /healthz within a few checks; enabled again, ok', async () => {
    fw.net.enableUfw(PORT);
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] }, sidecar: { checkInterval: '500ms' } });
    sidecar = await fw.sidecar(config, { hostId: 'watch-ufw' });
    await waitFor('healthy', async () => (await healthz()).status === 200);
    fw.net.inServer(['ufw', '--force', 'disable']);
    try {
      await waitFor('not enforcing', async () => {
        const h = await healthz();
        return h.status === 503 && h.body.enforcing === false && /ufw is INACTIVE/.test(h.body.firewall);
      });
    } finally {
      fw.net.enableUfw(PORT);
    }
    await waitFor('healthy again', async () => (await healthz()).status === 200);
  }, 60_000);
});
