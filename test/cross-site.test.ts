import { describe, expect, it } from 'vitest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { startStandInDjango, type StandInDjango } from '../examples/gateway/src/stand-in-django.js';
import { type ExampleGateway, gatewaySuite } from '@portcullis/testkit/fixtures';

// A page on another site auto-submits login forms: the visitor's browser sends
// them with Sec-Fetch-Site: cross-site. That must not lock the visitor out,
// and a bot forging the header must not get guesses out of it.

const suite = gatewaySuite(startStandInDjango);
const hits = () => (suite.upstream as StandInDjango).hits.get('/auth/login/') ?? 0;

const gateway = (gatewayConfig: PortcullisConfigInput['gateway'] = {}) =>
  suite.gateway({
    trustProxy: ['127.0.0.1'],
    defaults: { bantime: 3600, findtime: 600, maxretry: 5 },
    jails: { 'django-login': { preset: 'django.login' }, 'http-404': { preset: 'http.notFound', maxretry: 30 } },
    gateway: gatewayConfig,
  });
const login = (g: ExampleGateway, ip: string, site?: string, password = 'bad') =>
  fetch(`${g.url}/auth/login/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip, ...(site ? { 'sec-fetch-site': site } : {}) },
    body: JSON.stringify({ password }),
  }).then((r) => r.status);

describe('cross-site login attempts (Sec-Fetch-Site: cross-site)', () => {
  it('are refused before Django and never counted: the visitor can still log in', async () => {
    const g = await gateway();
    const before = hits();
    for (let i = 0; i < 20; i++) expect(await login(g, '203.0.113.90', 'cross-site')).toBe(403);
    expect(hits()).toBe(before);
    expect(await suite.cli.exists('{portcullis}:fail:django-login:203.0.113.90')).toBe(0);
    // the visitor, on the site itself
    expect(await login(g, '203.0.113.90', 'same-origin', 'good')).toBe(200);
    expect(await login(g, '203.0.113.90', undefined, 'bad')).toBe(401);
  });

  it('a bot forging the header gets no guess out of it; without it, the budget and the ban hold', async () => {
    const g = await gateway();
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push(await login(g, '203.0.113.91', i % 2 ? 'cross-site' : 'none'));
    // only the 5 attempts without the header reached Django; they banned the bot
    expect(codes).toEqual([401, 403, 401, 403, 401, 403, 401, 403, 401, 403]);
    expect(await login(g, '203.0.113.91', 'none')).toBe(403);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['203.0.113.91']);
  });

  it('other cross-site requests still count (a scanner cannot hide behind the header)', async () => {
    const g = await gateway();
    const codes: number[] = [];
    for (let i = 0; i < 31; i++)
      codes.push(
        (await fetch(`${g.url}/wp-${i}.php`, { headers: { 'x-forwarded-for': '203.0.113.92', 'sec-fetch-site': 'cross-site' } })).status,
      );
    expect(codes.slice(0, 30).every((c) => c === 404)).toBe(true);
    expect(codes[30]).toBe(403);
  });

  it('crossSite: count treats them like any attempt', async () => {
    const g = await gateway({ crossSite: 'count' });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push(await login(g, '203.0.113.93', 'cross-site'));
    expect(codes).toEqual([401, 401, 401, 401, 401, 403]);
  });
});
