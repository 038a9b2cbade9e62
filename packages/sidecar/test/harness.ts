import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { Redis } from 'ioredis';
import { parseConfig, RedisBanStore, type PortcullisConfig, type PortcullisConfigInput } from '@portcullis/core';
import { pino } from 'pino';
import { netnsRunner, startSidecar, type Sidecar, type SidecarOptions } from '@portcullis/sidecar';
import type { TestNet } from '../../../test/helpers/netns.js';
import { RedisServer } from '../../../test/helpers/redis-server.js';

export const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function testConfig(redisUrl: string, input: PortcullisConfigInput = {}): PortcullisConfig {
  return parseConfig({
    redis: redisUrl,
    prefix: 'pct',
    jails: { 'django-login': { preset: 'django.login' } },
    ...input,
    firewall: { backend: 'dry-run', ...input.firewall },
    sidecar: { reconcileInterval: '1h', claimIdle: '1s', ...input.sidecar },
  });
}

/** a sidecar in this process whose firewall commands act on the test namespace only */
export async function nsSidecar(net: TestNet, config: PortcullisConfig, opts: SidecarOptions = {}): Promise<Sidecar> {
  const sidecar = await startSidecar(config, {
    run: netnsRunner(net.server, { etcUfw: net.etcUfw, libUfw: net.libUfw }),
    ufwRulesDir: net.etcUfw,
    healthPort: 0,
    logger: quiet,
    blockMs: 500,
    ...opts,
  });
  await sidecar.ready;
  return sidecar;
}

export async function store(config: PortcullisConfig): Promise<RedisBanStore> {
  const s = new RedisBanStore({ config, by: 'test', commandTimeout: 5000 });
  s.redis.on('error', () => {}); // reconnects by itself (Redis restart tests)
  await s.connect();
  return s;
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function getJson(port: number, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  return { status: res.status, body: path === '/metrics' ? text : JSON.parse(text) };
}

/**
 * One redis-server for a test file, flushed before each test; sidecars
 * started with `start` (dry-run unless told, any free health port) are
 * stopped after each test.
 */
export function redisSidecarSuite() {
  const suite = {
    server: undefined as unknown as RedisServer,
    /** a plain client for assertions */
    r: undefined as unknown as Redis,
    running: [] as Sidecar[],
    async start(config: PortcullisConfig, opts: SidecarOptions = {}, waitReady = true): Promise<Sidecar> {
      const s = await startSidecar(config, { healthPort: 0, logger: quiet, blockMs: 200, ...opts });
      suite.running.push(s);
      if (waitReady) await s.ready;
      return s;
    },
  };
  beforeAll(async () => {
    suite.server = await RedisServer.start();
    suite.r = suite.server.client();
  });
  beforeEach(async () => {
    await suite.r.flushall();
  });
  afterEach(async () => {
    await Promise.all(suite.running.splice(0).map((s) => s.stop()));
  });
  afterAll(async () => {
    suite.r?.disconnect();
    await suite.server?.stop();
  });
  return suite;
}
