import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PortcullisConfig } from '@portcullis/core';
import {
  CommandNotFoundError,
  DryRunBackend,
  NftablesBackend,
  UfwBackend,
  type FirewallBatch,
  type Runner,
  type Sidecar,
  type SidecarOptions,
} from '@portcullis/sidecar';
import { redisServerAvailable, waitFor } from '@portcullis/testkit';
import { getJson, redisSidecarSuite, store, testConfig } from './harness.js';

const skip = redisServerAvailable() ? null : 'needs redis-server (apt-get install redis-server)';
if (skip) console.warn(`[skipped] sidecar Redis tests: ${skip}`);

/** dry-run, but the first `failures` applies throw (a failing firewall command) */
class FlakyBackend extends DryRunBackend {
  applies = 0;
  constructor(
    config: PortcullisConfig,
    public failures: number,
  ) {
    super(config.firewall);
  }
  override async apply(batch: FirewallBatch): Promise<void> {
    this.applies++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('ufw: simulated failure');
    }
    await super.apply(batch);
  }
}

describe.runIf(skip === null)('Sidecar against a real Redis (dry-run backend)', () => {
  const suite = redisSidecarSuite();
  const start = (config: PortcullisConfig, opts: SidecarOptions = {}) => suite.start(config, opts);
  const rules = (s: Sidecar) => (s.backend as DryRunBackend).rules;
  const pending = async (group: string) => ((await suite.r.xpending('{pct}:events', group)) as [number])[0];

  it('applies bans and unbans, acks them, and reports health and metrics', async () => {
    const config = testConfig(suite.server.url);
    const s = await start(config, { hostId: 'h1' });
    const bs = await store(config);
    await bs.ban('203.0.113.1', { duration: 60_000, jail: 'django-login' });
    await bs.ban('2001:db8::1', { duration: -1 });
    await waitFor('bans', () => rules(s).size === 2);
    expect(rules(s).get('203.0.113.1')).toMatchObject({ jail: 'django-login' });
    expect(rules(s).get('2001:db8::1')!.until).toBe(-1);
    await bs.unban('203.0.113.1');
    await waitFor('unban', () => !rules(s).has('203.0.113.1'));
    await waitFor('acked', async () => (await pending('h1')) === 0);
    const health = await getJson(s.healthPort, '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', backend: 'dry-run', hostId: 'h1', rules: 1 });
    const metrics = (await getJson(s.healthPort, '/metrics')).body as string;
    expect(metrics).toContain('portcullis_sidecar_events_applied_total{type="ban"} 2');
    expect(metrics).toContain('portcullis_sidecar_events_applied_total{type="unban"} 1');
    expect(metrics).toMatch(/portcullis_sidecar_apply_latency_seconds_count 3/);
    expect(metrics).toContain('portcullis_sidecar_pending_events');
    expect(metrics).toContain('portcullis_sidecar_reconcile_adds_total');
    expect(metrics).toContain('portcullis_sidecar_errors_total');
    await bs.close();
  });

  it('parks malformed events in {p}:events:dead, acks them, never runs a command for them, keeps running', async () => {
    const config = testConfig(suite.server.url, { firewall: { backend: 'ufw', ports: [443] } });
    const dir = mkdtempSync(join(tmpdir(), 'pc-ufw-'));
    const commands: string[][] = [];
    const run: Runner = async (cmd, args) => {
      commands.push([cmd, ...args]);
      return { stdout: cmd === 'ufw' && args[0] === 'status' ? 'Status: active\n' : '', stderr: '', exitCode: 0 };
    };
    try {
      const s = await start(config, { hostId: 'h-dead', backend: new UfwBackend({ firewall: config.firewall, run, rulesDir: dir }), run });
      const at = String(Date.now());
      const bad = [
        ['type', 'ban', 'ip', '1.2.3.4; rm -rf /', 'jail', 'x', 'until', '-1', 'at', at],
        ['type', 'ban', 'ip', '999.1.1.1', 'jail', 'x', 'until', '-1', 'at', at],
        ['type', 'ban', 'ip', '', 'jail', 'x', 'until', '-1', 'at', at],
        ['type', 'ban', 'ip', '$(touch /tmp/pwned)', 'jail', 'x', 'until', '-1', 'at', at],
        ['type', 'nuke', 'ip', '203.0.113.5', 'jail', 'x', 'at', at],
        ['type', 'ban', 'ip', '203.0.113.5', 'jail', 'x', 'at', at],
        ['type', 'ban', 'ip', '203.0.113.5', 'jail', '--force', 'until', '-1', 'at', at],
        // valid, but would lock everybody out (covers loopback): refused and parked
        ['type', 'ban', 'ip', '0.0.0.0/0', 'jail', 'x', 'until', '-1', 'at', at],
      ];
      const ids: string[] = [];
      for (const fields of bad) ids.push((await suite.r.xadd('{pct}:events', '*', ...fields))!);
      await suite.r.xadd('{pct}:events', '*', 'type', 'ban', 'ip', '203.0.113.6', 'jail', 'ok', 'until', '-1', 'at', at);
      await waitFor('valid ban after the bad ones', () => commands.some((c) => c.includes('203.0.113.6') && c.includes('prepend')));
      const dead = await suite.r.xrange('{pct}:events:dead', '-', '+');
      expect(dead.map(([, f]) => f[1])).toEqual(ids);
      expect(dead[0]![1]).toEqual(expect.arrayContaining(['error', 'bad ip "1.2.3.4; rm -rf /"', 'host', 'h-dead']));
      await waitFor('all acked', async () => (await pending('h-dead')) === 0);
      const flat = commands.flat().join(' ');
      for (const word of ['rm -rf', '999.1.1.1', 'pwned', '203.0.113.5', '--force', '0.0.0.0/0']) expect(flat).not.toContain(word);
      expect(dead[7]![1]).toEqual(
        expect.arrayContaining(['error', 'refused to ban 0.0.0.0/0: it covers 127.0.0.0/8: loopback is never banned']),
      );
      // argument arrays: the comment is one argument
      expect(commands.find((c) => c.includes('203.0.113.6'))).toEqual([
        'ufw',
        'prepend',
        'deny',
        'from',
        '203.0.113.6',
        'to',
        'any',
        'port',
        '443',
        'proto',
        'tcp',
        'comment',
        'portcullis ok until forever',
      ]);
      // the ss call ending connections is an argument array too
      await waitFor('ss -K', () => commands.some((c) => c[0] === 'ss'));
      expect(commands.find((c) => c[0] === 'ss')).toEqual(['ss', '-K', '-n', 'dst', '203.0.113.6']);
      expect((await getJson(s.healthPort, '/metrics')).body).toContain('portcullis_sidecar_malformed_events_total 8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing firewall is retried with backoff; the event stays pending until applied', async () => {
    const config = testConfig(suite.server.url);
    const backend = new FlakyBackend(config, 3);
    const s = await start(config, { hostId: 'h-flaky', backend });
    const bs = await store(config);
    await bs.ban('203.0.113.20', { duration: 60_000 });
    await waitFor('first failure', () => backend.applies >= 1);
    expect(await pending('h-flaky')).toBe(1);
    expect((await getJson(s.healthPort, '/healthz')).body.status).toBe('failing');
    await waitFor('applied after retries', () => backend.rules.has('203.0.113.20'), 10_000);
    expect(backend.applies).toBe(4);
    await waitFor('acked', async () => (await pending('h-flaky')) === 0);
    expect((await getJson(s.healthPort, '/healthz')).body.status).toBe('ok');
    await bs.close();
  });

  it('a missing firewall binary: a clear error in /healthz, retries, and the event waits until the firewall works', async () => {
    const config = testConfig(suite.server.url, { firewall: { backend: 'nftables' } });
    let installed = false;
    const scripts: string[] = [];
    const run: Runner = async (cmd, _args, opts) => {
      if (!installed) throw new CommandNotFoundError(cmd);
      if (opts?.input) scripts.push(opts.input);
      return { stdout: '{"nftables":[{"chain":{"hook":"input"}}]}', stderr: '', exitCode: 0 };
    };
    const s = await suite.start(
      config,
      {
        hostId: 'h-missing',
        backend: new NftablesBackend({ firewall: config.firewall, run }),
        run: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
      },
      false,
    );
    const bs = await store(config);
    await bs.ban('203.0.113.88', { duration: 60_000 });
    await waitFor(
      'failing health',
      async () => {
        const h = await getJson(s.healthPort, '/healthz');
        return h.status === 503 && h.body.problems.some((p: string) => /nft: command not found \(apt-get install nftables/.test(p));
      },
      5000,
    );
    installed = true;
    await s.ready;
    await waitFor('applied once nft works', () => scripts.some((x) => x.includes('203.0.113.88 timeout')), 40_000);
    await waitFor('acked', async () => (await pending('h-missing')) === 0);
    await bs.close();
  }, 60_000);

  it('on start: reclaims its pending entries (a crash between read and ack), then reconciles', async () => {
    const config = testConfig(suite.server.url);
    const bs = await store(config);
    await suite.r.xgroup('CREATE', '{pct}:events', 'h-crash', '$', 'MKSTREAM');
    for (let i = 1; i <= 5; i++) await bs.ban(`203.0.113.${i}`, { duration: 60_000 });
    // a previous life read them and died before XACK
    const read = await suite.r.xreadgroup('GROUP', 'h-crash', 'h-crash', 'COUNT', 100, 'STREAMS', '{pct}:events', '>');
    expect((read as any)[0][1]).toHaveLength(5);
    expect(await pending('h-crash')).toBe(5);
    // a ban in {p}:bans whose event is long gone (trimmed): reconcile adds it
    await suite.r.zadd('{pct}:bans', Date.now() + 60_000, '198.51.100.50');
    const s = await start(config, { hostId: 'h-crash' });
    expect(await pending('h-crash')).toBe(0);
    expect([...rules(s).keys()].sort()).toEqual([
      '198.51.100.50',
      '203.0.113.1',
      '203.0.113.2',
      '203.0.113.3',
      '203.0.113.4',
      '203.0.113.5',
    ]);
    await bs.close();
  });

  it('reclaims entries left pending by another consumer of the same group (XAUTOCLAIM)', async () => {
    const config = testConfig(suite.server.url, { sidecar: { claimIdle: '100ms' } });
    const bs = await store(config);
    await suite.r.xgroup('CREATE', '{pct}:events', 'h-claim', '$', 'MKSTREAM');
    await bs.ban('203.0.113.77', { duration: 60_000 });
    await suite.r.xreadgroup('GROUP', 'h-claim', 'old-consumer', 'COUNT', 10, 'STREAMS', '{pct}:events', '>');
    await new Promise((res) => setTimeout(res, 150));
    await start(config, { hostId: 'h-claim' });
    expect(await pending('h-claim')).toBe(0);
    await bs.close();
  });

  it('two sidecars with different host ids on the same stream both apply every ban', async () => {
    const config = testConfig(suite.server.url);
    const a = await start(config, { hostId: 'host-a' });
    const b = await start(config, { hostId: 'host-b' });
    const bs = await store(config);
    const ips = Array.from({ length: 50 }, (_, i) => `198.51.100.${i + 1}`);
    await Promise.all(ips.map((ip) => bs.ban(ip, { duration: 60_000 })));
    await waitFor('host a', () => rules(a).size === 50);
    await waitFor('host b', () => rules(b).size === 50);
    await bs.unban('198.51.100.1');
    await waitFor('unban on both', () => !rules(a).has('198.51.100.1') && !rules(b).has('198.51.100.1'));
    await bs.close();
  });

  it('Redis restarted under the sidecar: it reconnects, recreates its group, reconciles and keeps applying', async () => {
    const config = testConfig(suite.server.url);
    const s = await start(config, { hostId: 'h-restart' });
    const bs = await store(config);
    await bs.ban('203.0.113.31', { duration: 60_000 });
    await waitFor('before restart', () => rules(s).has('203.0.113.31'));
    await suite.server.kill();
    await new Promise((res) => setTimeout(res, 500));
    expect((await getJson(s.healthPort, '/healthz')).body.redis).not.toBe('ready');
    await suite.server.restart(); // empty: no persistence
    await waitFor('store reconnects', () => bs.redis.status === 'ready', 10_000);
    await waitFor(
      'ban after restart',
      async () => {
        await bs.ban('203.0.113.32', { duration: 60_000 });
        return rules(s).has('203.0.113.32');
      },
      20_000,
      500,
    );
    // Redis lost the old ban, but it looks wiped ({pct}:meta is gone): no rule is lifted for that
    expect((await s.reconcile()).removed).toBe(0);
    expect(rules(s).has('203.0.113.31')).toBe(true);
    // until an operator accepts this Redis as it is: then Redis is the truth again
    await suite.r.hset('{pct}:meta', 'accepted', String(Date.now()));
    expect((await s.reconcile()).removed).toBe(1);
    expect(rules(s).has('203.0.113.31')).toBe(false);
    expect(rules(s).has('203.0.113.32')).toBe(true);
    await bs.close();
  });

  it('removes a rule at its until (expiry wheel) and acks an already-expired ban without a rule', async () => {
    const config = testConfig(suite.server.url);
    const s = await start(config, { hostId: 'h-exp' });
    const bs = await store(config);
    await bs.ban('203.0.113.40', { duration: 1000 });
    await waitFor('ban', () => rules(s).has('203.0.113.40'));
    await waitFor('expired', () => !rules(s).has('203.0.113.40'), 5000);
    await suite.r.xadd(
      '{pct}:events',
      '*',
      'type',
      'ban',
      'ip',
      '203.0.113.41',
      'jail',
      'x',
      'until',
      String(Date.now() - 1000),
      'at',
      String(Date.now() - 2000),
    );
    await waitFor('acked', async () => (await pending('h-exp')) === 0);
    expect(rules(s).has('203.0.113.41')).toBe(false);
    expect((await getJson(s.healthPort, '/metrics')).body).toContain('portcullis_sidecar_expired_total 1');
    await bs.close();
  });

  it('periodic reconcile: removes a stale rule and adds a missing one, leaving the rest in place', async () => {
    const config = testConfig(suite.server.url, { sidecar: { reconcileInterval: '300ms' } });
    const backend = new DryRunBackend(config.firewall);
    backend.rules.set('198.51.100.200', { ip: '198.51.100.200', jail: 'x', until: -1 });
    backend.rules.set('198.51.100.201', { ip: '198.51.100.201', jail: 'x', until: -1 });
    await suite.r.zadd('{pct}:bans', '+inf', '198.51.100.201');
    const applied: FirewallBatch[] = [];
    const orig = backend.apply.bind(backend);
    backend.apply = async (b) => {
      applied.push(b);
      return orig(b);
    };
    const s = await start(config, { hostId: 'h-rec', backend });
    expect([...rules(s).keys()]).toEqual(['198.51.100.201']);
    expect(applied).toEqual([{ add: [], remove: [{ ip: '198.51.100.200', jail: 'x', until: -1, current: true }] }]);
    await suite.r.zadd('{pct}:bans', '+inf', '198.51.100.202');
    await suite.r.hset('{pct}:ban:198.51.100.202', 'jail', 'http-404');
    await waitFor('periodic reconcile', () => rules(s).has('198.51.100.202'), 5000);
    expect(rules(s).get('198.51.100.202')!.jail).toBe('http-404');
    expect(applied.flatMap((b) => b.remove)).toHaveLength(1); // nothing flushed and re-added
  });
});
