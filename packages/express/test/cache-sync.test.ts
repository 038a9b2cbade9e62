import { describe, expect, it } from 'vitest';
import { RedisBanStore, parseConfig, type PortcullisConfigInput } from '@portcullis/core';
import { freePort, RedisServer, waitFor } from '@portcullis/testkit';
import { send, standInSuite, type TestGateway } from '@portcullis/testkit/fixtures';

// one redis-server for the file, flushed before each test; a fresh stand-in Django for each test
const suite = standInSuite();
const gateway = suite.gateway;

const config = (url: string, extra: Partial<PortcullisConfigInput> = {}): PortcullisConfigInput => ({
  redis: url,
  trustProxy: ['127.0.0.1'],
  defaults: { bantime: 3600, findtime: 600, maxretry: 5 },
  jails: { 'django-login': { preset: 'django.login' } },
  ...extra,
});

const statusOf = async (g: TestGateway, ip: string) => (await send(g.url, '/ok/', { method: 'GET', ip })).status;

describe('a gateway started before Redis', () => {
  it('subscribes once Redis comes: a ban made at another gateway blocks here', async () => {
    const late = new RedisServer();
    late.port = await freePort();
    try {
      // no periodic read within the test: only the subscription can carry the ban
      const early = await gateway(config(late.url, { gateway: { resyncInterval: '1h' } }), { readyTimeout: 200 });
      expect(early.guard.store.state).toBe('down');
      expect(await statusOf(early, '203.0.113.50')).toBe(200);
      // docker-compose order: the gateway first, Redis a few seconds later
      await new Promise((r) => setTimeout(r, 5000));
      await late.restart();
      await waitFor('the early gateway up', () => early.guard.store.state === 'up', 30_000);
      const other = await gateway(config(late.url));
      for (let i = 0; i < 5; i++) await send(other.url, '/auth/login/', { ip: '203.0.113.50' });
      expect(await statusOf(other, '203.0.113.50')).toBe(403);
      // learnt through the subscription
      await waitFor('the ban to reach the early gateway', () => early.guard.cache.bannedUntil('203.0.113.50', Date.now()) !== 0, 30_000);
      expect(await statusOf(early, '203.0.113.50')).toBe(403);
      const store = new RedisBanStore({ config: parseConfig(config(late.url)) });
      await store.connect();
      await store.unban('203.0.113.50');
      await store.close();
      await waitFor('the unban to reach it', () => early.guard.cache.bannedUntil('203.0.113.50', Date.now()) === 0, 30_000);
      expect(await statusOf(early, '203.0.113.50')).toBe(200);
    } finally {
      await suite.closeGateways();
      await late.stop();
    }
  });
});

describe('keeping the cache in step', () => {
  /** a ban/unban as the scripts log it, without the pub/sub notice (a missed message) */
  const logOnly = (type: 'ban' | 'unban', ip: string, until = Date.now() + 60_000, maxlen = 100_000) =>
    suite.cli.xadd(
      '{portcullis}:events',
      'MAXLEN',
      String(maxlen),
      '*',
      'type',
      type,
      'ip',
      ip,
      'jail',
      'manual',
      'until',
      String(until),
      'reason',
      'test',
      'at',
      String(Date.now()),
    );

  it('reads only what changed since its position in the change log', async () => {
    const g = await gateway(config(suite.redis.url, { gateway: { resyncInterval: 1 } }));
    // in the log only (not in {p}:bans): a full reload would not see it, a log read does
    await logOnly('ban', '203.0.113.60');
    await logOnly('ban', '2001:db8:60::/48');
    await waitFor('the logged bans', () => g.guard.cache.bannedUntil('2001:db8:60::1', Date.now()) !== 0, 30_000);
    expect(await statusOf(g, '203.0.113.60')).toBe(403);
    expect(await statusOf(g, '2001:db8:60::99')).toBe(403);
    await logOnly('unban', '2001:db8:60::/48');
    await waitFor('the logged unban', () => g.guard.cache.bannedUntil('2001:db8:60::1', Date.now()) === 0, 30_000);
    expect(await statusOf(g, '203.0.113.60')).toBe(403);
  });

  it('reloads in full when the log was trimmed past its position', async () => {
    const g = await gateway(config(suite.redis.url, { gateway: { resyncInterval: 1 } }));
    await logOnly('ban', '203.0.113.61');
    await waitFor('the logged ban', () => g.guard.cache.bannedUntil('203.0.113.61', Date.now()) !== 0, 30_000);
    // behind its back: a ban in {p}:bans and a log trimmed to 10 entries past the position
    await suite.cli.zadd('{portcullis}:bans', Date.now() + 60_000, '203.0.113.62');
    for (let i = 0; i < 50; i++) await logOnly('ban', `198.18.0.${i + 1}`, Date.now() + 60_000, 10);
    // the full reload sees {p}:bans, where the log-only bans never were
    await waitFor('the full reload', () => g.guard.cache.bannedUntil('203.0.113.62', Date.now()) !== 0, 30_000);
    expect(g.guard.cache.bannedUntil('203.0.113.61', Date.now())).toBe(0);
    expect(await statusOf(g, '203.0.113.62')).toBe(403);
  });

  it('a fresh gateway loads many bans page by page and enforces every one', async () => {
    const store = new RedisBanStore({ config: parseConfig(config(suite.redis.url)), by: 'test' });
    await store.connect();
    const ips = Array.from({ length: 20_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const ranges = Array.from({ length: 2_000 }, (_, i) => `2001:db8:${i.toString(16)}::/48`);
    await store.banMany([...ips, ...ranges], { duration: 600_000 });
    await store.close();
    const g = await gateway(config(suite.redis.url));
    expect(g.guard.cache.size).toBe(22_000);
    const now = Date.now();
    expect(ips.every((ip) => g.guard.cache.bannedUntil(ip, now) !== 0)).toBe(true);
    expect(ranges.every((r) => g.guard.cache.bannedUntil(r.replace('::/48', '::1'), now) !== 0)).toBe(true);
    expect(await statusOf(g, '10.0.78.31')).toBe(403);
    expect(await statusOf(g, '10.0.78.32')).toBe(200);
    expect(await statusOf(g, '2001:db8:7cf:1::1')).toBe(403);
    expect(await statusOf(g, '2001:db8:7d0::1')).toBe(200);
  });
});
