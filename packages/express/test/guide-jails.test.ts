import { beforeEach, describe, expect, it } from 'vitest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { send, standInSuite } from '@portcullis/testkit/fixtures';

// one redis-server for the file, flushed before each test; a fresh stand-in Django for each test
const suite = standInSuite();
beforeEach(async () => {
  await suite.cli.config('RESETSTAT');
});

const gateway = (config: PortcullisConfigInput) => suite.gateway({ redis: suite.redis.url, trustProxy: ['127.0.0.1'], ...config });

async function scriptCalls(): Promise<number> {
  const info = await suite.cli.info('commandstats');
  return Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(info)?.[1] ?? 0) + Number(/^cmdstat_eval:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

describe('http.flood through the gateway', () => {
  it('a flooder is answered 403 after about maxretry requests of any status; static files and other visitors cost no Redis call', async () => {
    const g = await gateway({ jails: { flood: { preset: 'http.flood', maxretry: 40, findtime: '1m' } } });
    const before = await scriptCalls();
    for (let v = 0; v < 20; v++)
      for (let i = 0; i < 3; i++)
        expect((await send(g.url, `/ok/${i}`, { method: 'GET', ip: `198.51.100.${v + 1}` })).status).not.toBe(403);
    for (let i = 0; i < 100; i++)
      expect((await send(g.url, '/static/app.css', { method: 'GET', ip: '198.51.100.99' })).status).not.toBe(403);
    expect(await scriptCalls()).toBe(before);

    // the flooder, many requests in flight at once
    const statuses: number[] = [];
    for (let wave = 0; wave < 10 && !statuses.includes(403); wave++) {
      statuses.push(
        ...(
          await Promise.all(Array.from({ length: 10 }, (_, i) => send(g.url, `/ok/${wave}/${i}`, { method: 'GET', ip: '203.0.113.50' })))
        ).map((r) => r.status),
      );
    }
    // any status counts (the stand-in answers 404 here); the first maxretry all reach it
    expect(statuses.slice(0, 40).every((s) => s !== 403)).toBe(true);
    expect(statuses).toContain(403);
    const ban = await suite.cli.hgetall('{portcullis}:ban:203.0.113.50');
    expect(ban.jail).toBe('flood');
    expect(ban.reason).toMatch(/^4\d requests within 60s$/);
    expect((await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.50' })).status).toBe(403);
    expect((await send(g.url, '/ok/', { method: 'GET', ip: '198.51.100.1' })).status).not.toBe(403);
  });
  it('a flooder spread over two gateways, 20 requests in flight, is refused by both', async () => {
    const config = { jails: { flood: { preset: 'http.flood' as const, maxretry: 60, findtime: '1m' } } };
    const [a, b] = [await gateway(config), await gateway(config)];
    let sent = 0;
    const statuses: number[] = [];
    while (!statuses.includes(403) && sent < 400) {
      const wave = await Promise.all(
        Array.from({ length: 20 }, (_, i) => send((i % 2 ? b : a).url, `/ok/${sent + i}`, { method: 'GET', ip: '203.0.113.51' })),
      );
      statuses.push(...wave.map((r) => r.status));
      sent += 20;
    }
    // never before maxretry; the shared window holds the two gateways' flushes (6 each) and bans at exactly 60
    expect(statuses.indexOf(403)).toBeGreaterThanOrEqual(60);
    expect(await suite.cli.hget('{portcullis}:ban:203.0.113.51', 'reason')).toBe('60 requests within 60s');
    expect(Number((await suite.cli.hget('{portcullis}:stats:flood', 'failed')) ?? 0)).toBeGreaterThanOrEqual(60);
    // the other gateway learns the ban from pub/sub
    for (const g of [a, b]) {
      await expect.poll(async () => (await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.51' })).status).toBe(403);
    }
  });
});

describe('failure details for ban alerts', () => {
  it('with alerts on, the failure script keeps method, path (no query), status and user agent of the last failures', async () => {
    const g = await gateway({
      jails: { 'django-login': { preset: 'django.login', maxretry: 3 } },
      alerts: { webhook: { url: 'http://127.0.0.1:9/never-called-here' }, recent: 2 },
    });
    for (let i = 0; i < 3; i++) {
      const r = await send(g.url, `/auth/login/?password=hunter${i}`, {
        ip: '203.0.113.60',
        headers: { 'user-agent': `bot/${i}`, cookie: 'sessionid=secret' },
      });
      expect(r.status).toBe(401);
    }
    const kept = (await suite.cli.lrange('{portcullis}:recent:django-login:203.0.113.60', 0, -1)).map((j) => JSON.parse(j));
    expect(kept).toHaveLength(2);
    expect(kept.map((d) => d.userAgent)).toEqual(['bot/2', 'bot/1']);
    expect(kept[0]).toMatchObject({ method: 'POST', path: '/auth/login/', status: 401 });
    expect(JSON.stringify(kept)).not.toMatch(/hunter|secret|password/);
  });

  it('without alerts nothing is kept', async () => {
    const g = await gateway({ jails: { 'django-login': { preset: 'django.login', maxretry: 3 } } });
    expect((await send(g.url, '/auth/login/', { ip: '203.0.113.61' })).status).toBe(401);
    expect(await suite.cli.exists('{portcullis}:recent:django-login:203.0.113.61')).toBe(0);
    expect(await suite.cli.zcard('{portcullis}:fail:django-login:203.0.113.61')).toBe(1);
  });
});
