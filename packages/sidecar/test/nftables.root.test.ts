import { describe, expect, it } from 'vitest';
import { CLIENT_V4, CLIENT_V6, firewallSkipReason, OTHER_V4, OTHER_V6, TestNet, waitFor } from '@portcullis/testkit';
import { nsBackend, nsSidecar, useTestNet } from '@portcullis/testkit/fixtures';
import type { Sidecar } from '@portcullis/sidecar';
import { store, testConfig } from './harness.js';

const skip = firewallSkipReason('nft', 'ss');
if (skip) console.warn(`[skipped] sidecar nftables tests: ${skip}`);

const PORT = 8080;

interface Elem {
  ip: string;
  timeout?: number;
  expires?: number;
}

describe.runIf(skip === null)('nftables backend, real nft in a network namespace', () => {
  const fw = useTestNet({ port: PORT, redis: true });
  let sidecar: Sidecar | undefined;

  /** the kernel's view: `nft -j list ruleset` */
  function ruleset(): any[] {
    return (JSON.parse(fw.net.inServer(['nft', '-j', 'list', 'ruleset'])) as { nftables: any[] }).nftables;
  }
  function elements(set: string): Elem[] {
    const s = ruleset().find((o) => o.set?.table === 'portcullis' && o.set?.name === set)?.set;
    return (s?.elem ?? []).map((e: any) => {
      const v = e.elem ? e.elem.val : e;
      const ip = typeof v === 'string' ? (/p\d+$/.test(set) ? `${v}/${set.slice(3)}` : v) : `${v.prefix.addr}/${v.prefix.len}`;
      return { ip, timeout: e.elem?.timeout, expires: e.elem?.expires };
    });
  }
  const has = (set: string, ip: string) => elements(set).filter((e) => e.ip === ip).length === 1;

  it('creates its own table with timeout sets and an input hook', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'nft-a' });
    const rs = ruleset();
    expect(rs.some((o) => o.table?.family === 'inet' && o.table?.name === 'portcullis')).toBe(true);
    for (const name of ['v4', 'v6']) {
      const set = rs.find((o) => o.set?.name === name && o.set?.table === 'portcullis')?.set;
      expect(set.flags).toEqual(['timeout']);
    }
    const chain = rs.find((o) => o.chain?.table === 'portcullis' && o.chain?.name === 'input')?.chain;
    expect(chain.hook).toBe('input');
    expect(rs.some((o) => o.chain?.table === 'portcullis' && o.chain?.name === 'forward')).toBe(false);
  });

  it('ban → element in the set and the TCP connection fails; unban → it works (IPv4 and IPv6)', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'nft-b' });
    const s = await store(config);
    await s.ban(CLIENT_V4, { duration: 3_600_000 });
    await s.ban(CLIENT_V6, { duration: -1 });
    await waitFor('v4 element', () => has('v4', CLIENT_V4));
    await waitFor('v6 element', () => has('v6', CLIENT_V6));
    expect(elements('v6').find((e) => e.ip === CLIENT_V6)!.timeout).toBeUndefined(); // forever
    expect(elements('v4').find((e) => e.ip === CLIENT_V4)!.timeout).toBeGreaterThan(3500);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(false);
    expect(fw.net.canConnect(OTHER_V4, PORT)).toBe(true);
    expect(fw.net.canConnect(OTHER_V6, PORT)).toBe(true);
    await s.unban(CLIENT_V4);
    await s.unban(CLIENT_V6);
    await waitFor('v4 gone', () => !has('v4', CLIENT_V4));
    await waitFor('v6 gone', () => !has('v6', CLIENT_V6));
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(true);
    await s.close();
  });

  it("the kernel expires an element at until; a re-ban refreshes a live element's timeout", async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'nft-c' });
    const s = await store(config);
    await s.ban('198.51.100.30', { duration: 60_000 });
    await waitFor('element', () => has('v4', '198.51.100.30'));
    await s.ban('198.51.100.30', { duration: 7_200_000 });
    await waitFor('refreshed', () => (elements('v4').find((e) => e.ip === '198.51.100.30')?.timeout ?? 0) > 7000);
    expect(elements('v4').filter((e) => e.ip === '198.51.100.30')).toHaveLength(1);

    await s.ban(CLIENT_V4, { duration: 2000 });
    await waitFor('element', () => has('v4', CLIENT_V4));
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    await waitFor('kernel expiry', () => !has('v4', CLIENT_V4), 10_000);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(true);
    await s.unban('198.51.100.30');
    await s.close();
  });

  it('keeps CIDRs as ranges (a set per prefix length); nested ranges and addresses inside a range do not break a batch', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'nft-d' });
    const s = await store(config);
    await s.ban('198.51.100.0/24', { duration: 60_000 });
    await s.ban('2001:db8:77::/48', { duration: 60_000 });
    await waitFor('ranges', () => has('v4p24', '198.51.100.0/24') && has('v6p48', '2001:db8:77::/48'));
    await s.ban('198.51.100.7', { duration: 60_000 });
    await s.ban('198.51.100.128/25', { duration: 60_000 }); // inside the /24: its own element
    await s.ban('203.0.113.5', { duration: 60_000 });
    await waitFor('later bans applied', () => has('v4', '203.0.113.5') && has('v4', '198.51.100.7'));
    expect(has('v4p24', '198.51.100.0/24')).toBe(true);
    await waitFor('the /25 too', () => has('v4p25', '198.51.100.128/25'));
    expect(sidecar.healthReport().status).toBe('ok');
    for (const ip of ['198.51.100.0/24', '2001:db8:77::/48', '198.51.100.7', '198.51.100.128/25', '203.0.113.5']) await s.unban(ip);
    await waitFor('all gone', () => ['v4', 'v6', 'v4p24', 'v4p25', 'v6p48'].every((set) => elements(set).length === 0));
    await s.close();
  });

  it('cuts an established connection of the banned address', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'nft-e' });
    const held = fw.net.holdConnection(CLIENT_V4, PORT);
    await held.connected;
    const s = await store(config);
    await s.ban(CLIENT_V4, { duration: 60_000 });
    await waitFor('connection cut', held.isClosed, 10_000);
    await s.unban(CLIENT_V4);
    await waitFor('gone', () => !has('v4', CLIENT_V4));
    await s.close();
  });

  it('two hosts (two namespaces, two host ids) on one stream both hold every ban; Redis restarted under them', async () => {
    const other = TestNet.create();
    let second: Sidecar | undefined;
    try {
      const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
      sidecar = await fw.sidecar(config, { hostId: 'nft-host-1' });
      second = await nsSidecar(other, config, { hostId: 'nft-host-2' });
      const s = await store(config);
      const ips = Array.from({ length: 100 }, (_, i) => `203.0.113.${i + 1}`);
      await Promise.all(ips.map((ip) => s.ban(ip, { duration: 3_600_000 })));
      const count = (n: TestNet) =>
        (
          (JSON.parse(n.inServer(['nft', '-j', 'list', 'set', 'inet', 'portcullis', 'v4'])).nftables as any[]).find((o) => o.set)?.set
            .elem ?? []
        ).length;
      await waitFor('host 1', () => count(fw.net) === 100);
      await waitFor('host 2', () => count(other) === 100);
      await fw.redis.kill();
      await fw.redis.restart(); // empty (no persistence): the old bans are gone from Redis
      await waitFor('store back', () => s.redis.status === 'ready', 10_000);
      await waitFor(
        'both apply a ban made after the restart',
        async () => {
          await s.ban('198.51.100.99', { duration: 3_600_000 });
          const has = (n: TestNet) => n.inServer(['nft', 'list', 'set', 'inet', 'portcullis', 'v4']).includes('198.51.100.99');
          return has(fw.net) && has(other);
        },
        20_000,
        500,
      );
      // Redis looks wiped ({p}:meta is gone): the reconcile after the reconnect lifts nothing
      await sidecar.reconcile();
      await second.reconcile();
      expect([count(fw.net), count(other)]).toEqual([101, 101]);
      // an operator accepts this Redis: both firewalls match it again
      const r = fw.redis.client();
      await r.hset(`{${config.prefix}}:meta`, 'accepted', String(Date.now()));
      r.disconnect();
      await sidecar.reconcile();
      await second.reconcile();
      await waitFor('stale elements removed', () => count(fw.net) === 1 && count(other) === 1, 10_000);
      await s.unban('198.51.100.99');
      await waitFor('unbanned on both', () => count(fw.net) === 0 && count(other) === 0);
      await s.close();
    } finally {
      await second?.stop();
      other.destroy();
    }
  });

  it('a restart keeps the elements (no flush) and reconcile changes nothing; docker adds the forward hook', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT] } });
    sidecar = await fw.sidecar(config, { hostId: 'nft-f' });
    const s = await store(config);
    for (let i = 1; i <= 20; i++) await s.ban(`203.0.113.${i}`, { duration: 3_600_000 });
    await waitFor('20 elements', () => elements('v4').length === 20);
    await sidecar.stop();
    const docker = testConfig(fw.redis.url, { firewall: { backend: 'nftables', ports: [PORT], docker: true } });
    sidecar = await fw.sidecar(docker, { hostId: 'nft-f' });
    expect(elements('v4')).toHaveLength(20);
    expect(await sidecar.reconcile()).toEqual({ added: 0, removed: 0 });
    const fwd = ruleset().find((o) => o.chain?.table === 'portcullis' && o.chain?.name === 'forward')?.chain;
    expect(fwd?.hook).toBe('forward');
    for (let i = 1; i <= 20; i++) await s.unban(`203.0.113.${i}`);
    await waitFor('empty', () => elements('v4').length === 0);
    await s.close();
  });

  it('an older table (ranges in interval sets v4net/v6net) is moved to the per-length sets at start (one transaction), timeouts kept', async () => {
    const t = 'inet portcullis';
    fw.net.inServer(
      ['nft', '-f', '-'],
      [
        `add table ${t}`,
        `delete table ${t}`,
        `add table ${t}`,
        `add set ${t} v4 { type ipv4_addr; flags timeout; }`,
        `add set ${t} v6 { type ipv6_addr; flags timeout; }`,
        `add set ${t} v4net { type ipv4_addr; flags interval, timeout; }`,
        `add set ${t} v6net { type ipv6_addr; flags interval, timeout; }`,
        `add chain ${t} input { type filter hook input priority filter - 10; policy accept; }`,
        `add rule ${t} input ip saddr @v4net tcp dport { ${PORT} } counter drop`,
        `add element ${t} v4net { 192.0.2.0/30 timeout 2h }`,
        `add element ${t} v6net { 2001:db8:5c::/120 }`,
        '',
      ].join('\n'),
    );
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    const backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT] });
    const names = ruleset()
      .filter((o) => o.set?.table === 'portcullis')
      .map((o) => o.set.name)
      .sort();
    expect(names).toEqual(['v4', 'v4p30', 'v6', 'v6p120']);
    const owned = await backend.listOwned();
    expect(owned.map((o) => o.ip).sort()).toEqual(['192.0.2.0/30', '2001:db8:5c::/120']);
    expect(owned.find((o) => o.ip === '192.0.2.0/30')!.until).toBeGreaterThan(Date.now() + 7_000_000);
    expect(owned.find((o) => o.ip === '2001:db8:5c::/120')!.until).toBe(-1);
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(false);
    expect((await backend.check()).intact).toBe(true);
    fw.net.inServer(['nft', 'delete', 'table', 'inet', 'portcullis']);
  });
});
