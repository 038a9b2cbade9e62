import { describe, expect, it } from 'vitest';
import type { PortcullisConfig, PortcullisConfigInput } from '@portcullis/core';
import {
  DryRunBackend,
  HostIdInUseError,
  type FirewallBackend,
  type FirewallBatch,
  type FirewallHealth,
  type OwnedRule,
  type Sidecar,
  type SidecarOptions,
} from '@portcullis/sidecar';
import { redisServerAvailable, waitFor } from '@portcullis/testkit';
import { getJson, redisSidecarSuite, store, testConfig } from './harness.js';

const skip = redisServerAvailable() ? null : 'needs redis-server (apt-get install redis-server)';
if (skip) console.warn(`[skipped] sidecar fault tests: ${skip}`);

/** a dry-run "kernel" that can lose every rule (a flush under the sidecar); restore() may fail a few times first */
class LosableBackend implements FirewallBackend {
  readonly name = 'dry-run' as const;
  readonly expiresItself = false;
  lost = false;
  restoreFailures = 0;
  restores = 0;
  private readonly inner: DryRunBackend;
  constructor(config: PortcullisConfig) {
    this.inner = new DryRunBackend(config.firewall);
  }
  get rules() {
    return this.inner.rules;
  }
  flush(): void {
    this.inner.rules.clear();
    this.lost = true;
  }
  init = () => this.inner.init();
  listOwned = () => this.inner.listOwned();
  describe = (batch: FirewallBatch) => this.inner.describe(batch);
  apply = (batch: FirewallBatch) => this.inner.apply(batch);
  async check(): Promise<FirewallHealth> {
    return { ...(await this.inner.check()), intact: !this.lost };
  }
  async restore(owned: ReadonlyMap<string, OwnedRule>): Promise<void> {
    this.restores++;
    if (this.restoreFailures > 0) {
      this.restoreFailures--;
      throw new Error('nft: table rebuild failed');
    }
    for (const o of owned.values()) this.inner.rules.set(o.ip, { ip: o.ip, jail: o.jail, until: o.until });
    this.lost = false;
  }
}

