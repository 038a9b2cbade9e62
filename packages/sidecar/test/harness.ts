import { afterEach } from 'vitest';
import { parseConfig, RedisBanStore, type PortcullisConfig, type PortcullisConfigInput } from '@portcullis/core';
import { pino } from 'pino';
import { startSidecar, type Sidecar, type SidecarOptions } from '@portcullis/sidecar';
import { useRedis } from '@portcullis/testkit/fixtures';

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

export async function store(config: PortcullisConfig): Promise<RedisBanStore> {
  const s = new RedisBanStore({ config, by: 'test', commandTimeout: 5000 });
  s.redis.on('error', () => {}); // reconnects by itself (Redis restart tests)
  await s.connect();
  return s;
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
  const redis = useRedis();
  const running: Sidecar[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });
  return {
    get server() {
      return redis.server;
    },
    /** a plain client for assertions */
    get r() {
      return redis.client;
    },
    running,
    async start(config: PortcullisConfig, opts: SidecarOptions = {}, waitReady = true): Promise<Sidecar> {
      const s = await startSidecar(config, { healthPort: 0, logger: quiet, blockMs: 200, ...opts });
      running.push(s);
      if (waitReady) await s.ready;
      return s;
    },
  };
}
