import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveJail, type AlertsConfig, type PortcullisConfigInput } from '@portcullis/core';
import { startSidecar, type Sidecar } from '@portcullis/sidecar';
import { AlertConsumer } from '../src/alerts/alert-consumer.js';
import { HttpReceiver, RedisServer, SmtpSink, waitFor } from '@portcullis/testkit';
import { getJson, quiet, store, testConfig } from './harness.js';

let redis: RedisServer;
let smtp: SmtpSink;
let hook: HttpReceiver;
const running: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  [redis, smtp, hook] = await Promise.all([RedisServer.start(), SmtpSink.start(), HttpReceiver.start()]);
});
afterAll(async () => {
  smtp?.stop();
  await hook?.stop();
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
  const c = redis.client();
  await c.flushall();
  c.disconnect();
  smtp.mails.length = 0;
  hook.bodies.length = 0;
  hook.failNext = 0;
});

function config(alerts: Partial<PortcullisConfigInput['alerts']> = {}, input: PortcullisConfigInput = {}) {
  return testConfig(redis.url, {
    jails: { 'django-login': { preset: 'django.login', maxretry: 3 } },
    ...input,
    alerts: {
      webhook: { url: hook.url },
      email: { smtp: smtp.url, from: 'portcullis@example.com', to: ['ops@example.com'] },
      digest: { window: '1h', maxSingle: 100 },
      retry: { base: '50ms', max: '200ms' },
      ...alerts,
    } as PortcullisConfigInput['alerts'],
  });
}

async function alerter(cfg: ReturnType<typeof config>, consumer: string, claimIdle = 1000): Promise<AlertConsumer> {
  const a = new AlertConsumer({
    config: cfg.alerts as AlertsConfig,
    prefix: cfg.prefix,
    redis: redis.url,
    consumer,
    claimIdle,
    logger: quiet,
    blockMs: 200,
  });
  a.start();
  running.push(a);
  await a.ready;
  return a;
}

type Hook = {
  type: string;
  ip: string;
  jail: string;
  by: string;
  until: number;
  recent: Array<Record<string, unknown>>;
  total?: number;
  byJail?: Record<string, number>;
  listed?: Array<{ ip: string }>;
};
const bodies = () => hook.bodies as Hook[];