describe.runIf(skip === null)('sidecar under faults (real redis-server)', () => {
  const suite = redisSidecarSuite();

  const start = (input: PortcullisConfigInput, opts: SidecarOptions, waitReady = true) =>
    suite.start(testConfig(suite.server.url, input), opts, waitReady);
  const health = (s: Sidecar) => getJson(s.healthPort, '/healthz');

  it('a firewall that lost our rules while running is restored within a few checks, and /healthz fails until it is', async () => {
    const config = testConfig(suite.server.url, { sidecar: { checkInterval: '200ms' } });
    const backend = new LosableBackend(config);
    const s = await start({ sidecar: { checkInterval: '200ms' } }, { hostId: 'h-flush', backend });
    const bs = await store(config);
    const ips = ['203.0.113.1', '203.0.113.2', '2001:db8::7'];
    for (const ip of ips) await bs.ban(ip, { duration: 600_000 });
    await waitFor('bans', () => ips.every((ip) => backend.rules.has(ip)));
    expect((await health(s)).status).toBe(200);
    backend.restoreFailures = 2;
    backend.flush();
    // a ban Redis knows but the sidecar never saw (its event trimmed): the reconcile after the restore adds it
    await suite.r.zadd('{pct}:bans', Date.now() + 600_000, '198.51.100.9');
    await waitFor('health fails while the firewall is lost', async () => {
      const h = await health(s);
      return h.status === 503 && h.body.intact === false && h.body.problems.some((p: string) => /firewall lost our rules/.test(p));
    });
    await waitFor('restored', () => [...ips, '198.51.100.9'].every((ip) => backend.rules.has(ip)), 10_000);
    expect(backend.restores).toBeGreaterThanOrEqual(3);
    await waitFor('healthy again', async () => (await health(s)).status === 200);
    const metrics = (await getJson(s.healthPort, '/metrics')).body as string;
    expect(metrics).toContain('portcullis_sidecar_firewall_restores_total 1');
    expect(metrics).toContain('portcullis_sidecar_firewall_intact 1');
    await bs.close();
  });

  it('Redis restarted empty: a ban written right after the restart is applied by the stream or the reconnect reconcile, not the periodic one (1 h)', async () => {
    const config = testConfig(suite.server.url);
    const backend = new DryRunBackend(config.firewall);
    await start({}, { hostId: 'h-order', backend });
    const bs = await store(config);
    await bs.ban('203.0.113.50', { duration: 600_000 });
    await waitFor('before restart', () => backend.rules.has('203.0.113.50'));
    for (let round = 0; round < 3; round++) {
      await suite.server.kill();
      await suite.server.restart(); // empty: no persistence
      // the first write the store can make after the restart, whatever the sidecar is doing
      const ip = `198.51.100.${60 + round}`;
      await waitFor('store reconnects', () => bs.redis.status === 'ready', 10_000, 5);
      const written = async () => {
        await bs.ban(ip, { duration: 600_000 });
        return true;
      };
      await waitFor('ban written', written, 10_000, 5);
      await waitFor(`${ip} applied after restart ${round + 1}`, () => backend.rules.has(ip), 15_000);
    }
    await bs.close();
  }, 90_000);

  it('/healthz fails within a few seconds of Redis hanging (SIGSTOP) and is ok again after SIGCONT', async () => {
    const s = await start({ sidecar: { unhealthyAfter: '1500ms' } }, { hostId: 'h-hang' });
    await waitFor('healthy', async () => (await health(s)).status === 200);
    suite.server.signal('SIGSTOP');
    try {
      await waitFor('unhealthy while Redis hangs', async () => {
        const h = await health(s);
        return h.status === 503 && h.body.problems.some((p: string) => /no reply from Redis/.test(p));
      });
      const metrics = (await getJson(s.healthPort, '/metrics')).body as string;
      expect(metrics).toContain('portcullis_sidecar_healthy 0');
    } finally {
      suite.server.signal('SIGCONT');
    }
    await waitFor('healthy after SIGCONT', async () => (await health(s)).status === 200);
    expect((await getJson(s.healthPort, '/metrics')).body).toContain('portcullis_sidecar_healthy 1');
  });

  it('an event loop stuck on Redis errors (the stream key holds a string) is not ok; fixed, ok again', async () => {
    const s = await start({ sidecar: { unhealthyAfter: '1s' } }, { hostId: 'h-loop' });
    await waitFor('healthy', async () => (await health(s)).status === 200);
    await suite.r.del('{pct}:events');
    await suite.r.set('{pct}:events', 'not a stream');
    await waitFor('failing while every read fails', async () => {
      const h = await health(s);
      return h.status === 503 && h.body.problems.some((p: string) => /no reply from Redis to the stream reads .*WRONGTYPE/.test(p));
    });
    await suite.r.del('{pct}:events');
    await waitFor('healthy again (group recreated)', async () => (await health(s)).status === 200);
    const bs = await store(testConfig(suite.server.url));
    await bs.ban('203.0.113.79', { duration: 600_000 });
    await waitFor('applies again', () => (s.backend as DryRunBackend).rules.has('203.0.113.79'));
    await bs.close();
  });

  it('a second live sidecar with the same host id refuses to start; the first goes on; a graceful stop releases the lock', async () => {
    const input = { sidecar: { lockTtl: '600ms' } };
    const first = await start(input, { hostId: 'h-twice' });
    const second = await start(input, { hostId: 'h-twice' }, false);
    await expect(second.ready).rejects.toThrow(HostIdInUseError);
    await expect(second.ready).rejects.toThrow(
      /another sidecar is running with host id "h-twice" \(pid \d+ on .*\): every host needs its own sidecar.hostId/,
    );
    const bs = await store(testConfig(suite.server.url));
    await bs.ban('203.0.113.77', { duration: 600_000 });
    await waitFor('the first still applies', () => (first.backend as DryRunBackend).rules.has('203.0.113.77'));
    expect((second.backend as DryRunBackend).rules.size).toBe(0);
    expect((await health(first)).status).toBe(200);
    expect(await suite.r.pttl('{pct}:sidecar:h-twice:lock')).toBeGreaterThan(0);
    await first.stop();
    expect(await suite.r.exists('{pct}:sidecar:h-twice:lock')).toBe(0);
    await bs.close();
  });

  it('Redis down at start: the sidecar waits for it, takes its lock and becomes ready once Redis is back', async () => {
    await suite.server.kill();
    const s = await start({}, { hostId: 'h-late' }, false);
    try {
      await waitFor('not ok while Redis is down', async () => {
        const h = await health(s);
        return h.status === 503 && h.body.problems.some((p: string) => /redis (connecting|reconnecting|connect)/.test(p));
      });
    } finally {
      await suite.server.restart();
    }
    await s.ready;
    expect(await suite.r.exists('{pct}:sidecar:h-late:lock')).toBe(1);
    await waitFor('healthy', async () => (await health(s)).status === 200);
  });

  it('the lock of a crashed sidecar (no longer renewed) passes on after its TTL', async () => {
    await suite.r.set('{pct}:sidecar:h-crashed:lock', JSON.stringify({ token: 'dead', pid: 1, host: 'gone', since: 'then' }), 'PX', 1500);
    const s = await start({ sidecar: { lockTtl: '1500ms' } }, { hostId: 'h-crashed' });
    expect(JSON.parse((await suite.r.get('{pct}:sidecar:h-crashed:lock'))!).pid).toBe(process.pid);
    expect((await health(s)).status).toBe(200);
  });
});
