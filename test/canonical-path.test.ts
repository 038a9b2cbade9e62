import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { djangoMissing, djangoVersion, type ExampleDjango, RedisServer, startExampleDjango, waitFor } from '@portcullis/testkit';
import { type ExampleGateway, rawExchange, rawRequest, startExampleGateway } from '@portcullis/testkit/fixtures';

// One canonical path: whatever target an attacker writes on the request line,
// the path Django routes on is the path the jail matched. Every variant either
// reaches the login view and is counted, or does not reach it. Targets are
// sent raw (node:net): an HTTP client would normalise them first.

const title = djangoVersion ? `one canonical path, against Django ${djangoVersion}` : `one canonical path (skipped: ${djangoMissing})`;

/** each variant of a login path, and whether it reaches the view (after the gateway decided the path) */
const VARIANTS: Array<[target: (login: string) => string, reaches: boolean]> = [
  [(p) => p, true],
  [(p) => p.replace('/login/', '//login/'), true],
  [(p) => `${p}/`, true],
  [(p) => p.replace('/login/', '///login/'), true],
  [(p) => `/${p}`, true],
  [(p) => p.replace('/login/', '\\login/'), false],
  [(p) => `${p.slice(0, -1)}\\`, false],
  [(p) => `/\\${p.slice(1)}`, false],
  [(p) => `http://127.0.0.1${p}`, true],
  [(p) => `http://evil.example${p}?next=/`, true],
  [(p) => p.replace('/login/', '%2Flogin/'), true],
  [(p) => p.replace('/login/', '/%6Cogin/'), true],
  [(p) => p.replace('/login/', '/%2e/login/'), true],
  [(p) => p.replace('/login/', '/./login/'), true],
  [(p) => p.replace('/login/', '/x/../login/'), true],
  [(p) => p.replace('/login/', '/x/%2e%2e/login/'), true],
  [(p) => `${p};x`, false],
  [(p) => p.replace('/login/', '/login;x/'), false],
  [(p) => p.replace('/login/', '/%256Cogin/'), false],
  [(p) => p.replace('/login/', '%252Flogin/'), false],
  [(p) => p.replace('/login/', '%C0%AFlogin/'), false],
  [(p) => p.replace('/login/', '/%C0%ACogin/'), false],
  [(p) => p.replace('/login/', '/%zzogin/'), false],
  [(p) => p.replace('/login/', '/LOGIN/'), false],
  [(p) => p.slice(0, -1), false],
];

describe.runIf(Boolean(djangoVersion))(title, () => {
  let redis: RedisServer;
  let cli: Redis;
  let django: ExampleDjango;
  let g: ExampleGateway;
  let csrf: { cookie: string; token: string };

  beforeAll(async () => {
    redis = await RedisServer.start();
    cli = redis.client();
    django = await startExampleDjango({ PORTCULLIS_FAILURE_JAIL: 'signal' });
    g = await startExampleGateway(
      {
        redis: redis.url,
        trustProxy: ['127.0.0.1'],
        defaults: { bantime: 3600, findtime: 600, maxretry: 5 },
        // the rule jails count by rule alone; the helper's header names its own jail
        jails: {
          'django-login': { preset: 'django.login' },
          'django-admin': { preset: 'django.admin' },
          signal: { preset: 'django.signal', maxretry: 10_000 },
        },
        gateway: { commandTimeout: 5000 },
      },
      django.url,
    );
    // the admin form needs a CSRF cookie and token; one pair serves every attempt
    const page = await fetch(`${django.url}/admin/login/`);
    const cookie = page.headers
      .getSetCookie()
      .find((c) => c.startsWith('csrftoken='))!
      .split(';')[0]!;
    const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(await page.text())![1]!;
    csrf = { cookie, token };
  });
  afterAll(async () => {
    await g?.close();
    cli?.disconnect();
    await redis?.stop();
    await django?.close();
  });

  const logins = [
    { jail: 'django-login', path: '/auth/login/', body: () => '{"username":"demo","password":"wrong"}', headers: () => ({}) },
    {
      jail: 'django-admin',
      path: '/admin/login/',
      body: () => new URLSearchParams({ csrfmiddlewaretoken: csrf.token, username: 'demo', password: 'wrong', next: '/admin/' }).toString(),
      headers: () => ({ 'Content-Type': 'application/x-www-form-urlencoded', Cookie: csrf.cookie }),
    },
  ];

  for (const login of logins) {
    it(`${login.path}: every variant reaches the login view and is counted, or does not reach it`, async () => {
      const outcomes: string[] = [];
      const wrong: string[] = [];
      for (const [i, [variant, reaches]] of VARIANTS.entries()) {
        const target = variant(login.path);
        const ip = `198.51.${login.jail === 'django-login' ? 1 : 2}.${i + 1}`;
        const before = g.loginFailures.length;
        const { statuses } = await rawExchange(
          g.port,
          rawRequest(target, { ip, close: true, body: login.body(), headers: login.headers() }),
        );
        const reached = g.loginFailures.length - before;
        // a unit held for this attempt is given back only after its failure was recorded
        await waitFor('the verdict recorded', async () => (await cli.exists(`{portcullis}:held:${login.jail}:${ip}`)) === 0);
        const counted = await cli.zcard(`{portcullis}:fail:${login.jail}:${ip}`);
        outcomes.push(`${target} → ${statuses.join(',')} reached ${reached} counted ${counted}`);
        if (reached !== counted || reached !== (reaches ? 1 : 0)) wrong.push(outcomes.at(-1)!);
      }
      expect(wrong, outcomes.join('\n')).toEqual([]);
    });
  }

  it('an ambiguous target is refused with 400 before the proxy', async () => {
    const before = g.loginFailures.length;
    const { statuses } = await rawExchange(g.port, rawRequest('/auth\\login/', { ip: '198.51.3.1', close: true }));
    expect(statuses).toEqual([400]);
    expect(g.loginFailures.length).toBe(before);
  });
});
