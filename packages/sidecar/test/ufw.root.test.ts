import { describe, expect, it } from 'vitest';
import { CLIENT_V4, CLIENT_V6, firewallSkipReason, OTHER_V4, OTHER_V6, waitFor } from '@portcullis/testkit';
import type { Sidecar } from '@portcullis/sidecar';
import { getJson, store, testConfig } from './harness.js';
import { useTestNet } from '@portcullis/testkit/fixtures';

const skip = firewallSkipReason('ufw', 'iptables', 'ip6tables', 'ss');
if (skip) console.warn(`[skipped] sidecar ufw tests: ${skip}`);

const PORT = 8080;

describe.runIf(skip === null)('ufw backend, real ufw in a network namespace', () => {
  const fw = useTestNet({ port: PORT, redis: true, ufw: true });
  let sidecar: Sidecar | undefined;

  const iptables = () => fw.net.inServer(['iptables', '-S', 'ufw-user-input']);
  const ip6tables = () => fw.net.inServer(['ip6tables', '-S', 'ufw6-user-input']);
  const count = (text: string, ip: string) => text.split('\n').filter((l) => l.includes(`-s ${ip}`)).length;

  it('ban → DROP rule in the kernel and the TCP connection fails; unban → it works again (IPv4 and IPv6)', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'ufw-a' });
    const s = await store(config);
    await s.ban(CLIENT_V4, { duration: 3_600_000, reason: 'test' });
    await s.ban(CLIENT_V6, { duration: 3_600_000, reason: 'test' });
    await waitFor('v4 rule', () => count(iptables(), `${CLIENT_V4}/32`) === 1);
    await waitFor('v6 rule', () => count(ip6tables(), `${CLIENT_V6}/128`) === 1);
    expect(iptables()).toContain(
      `-A ufw-user-input -s ${CLIENT_V4}/32 -p tcp -m multiport --dports ${PORT} -j DROP`.replace(
        '-m multiport --dports',
        '-m tcp --dport',
      ),
    );
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(false);
    expect(fw.net.canConnect(OTHER_V4, PORT)).toBe(true);
    expect(fw.net.canConnect(OTHER_V6, PORT)).toBe(true);
    const added = fw.net.inServer(['ufw', 'show', 'added']);
    expect(added).toMatch(
      new RegExp(`ufw deny from ${CLIENT_V4.replace(/\./g, '\\.')} to any port ${PORT} proto tcp comment 'portcullis manual until 20`),
    );

    await s.unban(CLIENT_V4);
    await s.unban(CLIENT_V6);
    await waitFor('v4 rule gone', () => count(iptables(), `${CLIENT_V4}/32`) === 0);
    await waitFor('v6 rule gone', () => count(ip6tables(), `${CLIENT_V6}/128`) === 0);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(true);
    await s.close();
  });

  it("removes the rule at the ban's until (expiry)", async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'ufw-b' });
    const s = await store(config);
    await s.ban(CLIENT_V4, { duration: 2500 });
    await waitFor('rule', () => count(iptables(), `${CLIENT_V4}/32`) === 1);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    await waitFor('rule expired', () => count(iptables(), `${CLIENT_V4}/32`) === 0, 10_000);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    await s.close();
  });

  it('cuts an established connection of the banned address', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'ufw-c' });
    const held = fw.net.holdConnection(CLIENT_V4, PORT);
    await held.connected;
    await new Promise((r) => setTimeout(r, 300));
    expect(held.isClosed()).toBe(false);
    const s = await store(config);
    await s.ban(CLIENT_V4, { duration: 60_000 });
    await waitFor('connection cut', held.isClosed, 10_000);
    await s.unban(CLIENT_V4);
    await waitFor('rule gone', () => count(iptables(), `${CLIENT_V4}/32`) === 0);
    await s.close();
  });

  it('reconcile: adds missing, removes stale and expired, leaves foreign rules, never adds a rule twice', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] } });
    const r = fw.redis.client();
    const s = await store(config);
    // state written while no sidecar ran: a ban in Redis without a rule, a rule without a ban
    await r.zadd('{pct}:bans', Date.now() + 3_600_000, '198.51.100.10');
    await r.hset('{pct}:ban:198.51.100.10', 'jail', 'django-login', 'until', String(Date.now() + 3_600_000));
    fw.net.inServer([
      'ufw',
      'prepend',
      'deny',
      'from',
      '198.51.100.11',
      'to',
      'any',
      'port',
      String(PORT),
      'proto',
      'tcp',
      'comment',
      'portcullis manual until forever',
    ]);
    fw.net.inServer([
      'ufw',
      'prepend',
      'deny',
      'from',
      '198.51.100.12',
      'to',
      'any',
      'port',
      String(PORT),
      'proto',
      'tcp',
      'comment',
      `portcullis manual until ${new Date(Date.now() - 1000).toISOString()}`,
    ]);
    fw.net.inServer(['ufw', 'prepend', 'deny', 'from', '198.51.100.13', 'comment', 'somebody else']);
    sidecar = await fw.sidecar(config, { hostId: 'ufw-d' });
    const rules = iptables();
    expect(count(rules, '198.51.100.10/32')).toBe(1);
    expect(count(rules, '198.51.100.11/32')).toBe(0);
    expect(count(rules, '198.51.100.12/32')).toBe(0);
    expect(count(rules, '198.51.100.13/32')).toBe(1);
    expect(fw.net.inServer(['ufw', 'show', 'added'])).toContain(`'portcullis django-login until `);
    // a restart and a second reconcile change nothing
    await sidecar.stop();
    sidecar = await fw.sidecar(config, { hostId: 'ufw-d' });
    expect(await sidecar.reconcile()).toEqual({ added: 0, removed: 0 });
    expect(iptables()).toBe(rules);
    // a ban event for an address that already has its rule adds nothing
    await s.ban('198.51.100.10', { duration: 3_600_000 });
    await waitFor('applied', async () =>
      (await getJson(sidecar!.healthPort, '/metrics')).body.includes('portcullis_sidecar_events_applied_total{type="ban"} 1'),
    );
    expect(count(iptables(), '198.51.100.10/32')).toBe(1);
    await s.unban('198.51.100.10');
    await waitFor('gone', () => count(iptables(), '198.51.100.10/32') === 0);
    fw.net.inServer(['ufw', 'delete', 'deny', 'from', '198.51.100.13']);
    r.disconnect();
    await s.close();
  });

  it('docker: true also adds the ufw route rule (FORWARD)', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT], docker: true } });
    sidecar = await fw.sidecar(config, { hostId: 'ufw-e' });
    const s = await store(config);
    await s.ban('198.51.100.20', { duration: 60_000 });
    await waitFor('route rule', () => fw.net.inServer(['iptables', '-S', 'ufw-user-forward']).includes('-s 198.51.100.20/32'));
    expect(count(iptables(), '198.51.100.20/32')).toBe(1);
    await s.unban('198.51.100.20');
    await waitFor('input rule gone', () => count(iptables(), '198.51.100.20/32') === 0);
    await waitFor('route rule gone', () => !fw.net.inServer(['iptables', '-S', 'ufw-user-forward']).includes('-s 198.51.100.20/32'));
    await s.close();
  });

  it('ufw inactive: /healthz says bans are not enforced', async () => {
    fw.net.inServer(['ufw', '--force', 'disable']);
    try {
      const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] } });
      sidecar = await fw.sidecar(config, { hostId: 'ufw-f' });
      const h = await getJson(sidecar.healthPort, '/healthz');
      expect(h.status).toBe(503);
      expect(h.body.enforcing).toBe(false);
      expect(h.body.firewall).toMatch(/ufw is INACTIVE/);
      expect((await getJson(sidecar.healthPort, '/metrics')).body).toContain('portcullis_sidecar_enforcing 0');
    } finally {
      fw.net.enableUfw(PORT);
    }
  });
});
