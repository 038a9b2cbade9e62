import { describe, expect, it } from 'vitest';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { portcullis, type HealthReport } from '@portcullis/express';
import { waitFor } from '@portcullis/testkit';
import { type ExampleGateway, gatewaySuite, send } from '@portcullis/testkit/fixtures';
import { startStandInDjango, type StandInDjango } from '../../../examples/gateway/src/stand-in-django.js';
import { ADMIN_PATHS } from '../../../examples/gateway/src/app.js';

/** The example gateway's metrics and health endpoints, scraped as Prometheus and a load balancer would. */

let django: StandInDjango;
// one redis-server and one stand-in Django for the file; Redis flushed and gateways closed before each test
const suite = gatewaySuite(async () => (django = await startStandInDjango()));

const config = (): Omit<PortcullisConfigInput, 'redis'> => ({
  trustProxy: ['127.0.0.1'],
  defaults: { bantime: 3600, findtime: 600, maxretry: 3 },
  jails: { 'django-login': { preset: 'django.login' } },
});

const gateway = (): Promise<ExampleGateway> => suite.gateway(config());

/** The value of one sample line (`name{labels} value`) in a Prometheus text scrape; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(g: ExampleGateway): Promise<string> {
  const res = await fetch(g.url + ADMIN_PATHS.metrics);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

async function health(g: ExampleGateway): Promise<{ status: number; report: HealthReport }> {
  const res = await fetch(g.url + ADMIN_PATHS.health);
  return { status: res.status, report: (await res.json()) as HealthReport };
}

describe('metrics', () => {
  it('counts failures, bans, blocked requests, cached bans and store latency; process metrics unprefixed', async () => {
    const g = await gateway();
    for (let i = 0; i < 3; i++) expect((await send(g.url, '/auth/login/', { ip: '203.0.113.1' })).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.1' })).status).toBe(403);
    const text = await scrape(g);
    expect(sample(text, 'portcullis_failures_recorded_total{jail="django-login"}')).toBe(3);
    expect(sample(text, 'portcullis_bans_total{jail="django-login"}')).toBe(1);
    expect(sample(text, 'portcullis_requests_blocked_total{reason="banned"}')).toBe(2);
    expect(sample(text, 'portcullis_cached_bans')).toBe(1);
    expect(sample(text, 'portcullis_store_up')).toBe(1);
    // every failure on the login path: one reserve, one record, one release
    expect(sample(text, 'portcullis_store_command_duration_seconds_count{command="record_failure"}')).toBe(3);
    expect(sample(text, 'portcullis_store_command_duration_seconds_count{command="reserve"}')).toBe(3);
    expect(text).toContain('# TYPE portcullis_store_command_duration_seconds histogram');
    // standard dashboards read these names as they are
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).not.toMatch(/portcullis_process_|portcullis_nodejs_/);
    // clean requests are not observed: no store command for /ok/
    await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.2' });
    expect(sample(await scrape(g), 'portcullis_store_command_duration_seconds_count{command="reserve"}')).toBe(3);
    // the admin paths never reach Django
    expect(django.hits.get(ADMIN_PATHS.metrics)).toBeUndefined();
  });

  it('the registry merges into an application registry', async () => {
    const { Registry } = await import('prom-client');
    const g = await gateway();
    const app = new Registry();
    const merged = Registry.merge([app, g.guard.metrics.registry]);
    expect(await merged.metrics()).toContain('portcullis_cached_bans 0');
  });
});

describe('health', () => {
  it('ok with the store up; degraded (still 200: fail open) while Redis is down; ok again after', async () => {
    const g = await gateway();
    await g.guard.store.ban('198.51.100.1', { duration: 60_000 });
    await waitFor('the ban reaches the cache', () => g.guard.cache.size === 1);
    const up = await health(g);
    expect(up.status).toBe(200);
    expect(up.report).toMatchObject({ status: 'ok', store: { kind: 'redis', state: 'up' }, cache: { bans: 1 }, subscription: 'held' });
    expect(up.report.cache.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(up.report.cache.loadedAt!)).not.toBeNaN();

    await suite.redis.kill();
    // the store reports the outage once a command or the connection fails
    await waitFor(
      'health says degraded',
      async () => {
        await send(g.url, '/auth/login/', { ip: '203.0.113.9' });
        return (await health(g)).report.status === 'degraded';
      },
      15_000,
      50,
    );
    const down = await health(g);
    expect(down.status).toBe(200);
    expect(down.report.store.state).toBe('down');
    expect(sample(await scrape(g), 'portcullis_store_up')).toBe(0);
    // the site keeps serving
    expect((await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.9' })).status).toBe(200);

    await suite.redis.restart();
    await waitFor('health says ok again', async () => (await health(g)).report.status === 'ok', 15_000, 50);
    expect(sample(await scrape(g), 'portcullis_store_up')).toBe(1);
  });

  it('503 before ready() and after close()', async () => {
    const guard = portcullis({ ...config(), redis: suite.redis.url }, { logger: pino({ level: 'silent' }) });
    const app = express().get('/healthz', guard.health);
    const before = await request(app).get('/healthz');
    expect([before.status, before.body.status]).toEqual([503, 'starting']);
    await guard.ready();
    const ready = await request(app).get('/healthz');
    expect([ready.status, ready.body.status]).toEqual([200, 'ok']);
    await guard.close();
    const after = await request(app).get('/healthz');
    expect([after.status, after.body.status]).toEqual([503, 'closed']);
  });
});