describe('ban alerts (alerts consumer group on {p}:events)', () => {
  it('mails and posts who, which jail, why, until when, by whom and the last failing requests: no query string, no body', async () => {
    const cfg = config();
    await alerter(cfg, 'host-a');
    const s = await store({ ...cfg });
    const jail = resolveJail('django-login', cfg.jails['django-login']!, cfg);
    const ip = '203.0.113.7';
    for (let i = 0; i < 3; i++) {
      await s.recordFailure(jail, ip, undefined, {
        at: Date.now(),
        method: 'POST',
        path: `/auth/login/?token=secret${i}`,
        status: 401,
        userAgent: `python-requests/2.${i}`,
      });
    }
    await s.close();

    await waitFor('one webhook call and one mail', () => hook.bodies.length === 1 && smtp.mails.length === 1);
    const body = bodies()[0]!;
    expect(body).toMatchObject({
      type: 'portcullis.ban',
      ip,
      jail: 'django-login',
      by: 'test',
      reason: '3 failures within 600s',
      count: 1,
    });
    expect(body.until).toBeGreaterThan(Date.now());
    expect(body.recent.map((r) => r.userAgent)).toEqual(['python-requests/2.2', 'python-requests/2.1', 'python-requests/2.0']);
    expect(body.recent[0]).toMatchObject({ method: 'POST', path: '/auth/login/', status: 401 });
    expect(JSON.stringify(body)).not.toContain('secret');

    const mail = smtp.mails[0]!;
    expect(mail.to).toBe('ops@example.com');
    expect(mail.subject).toContain(`banned ${ip} (jail django-login)`);
    expect(mail.body).toContain(`Address:  ${ip}`);
    expect(mail.body).toContain('Why:      3 failures within 600s');
    expect(mail.body).toContain('By:       test');
    expect(mail.body).toMatch(/POST \/auth\/login\/ 401 "python-requests\/2\.2"/);
    expect(mail.body).not.toContain('secret');
  });

  it('the Slack shape is {"text": …}', async () => {
    const cfg = config({ webhook: { url: hook.url, format: 'slack' }, email: undefined });
    await alerter(cfg, 'host-a');
    const s = await store(cfg);
    await s.ban('198.51.100.20', { jail: 'django-login', reason: 'seen in a report', duration: 60_000 });
    await s.close();
    await waitFor('a slack post', () => hook.bodies.length === 1);
    const body = hook.bodies[0] as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('banned 198.51.100.20 (jail django-login)');
    expect(body.text).toContain('seen in a report');
  });

  it('exactly one alert per ban across three hosts competing in the group', async () => {
    const cfg = config({ email: undefined });
    await Promise.all(['host-a', 'host-b', 'host-c'].map((h) => alerter(cfg, h)));
    const s = await store(cfg);
    const ips = Array.from({ length: 60 }, (_, i) => `192.0.2.${i + 1}`);
    // one at a time and many at once: the reads of the three consumers interleave
    for (const ip of ips.slice(0, 20)) await s.ban(ip, { jail: 'django-login', duration: 60_000 });
    await Promise.all(ips.slice(20).map((ip) => s.ban(ip, { jail: 'django-login', duration: 60_000 })));
    await s.close();
    await waitFor('60 posts', () => hook.bodies.length >= 60);
    const c = redis.client();
    await waitFor('all acknowledged', async () => ((await c.xpending('{pct}:events', 'alerts')) as [number])[0] === 0);
    c.disconnect();
    expect(
      bodies()
        .map((b) => b.ip)
        .sort(),
    ).toEqual([...ips].sort());
  });

  it('a burst of 100 bans sends maxSingle single alerts and one digest covering the rest', async () => {
    const cfg = config({ digest: { window: '1s', maxSingle: 3, listed: 10 } });
    await alerter(cfg, 'host-a');
    const s = await store(cfg);
    const ips = Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`);
    await s.banMany(ips, { jail: 'django-login', duration: 60_000 }); // one script: the events land at once
    await s.close();
    await waitFor(
      'a digest by webhook and mail',
      () => bodies().some((b) => b.type === 'portcullis.digest') && smtp.mails.some((m) => m.subject.includes('digest')),
    );
    const singles = bodies().filter((b) => b.type === 'portcullis.ban');
    const digest = bodies().find((b) => b.type === 'portcullis.digest')!;
    expect(singles).toHaveLength(3);
    expect(digest.total).toBe(97);
    expect(digest.byJail).toEqual({ 'django-login': 97 });
    expect(digest.listed).toHaveLength(10);
    expect(new Set([...singles.map((b) => b.ip), ...digest.listed!.map((b) => b.ip)]).size).toBe(13);
    expect(smtp.mails).toHaveLength(4);
    const mail = smtp.mails.find((m) => m.subject.includes('digest'))!;
    expect(mail.subject).toContain('97 bans (digest)');
    expect(mail.body).toContain('... and 87 more');
  });

  it('retries a failing webhook with backoff; the mail goes out meanwhile', async () => {
    const cfg = config();
    hook.failNext = 3;
    await alerter(cfg, 'host-a');
    const s = await store(cfg);
    await s.ban('203.0.113.50', { jail: 'django-login', duration: 60_000 });
    await s.close();
    await waitFor('the post after three failures', () => hook.bodies.length === 1);
    expect(hook.failed).toBeGreaterThanOrEqual(3);
    expect(smtp.mails).toHaveLength(1);
  });

  it('an alerter stopped while its webhook is down loses nothing: another host takes the alert over', async () => {
    const cfg = config({ email: undefined, retry: { base: '100ms', max: '200ms', attempts: 50 } });
    hook.failNext = 1_000_000;
    const a = await alerter(cfg, 'host-a', 500);
    const s = await store(cfg);
    await s.ban('203.0.113.60', { jail: 'django-login', duration: 60_000 });
    await s.close();
    await waitFor('the first attempts fail', () => hook.failed >= 2);
    await a.stop();
    hook.failNext = 0;
    await alerter(cfg, 'host-b', 500);
    await waitFor('host-b delivers it', () => hook.bodies.length === 1);
    expect(bodies()[0]!.ip).toBe('203.0.113.60');
  });

  it("a dead webhook never delays a ban: the sidecar's firewall group applies it while its alerter retries", async () => {
    const cfg = config({ email: undefined, retry: { base: '100ms', max: '200ms', attempts: 50 } });
    hook.failNext = 1_000_000;
    // the sidecar runs the alerts consumer itself when the config has `alerts`
    const sidecar: Sidecar = await startSidecar(cfg, { hostId: 'host-a', healthPort: false, logger: quiet, blockMs: 200 });
    running.push(sidecar);
    await sidecar.ready;
    const s = await store(cfg);
    await s.ban('203.0.113.70', { jail: 'django-login', duration: 60_000 });
    await s.close();
    await waitFor('the firewall holds the ban', () => sidecar.owned.has('203.0.113.70'));
    await waitFor('the alert is being retried', () => hook.failed >= 1);
    expect(hook.bodies).toHaveLength(0);
    hook.failNext = 0;
    await waitFor('delivered once the webhook is back', () => hook.bodies.length === 1);
  });

  it("the alerts group may not be a host's own group", async () => {
    const cfg = config({ group: 'host-a' });
    await expect(startSidecar(cfg, { hostId: 'host-a', healthPort: false, logger: quiet })).rejects.toThrow(
      /alerts\.group: must differ from the host id "host-a"/,
    );
  });
});

/** long enough that a failing channel is still being retried while the test looks */
const SLOW_RETRY = { base: '200ms', max: '1s', attempts: 50 };

/** a sidecar with its health server, once its alerter has joined the group */
async function healthSidecar(cfg: ReturnType<typeof config>, hostId: string): Promise<Sidecar> {
  const s = await startSidecar(cfg, { hostId, healthPort: 0, logger: quiet, blockMs: 200 });
  running.push(s);
  await s.ready;
  await s.alerts!.ready;
  return s;
}

/** /healthz once `ok` says its body is what the test waits for */
async function healthWhen(s: Sidecar, what: string, ok: (body: any) => boolean): Promise<{ status: number; body: any }> {
  let last: { status: number; body: any } | undefined;
  await waitFor(what, async () => {
    last = await getJson(s.healthPort, '/healthz');
    return ok(last.body);
  });
  return last!;
}

describe("/healthz and /metrics report the alerter's state; its trouble never fails the sidecar", () => {
  it('a webhook answering 500: alerts degraded with the error and the entry pending, the ban applied, /healthz still 200; ok again once it answers', async () => {
    const cfg = config({ retry: SLOW_RETRY });
    hook.failNext = 1_000_000;
    const s = await healthSidecar(cfg, 'host-a');
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
    const cfg = config({ retry: SLOW_RETRY, email: { smtp: dead.url, from: 'portcullis@example.com', to: ['ops@example.com'] } });
    const s = await healthSidecar(cfg, 'host-b');
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
    const s = await startSidecar(testConfig(redis.url), { hostId: 'host-c', healthPort: 0, logger: quiet, blockMs: 200 });
    running.push(s);
    await s.ready;
    expect((await getJson(s.healthPort, '/healthz')).body.alerts).toEqual({ enabled: false });
  });
});
