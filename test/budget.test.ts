import { describe, expect, it } from 'vitest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { DEMO_PASSWORD, djangoMissing, djangoVersion, startExampleDjango, waitFor } from '@portcullis/testkit';
import { type ExampleGateway, gatewaySuite, rawExchange, rawRequest } from '@portcullis/testkit/fixtures';

// The guess budget, attacked the way an attacker would: many attempts in
// flight at once against the example gateway (http-proxy-middleware) and
// Debian's real Django. "Reached" = Django ran the login and it failed.

const title = djangoVersion ? `the guess budget against Django ${djangoVersion}` : `the guess budget (skipped: ${djangoMissing})`;

describe.runIf(Boolean(djangoVersion))(title, () => {
  // the helper's header names its own jail, so the rule jails count by rule alone
  const suite = gatewaySuite(() => startExampleDjango({ PORTCULLIS_FAILURE_JAIL: 'signal' }));

  const config = (): PortcullisConfigInput => ({
    trustProxy: ['127.0.0.1'],
    defaults: { bantime: 3600, findtime: 600, maxretry: 5 },
    jails: {
      'django-login': { preset: 'django.login' },
      'django-admin': { preset: 'django.admin' },
      signal: { preset: 'django.signal', maxretry: 10_000 },
    },
    // a loaded 2-core machine: the budget is the point here, not the fail-open timeout
    gateway: { commandTimeout: 5000 },
  });
  const gateway = () => suite.gateway(config());
  const reached = (...gs: ExampleGateway[]) => gs.reduce((n, g) => n + g.loginFailures.length, 0);
  const login = (g: ExampleGateway, ip: string, password = 'wrong') =>
    fetch(`${g.url}/auth/login/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ username: 'demo', password }),
    }).then((r) => r.status);

  for (const n of [30, 500]) {
    it(`${n} parallel bad logins of one client: exactly maxretry reach Django, the rest never do`, async () => {
      const g = await gateway();
      const codes = await Promise.all(Array.from({ length: n }, () => login(g, '203.0.113.50')));
      expect(reached(g)).toBe(5);
      expect(codes.filter((c) => c === 401)).toHaveLength(5);
      // the rest waited for those verdicts and met the ban (or, past the wait, were told to retry)
      expect(codes.every((c) => c === 401 || c === 403 || c === 429)).toBe(true);
      expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['203.0.113.50']);
      await waitFor(
        'the reservations given back',
        async () => (await suite.cli.exists('{portcullis}:held:django-login:203.0.113.50')) === 0,
      );
      expect(await login(g, '203.0.113.50')).toBe(403);
      expect(reached(g)).toBe(5);
    });
  }

  it('20 pipelined bad logins on one keep-alive connection: 5 reach Django', async () => {
    const g = await gateway();
    const raw = Array.from({ length: 20 }, (_, i) => rawRequest('/auth/login/', { ip: '203.0.113.51', close: i === 19 })).join('');
    const { statuses } = await rawExchange(g.port, raw);
    expect(statuses).toHaveLength(20);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(reached(g)).toBe(5);
    expect(statuses.slice(5).every((s) => s === 403 || s === 429)).toBe(true);
  });

  it('HTTP/1.0, a connection per attempt, 30 at once: 5 reach Django', async () => {
    const g = await gateway();
    const results = await Promise.all(
      Array.from({ length: 30 }, () => rawExchange(g.port, rawRequest('/auth/login/', { ip: '203.0.113.52', version: 'HTTP/1.0' }))),
    );
    const statuses = results.flatMap((r) => r.statuses);
    expect(statuses).toHaveLength(30);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(reached(g)).toBe(5);
  });

  it('three gateways sharing Redis: still exactly maxretry in all (reservations live in Redis)', async () => {
    const gs = [await gateway(), await gateway(), await gateway()];
    const codes = await Promise.all(Array.from({ length: 90 }, (_, i) => login(gs[i % 3]!, '203.0.113.53')));
    expect(reached(...gs)).toBe(5);
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.every((c) => c === 401 || c === 403 || c === 429)).toBe(true);
  });

  it('a legitimate user: one wrong password, then the right one; four wrong and two right at once: never a 403 or 429', async () => {
    const g = await gateway();
    expect(await login(g, '203.0.113.54')).toBe(401);
    expect(await login(g, '203.0.113.54', DEMO_PASSWORD)).toBe(200);
    for (let i = 0; i < 4; i++) expect(await login(g, '203.0.113.55')).toBe(401);
    // the last unit of the budget is held by the first; the second waits for its verdict (a success gives it back)
    const both = await Promise.all([login(g, '203.0.113.55', DEMO_PASSWORD), login(g, '203.0.113.55', DEMO_PASSWORD)]);
    expect(both).toEqual([200, 200]);
    expect(await suite.cli.zcard('{portcullis}:bans')).toBe(0);
  });

  it('a wrong password then the right one: two Redis round trips each, the failure giving its unit back inside its script', async () => {
    const g = await gateway();
    const ip = '203.0.113.57';
    const held = `{portcullis}:held:django-login:${ip}`;
    // another client loads the scripts first (a fresh Redis answers the first EVALSHA with NOSCRIPT)
    expect(await login(g, '203.0.113.58')).toBe(401);
    const monitor = await suite.cli.monitor();
    // the django-login jail's own commands for this client (the signal jail records the helper's header apart)
    const seen: Array<{ command: string; lua: boolean }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args.some((a) => a.endsWith(`:django-login:${ip}`)) || args[1] === 'budget-marker')
        seen.push({ command: args[0]!.toLowerCase(), lua: source === 'lua' });
    });
    try {
      expect(await login(g, ip)).toBe(401);
      await waitFor('the failure recorded', async () => (await suite.cli.zcard(`{portcullis}:fail:django-login:${ip}`)) === 1);
      expect(await suite.cli.exists(held)).toBe(0);
      expect(await login(g, ip, DEMO_PASSWORD)).toBe(200);
      await waitFor('the unit given back', async () => (await suite.cli.exists(held)) === 0);
      // MONITOR shows commands in the order Redis ran them: once the marker is seen, all of the pair is
      await suite.cli.echo('budget-marker');
      await waitFor('the marker seen', () => seen.some((c) => c.command === 'echo'));
    } finally {
      monitor.disconnect();
    }
    // what the gateway sent (the test's own reads aside): reserve + record (wrong), reserve + release (right)
    const sent = seen.filter((c) => !c.lua && (c.command === 'evalsha' || c.command === 'zrem')).map((c) => c.command);
    expect(sent).toEqual(['evalsha', 'evalsha', 'evalsha', 'zrem']);
    expect(seen.filter((c) => c.lua && c.command === 'zrem')).toHaveLength(1);
  });

  it('clean requests and other paths take no unit: a client mid-attack still reads pages', async () => {
    const g = await gateway();
    for (let i = 0; i < 4; i++) expect(await login(g, '203.0.113.56')).toBe(401);
    const pages = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${g.url}/admin/login/`, { headers: { 'x-forwarded-for': '203.0.113.56' } }).then((r) => r.status),
      ),
    );
    expect(pages.every((s) => s === 200)).toBe(true);
    expect(await suite.cli.exists('{portcullis}:held:django-login:203.0.113.56')).toBe(0);
  });
});
