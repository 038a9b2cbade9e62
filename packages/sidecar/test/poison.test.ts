import { describe, expect, it } from 'vitest';
import type { PortcullisConfig, PortcullisConfigInput } from '@portcullis/core';
import {
  CommandFailedError,
  DryRunBackend,
  FirewallError,
  NftablesBackend,
  type FirewallBatch,
  type Runner,
  type SidecarOptions,
} from '@portcullis/sidecar';
import { redisServerAvailable, waitFor } from '@portcullis/testkit';
import { getJson, redisSidecarSuite, testConfig } from './harness.js';

const skip = redisServerAvailable() ? null : 'needs redis-server (apt-get install redis-server)';
if (skip) console.warn(`[skipped] sidecar poison-event tests: ${skip}`);

/** dry-run whose apply fails for the addresses `failFor` names, with the error it returns */
class PickyBackend extends DryRunBackend {
  readonly batches: FirewallBatch[] = [];
  failFor: (ip: string) => Error | null = () => null;
  constructor(config: PortcullisConfig) {
    super(config.firewall);
  }
  override async apply(batch: FirewallBatch): Promise<void> {
    this.batches.push(batch);
    for (const b of [...batch.add, ...batch.remove]) {
      const err = this.failFor(b.ip);
      if (err) throw err;
    }
    await super.apply(batch);
  }
  touched(ip: string): boolean {
    return this.batches.some((b) => [...b.add, ...b.remove].some((x) => x.ip === ip));
  }
}

