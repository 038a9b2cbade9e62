import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryBanStore, parseConfig, RedisBanStore, resolveJail, type PortcullisConfig } from '@portcullis/core';
import { FloodCounter } from '../src/flood-counter.js';
import { useRedis } from '@portcullis/testkit/fixtures';

// one redis-server for the file, flushed before each test
const redis = useRedis();
beforeEach(async () => {
  await redis.client.config('RESETSTAT');
});

const config = (jail: Record<string, unknown> = {}): PortcullisConfig =>
  parseConfig({ redis: redis.url, prefix: 'flood', jails: { flood: { preset: 'http.flood', ...jail } } });

async function gateway(cfg: PortcullisConfig, name: string) {
  const store = new RedisBanStore({ config: cfg, by: name, commandTimeout: 5000 });
  await store.connect();
  const banned = new Set<string>();
  const counter = new FloodCounter({ jail: resolveJail('flood', cfg.jails.flood!, cfg), store, onBanned: (ip) => banned.add(ip) });
  return { store, counter, banned };
}

async function redisCalls(): Promise<number> {
  const info = await redis.client.info('commandstats');
  // every command but the test's own INFO / CONFIG
  return [...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)]
    .filter(([, cmd]) => !['info', 'config'].includes(cmd!))
    .reduce((n, [, , calls]) => n + Number(calls), 0);
}

describe('FloodCounter: local counts, Redis only when they could matter', () => {
  it('ordinary visitors cost no Redis call; static files never count', async () => {
    const cfg = config();
    const { store, counter } = await gateway(cfg, 'gw-a');
    const before = await redisCalls();
    // 2,000 visitors, 25 page views each (below flushAt = 30), plus 1,000 static files each for one of them
    for (let v = 0; v < 2000; v++) for (let i = 0; i < 25; i++) counter.hit(`198.51.${v >> 8}.${v & 255}`, 'GET', `/page/${i}?q=1`);
    for (let i = 0; i < 1000; i++) counter.hit('198.51.0.1', 'GET', `/static/app.${i}.js`);
    await counter.idle();
    expect(counter.flushes).toBe(0);
    expect(await redisCalls()).toBe(before);
    await store.close();
  });

  it('a flooder spread over two gateways is banned on both within maxretry + G·(flushAt - 1) requests', async () => {
    const cfg = config();
    const a = await gateway(cfg, 'gw-a');
    const b = await gateway(cfg, 'gw-b');
    expect(a.counter.flushAt).toBe(30);
    const ip = '203.0.113.9';
    let sent = 0;
    // alternating, waiting for each answer: the worst case of the bound, no round trip in between
    while (!a.banned.has(ip) && !b.banned.has(ip) && sent < 1000) {
      (sent % 2 ? b : a).counter.hit(ip, sent % 3 ? 'GET' : 'POST', '/api/items/');
      sent++;
      await Promise.all([a.counter.idle(), b.counter.idle()]);
    }
    const bound = 300 + 2 * (30 - 1);
    expect(sent).toBeGreaterThanOrEqual(300);
    expect(sent).toBeLessThanOrEqual(bound);
    const ban = await a.store.isBanned(ip);
    expect(ban).toMatchObject({ jail: 'flood' });
    expect(ban!.reason).toMatch(/^\d+ requests within 60s$/);
    // the other gateway learns it at its next flush at the latest (and from pub/sub in the middleware)
    await a.store.close();
    await b.store.close();
  });

  it('flushAt can be lowered for many gateways; local memory is capped', async () => {
    const cfg = config({ maxretry: 20 });
    const store = new RedisBanStore({ config: cfg, commandTimeout: 5000 });
    await store.connect();
    const counter = new FloodCounter({ jail: resolveJail('flood', cfg.jails.flood!, cfg), store, flushAt: 1, maxAddresses: 100 });
    for (let i = 0; i < 500; i++) counter.hit(`192.0.2.${i % 250}`, 'GET', '/');
    expect(counter.size).toBe(100);
    await counter.idle();
    expect(counter.flushes).toBe(500);
    await store.close();
  });

  it('works on the embedded memory store too', async () => {
    const cfg = parseConfig({ jails: { flood: { preset: 'http.flood', maxretry: 50, findtime: '10s' } } });
    const store = new MemoryBanStore({ config: cfg });
    let banned = '';
    const counter = new FloodCounter({ jail: resolveJail('flood', cfg.jails.flood!, cfg), store, onBanned: (ip) => (banned = ip) });
    for (let i = 0; i < 60 && !banned; i++) {
      counter.hit('203.0.113.20', 'GET', '/');
      await counter.idle();
    }
    expect(banned).toBe('203.0.113.20');
    expect((await store.isBanned('203.0.113.20'))!.reason).toBe('50 requests within 10s');
  });

  it('a flood jail never counts responses, and a failure jail has no flood rule', () => {
    const cfg = parseConfig({ jails: { flood: { preset: 'http.flood' }, login: { preset: 'django.login' } } });
    const flood = resolveJail('flood', cfg.jails.flood!, cfg);
    expect(flood.hasRule).toBe(false);
    expect(flood.matches({ method: 'GET', url: '/', status: 200, header: () => undefined })).toBe(false);
    expect(flood.flood!.matchesRequest('GET', '/static/x.css')).toBe(false);
    expect(flood.flood!.matchesRequest('DELETE', '/anything')).toBe(true);
    expect(resolveJail('login', cfg.jails.login!, cfg).flood).toBeNull();
    expect(
      () => new FloodCounter({ jail: resolveJail('login', cfg.jails.login!, cfg), store: new MemoryBanStore({ config: cfg }) }),
    ).toThrow(/not a flood jail/);
    const tuned = parseConfig({ jails: { flood: { preset: 'http.flood', maxretry: 1000, flushAt: 5 } } });
    expect(resolveJail('flood', tuned.jails.flood!, tuned).flood!.flushAt).toBe(5);
    expect(resolveJail('flood', cfg.jails.flood!, cfg).flood!.flushAt).toBe(30);
    expect(() => parseConfig({ jails: { login: { preset: 'django.login', flushAt: 5 } } })).toThrow(
      /jails\.login\.flushAt: flushAt belongs to a flood jail/,
    );
  });
});
