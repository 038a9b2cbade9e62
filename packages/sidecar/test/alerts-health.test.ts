import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { startSidecar, type Sidecar } from '@portcullis/sidecar';
import { RedisServer } from '../../../test/helpers/redis-server.js';
import { SmtpSink } from '../../../test/helpers/smtp-sink.js';
import { HttpReceiver } from '../../../test/helpers/http-receiver.js';
import { getJson, quiet, store, testConfig, waitFor } from './harness.js';

let redis: RedisServer;
let smtp: SmtpSink;
let hook: HttpReceiver;
const running: Sidecar[] = [];

beforeAll(async () => {
  [redis, smtp, hook] = await Promise.all([RedisServer.start(), SmtpSink.start(), HttpReceiver.start()]);
});
afterAll(async () => {
  smtp?.stop();
  await hook?.stop();
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  const c = redis.client();
  await c.flushall();
  c.disconnect();
  smtp.mails.length = 0;
  hook.bodies.length = 0;
  hook.failNext = 0;
});

function config(alerts: Partial<PortcullisConfigInput['alerts']>) {
  return testConfig(redis.url, {
    alerts: { digest: { window: '1h', maxSingle: 100 }, retry: { base: '200ms', max: '1s', attempts: 50 }, ...alerts } as PortcullisConfigInput['alerts'],
  });
}

async function sidecar(cfg: ReturnType<typeof config>, hostId: string): Promise<Sidecar> {
  const s = await startSidecar(cfg, { hostId, healthPort: 0, logger: quiet, blockMs: 200 });
  running.push(s);
  await s.ready;
  await s.alerts!.ready;
  return s;
}

/** /healthz once `ok` says its body is what the test waits for */
async function healthWhen(s: Sidecar, what: string, ok: (body: any) => boolean): Promise<{ status: number; body: any }> {
  let last: { status: number; body: any } | undefined;
  await waitFor(what, async () => ok((last = await getJson(s.healthPort, '/healthz')).body));
  return last!;
}

describe("/healthz and /metrics report the alerter's state; its trouble never fails the sidecar", () => {
  it('a webhook answering 500: alerts degraded with the error and the entry pending, the ban applied, /healthz still 200; ok again once it answers', async () => {
    const cfg = config({ webhook: { url: hook.url }, email: { smtp: smtp.url, from: 'portcullis@example.com', to: ['ops@example.com'] } });
    hook.failNext = 1_000_000;
    const s = await sidecar(cfg, 'host-a');
    const bs = await store(cfg);
    await bs.ban('203.0.113.80', { jail: 'django-login', duration: 60_000 });
    await waitFor('the firewall holds the ban', () => s.owned.has('203.0.113.80'));
    await waitFor('the mail went out, the webhook is being retried', () => smtp.mails.length === 1 && hook.failed >= 2);
    const h = await healthWhen(s, 'the alert entry counted as pending', (b) => b.alerts.pending === 1);
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('ok');
    expect(h.body.problems).toEqual([]);
    expect(h.body.alerts).toMatchObject({ enabled: true, status: 'degraded', group: 'alerts', pending: 1, lag: 0 });
    expect(h.body.alerts.lastError).toMatchObject({ channel: 'webhook', message: 'webhook answered 500 Internal Server Error' });
    expect(Object.keys(h.body.alerts.failing)).toEqual(['webhook']);
    expect(h.body.alerts.problems[0]).toMatch(/^alerts: webhook failing since 20/);
    expect(Date.parse(h.body.alerts.lastSuccessAt)).toBeGreaterThan(0); // the mail
    const metrics = (await getJson(s.healthPort, '/metrics')).body as string;
    expect(metrics).toContain('portcullis_alerts_failing_channels 1');
    expect(metrics).toContain('portcullis_alerts_pending 1');
    expect(metrics).toContain('portcullis_sidecar_healthy 1');
    // later bans are applied meanwhile
    await bs.ban('203.0.113.81', { jail: 'django-login', duration: 60_000 });
    await waitFor('the next ban applied too', () => s.owned.has('203.0.113.81'));

    hook.failNext = 0;
    await waitFor('both posts delivered', () => hook.bodies.length === 2);
    const after = await healthWhen(s, 'alerts ok again, nothing pending', (b) => b.alerts.status === 'ok' && b.alerts.pending === 0);
    expect(after.body.alerts.failing).toEqual({});
    expect(after.body.alerts.lastError.channel).toBe('webhook'); // kept for the record
    expect((await getJson(s.healthPort, '/metrics')).body).toContain('portcullis_alerts_failing_channels 0');
    await bs.close();
  });

  it('an SMTP server that is gone: the email channel shows its error, the webhook and the bans go on', async () => {
    const dead = await SmtpSink.start();
    dead.stop();
    const cfg = config({ webhook: { url: hook.url }, email: { smtp: dead.url, from: 'portcullis@example.com', to: ['ops@example.com'] } });
    const s = await sidecar(cfg, 'host-b');
    const bs = await store(cfg);
    await bs.ban('203.0.113.90', { jail: 'django-login', duration: 60_000 });
    await waitFor('the ban applied and posted', () => s.owned.has('203.0.113.90') && hook.bodies.length === 1);
    const h = await healthWhen(s, 'the mail failure shows', (b) => b.alerts.lastError?.channel === 'email');
    expect(h.status).toBe(200);
    expect(h.body.alerts.status).toBe('degraded');
    expect(h.body.alerts.lastError.message).toMatch(/ECONNREFUSED/);
    expect(Object.keys(h.body.alerts.failing)).toEqual(['email']);
    await bs.close();
  });

  it('without alerts configured, /healthz says so', async () => {
    const cfg = testConfig(redis.url);
    const s = await startSidecar(cfg, { hostId: 'host-c', healthPort: 0, logger: quiet, blockMs: 200 });
    running.push(s);
    await s.ready;
    expect((await getJson(s.healthPort, '/healthz')).body.alerts).toEqual({ enabled: false });
  });
});
