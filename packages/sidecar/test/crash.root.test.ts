import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { firewallSkipReason, RedisServer, TestNet, waitFor } from '@portcullis/testkit';
import { store, testConfig } from './harness.js';

const skip = firewallSkipReason('nft', 'ufw', 'iptables', 'ss');
if (skip) console.warn(`[skipped] sidecar crash tests: ${skip}`);

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/ns-sidecar.mjs', import.meta.url));
const N = 500;

/** 500 distinct TEST-NET/benchmark addresses (198.18.0.0/15) */
const ips = Array.from({ length: N }, (_, i) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`);

describe.runIf(skip === null)('crash safety: SIGKILL at a random point, restart, every ban exactly once', () => {
  let redis: RedisServer;
  let net: TestNet;

  beforeAll(async () => {
    // the child runs the built dist/ (a separate process can be SIGKILLed)
    const build = spawnSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-b', 'packages/sidecar', 'tools/testkit'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (build.status !== 0) throw new Error(`tsc -b failed: ${build.stdout}${build.stderr}`);
    redis = await RedisServer.start();
    net = TestNet.create();
  }, 120_000);
  afterAll(async () => {
    net?.destroy();
    await redis?.stop();
  });

  const childEnv = (backend: string, hostId: string, batch: number) => ({
    ...process.env,
    REDIS_URL: redis.url,
    NS: net.server,
    ETC_UFW: net.etcUfw,
    LIB_UFW: net.libUfw,
    BACKEND: backend,
    HOST_ID: hostId,
    BATCH: String(batch),
  });

  function startChild(backend: string, hostId: string, batch: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, [FIXTURE], {
      cwd: ROOT,
      env: childEnv(backend, hostId, batch),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    net.track(child);
    return new Promise((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve(child);
      });
      child.on('exit', (code) => reject(new Error(`sidecar child exited (${code}) before ready`)));
    });
  }

  /** a second sidecar with a host id already live: it must refuse to start */
  function startDuplicate(backend: string, hostId: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
    const child = spawn(process.execPath, [FIXTURE], { cwd: ROOT, env: childEnv(backend, hostId, 20), stdio: ['ignore', 'pipe', 'pipe'] });
    net.track(child);
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr, stdout })));
  }

  /**
   * Half the bans while the sidecar runs; SIGKILL once the firewall holds a
   * random number of them (some, never all: the rest of the stream is still
   * pending); the other half while it is down; restart; every ban exactly once.
   * `waitMs` bounds every wait so the test's own timeout is never the one to fire.
   */
  async function scenario(backend: 'nftables' | 'ufw', count: () => Map<string, number>, batch: number, waitMs: number) {
    const hostId = `crash-${backend}`;
    // a clean Redis: bans left by the other scenario would be reconciled into this firewall first
    const flush = redis.client();
    await flush.flushall();
    flush.disconnect();
    const config = testConfig(redis.url, { firewall: { backend, ports: [8080] } });
    const s = await store(config);
    let child = await startChild(backend, hostId, batch);
    if (backend === 'nftables') {
      // the same host id twice by mistake: the second refuses to start, the first goes on
      const dup = await startDuplicate(backend, hostId);
      expect(dup.code).toBe(3);
      expect(dup.stderr).toContain(`another sidecar is running with host id "${hostId}"`);
      expect(dup.stdout).not.toContain('ready');
    }
    const r = redis.client();
    const firstHalf = Promise.all(ips.slice(0, N / 2).map((ip) => s.ban(ip, { duration: 3_600_000 })));
    // a quarter of the first half at most: several batches of margin between the poll and the kill
    const killAt = 1 + Math.floor(Math.random() * (N / 4));
    await waitFor(`${killAt} rules in the firewall`, () => count().size >= killAt, waitMs, 5);
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    await firstHalf;
    const before = count();
    // mid-stream: some applied, and the stream still held events this life never acknowledged
    expect(before.size).toBeGreaterThanOrEqual(killAt);
    expect(before.size).toBeLessThan(N / 2);
    const info = (await r.xinfo('GROUPS', '{pct}:events')) as Array<Array<string | number>>;
    const group = info.map((g) => Object.fromEntries(g.flatMap((v, i) => (i % 2 ? [] : [[v, g[i + 1]]])))).find((g) => g.name === hostId)!;
    expect(Number(group.pending) + Number(group.lag)).toBeGreaterThan(0);
    await Promise.all(ips.slice(N / 2).map((ip) => s.ban(ip, { duration: 3_600_000 })));
    // the dead one's host id lock is not renewed any more: it passes on after its TTL (2 s)
    child = await startChild(backend, hostId, batch);
    await waitFor(
      'all bans applied and acked',
      async () => {
        const pending = (await r.xpending('{pct}:events', hostId)) as [number, ...unknown[]];
        return pending[0] === 0 && count().size === N;
      },
      waitMs,
      250,
    );
    const final = count();
    for (const ip of ips) expect(final.get(ip), ip).toBe(1);
    expect(final.size).toBe(N);
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
    r.disconnect();
    await s.close();
    return { killedWith: before.size };
  }

  it('nftables: 500 bans, SIGKILL mid-stream, restart', async () => {
    const count = () => {
      const out = new Map<string, number>();
      const json = JSON.parse(net.inServer(['nft', '-j', 'list', 'set', 'inet', 'portcullis', 'v4'])) as { nftables: any[] };
      for (const o of json.nftables)
        for (const e of o.set?.elem ?? []) {
          const ip = typeof e === 'string' ? e : e.elem.val;
          out.set(ip, (out.get(ip) ?? 0) + 1);
        }
      return out;
    };
    const { killedWith } = await scenario('nftables', count, 20, 100_000);
    console.log(`nftables crash test: ${killedWith}/${N} elements present at SIGKILL`);
  }, 300_000); // the two waits (100 s each) and the child starts fit inside

  it('ufw: 500 bans, SIGKILL mid-stream, restart: no duplicate rule in ufw or the kernel', async () => {
    net.enableUfw(8080);
    const count = () => {
      const out = new Map<string, number>();
      for (const line of net.inServer(['iptables', '-S', 'ufw-user-input']).split('\n')) {
        const m = / -s (198\.18\.\d+\.\d+)\/32 /.exec(line);
        if (m) out.set(m[1]!, (out.get(m[1]!) ?? 0) + 1);
      }
      return out;
    };
    const { killedWith } = await scenario('ufw', count, 500, 400_000);
    // ufw's own store agrees with the kernel
    const added = net
      .inServer(['ufw', 'show', 'added'])
      .split('\n')
      .filter((l) => l.includes('198.18.'));
    expect(added).toHaveLength(N);
    console.log(`ufw crash test: ${killedWith}/${N} rules present at SIGKILL`);
  }, 900_000); // the two waits (400 s each) and the child starts fit inside
});