describe.runIf(skip === null)('one event never stops the others (real Redis, failing fake firewall)', () => {
  const suite = redisSidecarSuite();

  async function start(input: PortcullisConfigInput, hostId: string, opts: SidecarOptions = {}) {
    const config = testConfig(suite.server.url, input);
    const backend = new PickyBackend(config);
    const s = await suite.start(config, { hostId, backend, ...opts });
    return { s, backend };
  }
  const pending = async (group: string) => ((await suite.r.xpending('{pct}:events', group)) as [number])[0];
  const at = () => String(Date.now());
  const banFields = (ip: string, until: number | string) => [
    'type',
    'ban',
    'ip',
    ip,
    'jail',
    'django-login',
    'until',
    String(until),
    'at',
    at(),
  ];
  /** events in one MULTI: the sidecar reads them as one batch */
  async function xaddAll(list: string[][]): Promise<string[]> {
    const m = suite.r.multi();
    for (const f of list) m.xadd('{pct}:events', '*', ...f);
    return ((await m.exec()) ?? []).map(([, id]) => id as string);
  }
  const dead = async () =>
    (await suite.r.xrange('{pct}:events:dead', '-', '+')).map(([, f]) =>
      Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]]]))),
    );

  it('a batch holding a poison event is split: the good ones apply, the poison is parked with its reason, all acked, the consumer goes on', async () => {
    const { s, backend } = await start({}, 'h-poison');
    backend.failFor = (ip) => (ip === '203.0.113.66' ? new FirewallError('nft: Error: value too large', { transient: false }) : null);
    const until = Date.now() + 600_000;
    const good = Array.from({ length: 9 }, (_, i) => `198.51.100.${i + 1}`);
    const ids = await xaddAll([...good.slice(0, 4), '203.0.113.66', ...good.slice(4)].map((ip) => banFields(ip, until)));
    await waitFor('good bans applied', () => good.every((ip) => backend.rules.has(ip)));
    await waitFor('all acked', async () => (await pending('h-poison')) === 0);
    expect(backend.rules.has('203.0.113.66')).toBe(false);
    const parked = await dead();
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ id: ids[4], host: 'h-poison' });
    expect(parked[0]!.error).toContain('value too large');
    // the consumer goes on
    await xaddAll([banFields('198.51.100.99', until)]);
    await waitFor('next ban', () => backend.rules.has('198.51.100.99'));
    const metrics = (await getJson(s.healthPort, '/metrics')).body as string;
    expect(metrics).toContain('portcullis_sidecar_poison_events_total 1');
    expect((await getJson(s.healthPort, '/healthz')).body.status).toBe('ok');
  });

  it('the real nftables backend over a failing fake runner: the element nft rejects is parked after maxAttempts, the rest of the batch lands', async () => {
    const config = testConfig(suite.server.url, { firewall: { backend: 'nftables' }, sidecar: { maxAttempts: 2 } });
    const committed: string[] = [];
    const run: Runner = async (cmd, args, opts) => {
      if (opts?.input?.includes('203.0.113.99'))
        throw new CommandFailedError(cmd, args, 1, 'Error: Could not process rule: Numerical result out of range');
      if (opts?.input) committed.push(opts.input);
      const stdout = args.includes('chain') ? '{"nftables":[{"chain":{"hook":"input"}}]}' : '{"nftables":[]}';
      return { stdout, stderr: '', exitCode: 0 };
    };
    await suite.start(config, {
      hostId: 'h-nft-poison',
      backend: new NftablesBackend({ firewall: config.firewall, run }),
      run: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
    });
    const good = ['198.51.100.1', '198.51.100.2', '2001:db8::1', '198.51.100.3'];
    await xaddAll([...good.slice(0, 2), '203.0.113.99', ...good.slice(2)].map((ip) => banFields(ip, Date.now() + 60_000)));
    await waitFor('parked', async () => (await dead()).length === 1, 20_000);
    expect((await dead())[0]!.error).toContain('Numerical result out of range');
    for (const ip of good)
      expect(
        committed.some((script) => script.includes(`${ip} timeout`)),
        ip,
      ).toBe(true);
    await waitFor('acked', async () => (await pending('h-nft-poison')) === 0);
  });

  it('a change failing for an unknown reason is parked after sidecar.maxAttempts tries; an unban behind it is applied', async () => {
    const { backend } = await start({ sidecar: { maxAttempts: 3 } }, 'h-attempts');
    backend.failFor = (ip) => (ip === '203.0.113.70' ? new Error('ufw: ERROR: Invalid time value') : null);
    await xaddAll([banFields('203.0.113.71', -1)]);
    await waitFor('first ban', () => backend.rules.has('203.0.113.71'));
    await xaddAll([banFields('203.0.113.70', Date.now() + 60_000), ['type', 'unban', 'ip', '203.0.113.71', 'jail', '', 'at', at()]]);
    await waitFor('unban behind the failing ban applied', () => !backend.rules.has('203.0.113.71'));
    await waitFor('parked', async () => (await dead()).length === 1, 20_000);
    const alone = backend.batches.filter((b) => b.remove.length === 0 && b.add.length === 1 && b.add[0]!.ip === '203.0.113.70');
    expect(alone).toHaveLength(3);
    expect((await dead())[0]!.error).toContain('Invalid time value');
    await waitFor('acked', async () => (await pending('h-attempts')) === 0);
  });

  it('a transient failure is retried (never parked) while expiry goes on; health fails meanwhile and recovers', async () => {
    const { s, backend } = await start({ sidecar: { unhealthyAfter: '1s' } }, 'h-transient');
    await xaddAll([banFields('203.0.113.80', Date.now() + 1500)]);
    await waitFor('short ban applied', () => backend.rules.has('203.0.113.80'));
    let locked = true;
    backend.failFor = (ip) => (ip === '203.0.113.81' && locked ? new FirewallError('xtables lock held', { transient: true }) : null);
    await xaddAll([banFields('203.0.113.81', -1)]);
    await waitFor('failing health', async () => {
      const h = await getJson(s.healthPort, '/healthz');
      return h.status === 503 && h.body.problems.some((p: string) => /apply failing .*xtables lock held/.test(p));
    });
    // the exclusive queue is free between tries: the short ban still expires on time
    await waitFor('expired while the other retries', () => !backend.rules.has('203.0.113.80'));
    // the consumer waits on the firewall, not on Redis: no false "Redis silent" (unhealthyAfter is 1 s)
    expect((await getJson(s.healthPort, '/healthz')).body.problems.filter((p: string) => /Redis/.test(p))).toEqual([]);
    expect(backend.rules.has('203.0.113.81')).toBe(false);
    expect(await pending('h-transient')).toBe(1);
    expect(await dead()).toEqual([]);
    expect((await getJson(s.healthPort, '/metrics')).body).toMatch(/portcullis_sidecar_failing_changes 1/);
    locked = false;
    await waitFor('applied once the lock is free', () => backend.rules.has('203.0.113.81'), 40_000);
    await waitFor('acked', async () => (await pending('h-transient')) === 0);
    await waitFor('healthy again', async () => (await getJson(s.healthPort, '/healthz')).status === 200);
    expect(await dead()).toEqual([]);
  }, 60_000);

  it('an absurd until and ranges wider than sidecar.maxRangePrefix are parked, never applied (events and reconcile)', async () => {
    const { backend } = await start({}, 'h-limits');
    const far = Date.now() + 60_000;
    const ids = await xaddAll([
      banFields('203.0.113.90', '9999999999999999'),
      banFields('128.0.0.0/1', far),
      banFields('2000::/3', far),
      banFields('2001:db8::/31', far),
      banFields('10.0.0.0/7', far),
      banFields('10.0.0.0/8', far), // at the limit: applied
      banFields('2001:db8::/32', far), // at the limit: applied
    ]);
    await waitFor('the ranges at the limit applied', () => backend.rules.has('10.0.0.0/8') && backend.rules.has('2001:db8::/32'));
    await waitFor('acked', async () => (await pending('h-limits')) === 0);
    const parked = await dead();
    expect(parked.map((p) => p.id)).toEqual(ids.slice(0, 5));
    expect(parked[0]!.error).toMatch(/until \d{16,} is further away than the longest ban allowed \(521w3d\)/);
    expect(parked[1]!.error).toBe('refused to ban 128.0.0.0/1: the range is wider than /8 (sidecar.maxRangePrefix.ipv4)');
    expect(parked[2]!.error).toBe('refused to ban 2000::/3: the range is wider than /32 (sidecar.maxRangePrefix.ipv6)');
    // {p}:bans holding the same (an old writer, a hand edit): reconcile refuses them too
    await suite.r.zadd('{pct}:bans', far, '128.0.0.0/1', '9999999999999999', '203.0.113.91', far, '203.0.113.92');
    await suite.running[0]!.reconcile();
    expect(backend.rules.has('203.0.113.92')).toBe(true);
    for (const ip of ['203.0.113.90', '128.0.0.0/1', '2000::/3', '2001:db8::/31', '10.0.0.0/7', '203.0.113.91']) {
      expect(backend.touched(ip), ip).toBe(false);
    }
  });

  it('maxRangePrefix is configurable', async () => {
    const { backend } = await start({ sidecar: { maxRangePrefix: { ipv4: 16, ipv6: 48 } } }, 'h-limits2');
    await xaddAll([
      banFields('10.0.0.0/15', -1),
      banFields('10.1.0.0/16', -1),
      banFields('2001:db8::/47', -1),
      banFields('2001:db8::/48', -1),
    ]);
    await waitFor('applied', () => backend.rules.has('10.1.0.0/16') && backend.rules.has('2001:db8::/48'));
    await waitFor('parked', async () => (await dead()).length === 2);
    expect(backend.touched('10.0.0.0/15') || backend.touched('2001:db8::/47')).toBe(false);
  });
});
