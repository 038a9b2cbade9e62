import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@portcullis/core';
import { startSidecar, type Sidecar } from '@portcullis/sidecar';
import { pino } from 'pino';
import { RedisServer, SmtpSink, waitFor } from '@portcullis/testkit';
import { send, startGateway, type TestGateway } from '@portcullis/testkit/fixtures';
import { startStandInDjango, type StandInDjango } from '../examples/gateway/src/stand-in-django.js';

let redis: RedisServer;
let smtp: SmtpSink;
let django: StandInDjango;
let gateway: TestGateway;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  [redis, smtp, django] = await Promise.all([RedisServer.start(), SmtpSink.start(), startStandInDjango()]);
});
afterAll(async () => {
  for (const s of sidecars) await s.stop();
  await gateway?.close();
  await django?.close();
  smtp?.stop();
  await redis?.stop();
});

describe("action_mwl, end to end: gateway → Redis → the sidecars' alerts group → mail", () => {
  it("the guide's 6 bad logins give one mail, from one of two hosts, quoting the failing requests", async () => {
    const input = {
      redis: redis.url,
      trustProxy: ['127.0.0.1'],
      jails: { 'django-login': { preset: 'django.login' as const } },
      firewall: { backend: 'dry-run' as const },
      alerts: { email: { smtp: smtp.url, from: 'portcullis@example.com', to: ['ops@example.com'] } },
    };
    gateway = await startGateway(input, django.url, { by: 'gateway@web1' });
    const quiet = pino({ level: 'silent' });
    for (const hostId of ['web1', 'web2']) {
      const s = await startSidecar(parseConfig(input), { hostId, healthPort: false, logger: quiet, blockMs: 200 });
      await s.ready;
      sidecars.push(s);
    }
    // both hosts' alerters have joined the group before the attack
    await Promise.all(sidecars.map((s) => s.alerts!.ready));
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push((await send(gateway.url, '/auth/login/', { ip: '203.0.113.7', headers: { 'user-agent': 'curl/8.5.0' } })).status);
    }
    expect(codes).toEqual([401, 401, 401, 401, 401, 403]);
    await waitFor('the mail', () => smtp.mails.length >= 1, 20_000);
    const mail = smtp.mails[0]!;
    expect(mail.subject).toContain('banned 203.0.113.7 (jail django-login)');
    expect(mail.body).toContain('Why:      5 failures within 600s');
    expect(mail.body).toContain('By:       gateway@web1');
    expect(mail.body).toContain('Last 5 failing requests (newest first):');
    expect(mail.body.match(/POST \/auth\/login\/ 401 "curl\/8\.5\.0"/g)).toHaveLength(5);
    expect(mail.body).not.toMatch(/password|bad/);
    // both sidecars applied the ban; only one sent the mail
    await waitFor('both firewalls', () => sidecars.every((s) => s.owned.has('203.0.113.7')), 20_000);
    const c = redis.client();
    await waitFor('the alert acknowledged', async () => ((await c.xpending('{portcullis}:events', 'alerts')) as [number])[0] === 0, 20_000);
    c.disconnect();
    expect(smtp.mails).toHaveLength(1);
  });
});
