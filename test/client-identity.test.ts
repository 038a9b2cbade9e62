import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PortcullisConfigInput } from '@portcullis/core';
import { startStandInDjango, type StandInDjango } from '../examples/gateway/src/stand-in-django.js';
import { type ExampleGateway, gatewaySuite } from '@portcullis/testkit/fixtures';

// Who is the client, attacked: IPv6 rotation inside one /64, forwarding
// headers with ports, Forwarded / X-Real-IP proxies, proxies that name nobody.
// Through the example gateway (http-proxy-middleware); loopback is the trusted proxy.

const suite = gatewaySuite(startStandInDjango);

const config = (extra: Partial<PortcullisConfigInput> = {}): PortcullisConfigInput => ({
  trustProxy: ['127.0.0.1'],
  defaults: { bantime: 3600, findtime: 600, maxretry: 5 },
  jails: { 'django-login': { preset: 'django.login' } },
  ...extra,
});

/** a gateway whose warnings are kept */
async function gateway(extra: Partial<PortcullisConfigInput> = {}) {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      const line = JSON.parse(String(chunk)) as { msg: string };
      warnings.push(line.msg);
      cb();
    },
  });
  const g = await suite.gateway(config(extra), { logger: pino({ level: 'warn' }, sink) });
  return { g, warnings };
}

const post = (g: ExampleGateway, headers: Record<string, string>, path = '/auth/login/') =>
  fetch(`${g.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{"password":"bad"}',
  }).then((r) => r.status);

describe('IPv6: counted and banned by prefix', () => {
  it('40 addresses of one /64 are one client: 5 attempts, then the whole /64 is banned', async () => {
    const { g } = await gateway();
    const codes: number[] = [];
    for (let i = 1; i <= 40; i++) codes.push(await post(g, { 'x-forwarded-for': `2001:db8:1:2::${i.toString(16)}` }));
    expect(codes.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(codes.slice(5).every((c) => c === 403)).toBe(true);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['2001:db8:1:2::/64']);
    // a neighbour /64 and the clean pages of others are untouched
    expect(await post(g, { 'x-forwarded-for': '2001:db8:1:3::1' })).toBe(401);
  });

  it('a jail can count per address (ipv6Prefix: 128) or wider (48)', async () => {
    const { g } = await gateway({ jails: { 'django-login': { preset: 'django.login', ipv6Prefix: 128 } } });
    for (let i = 1; i <= 20; i++) expect(await post(g, { 'x-forwarded-for': `2001:db8:5:5::${i}` })).toBe(401);
    expect(await suite.cli.zcard('{portcullis}:bans')).toBe(0);
    const wide = await gateway({ ipv6Prefix: 48 });
    const codes: number[] = [];
    for (let i = 1; i <= 6; i++) codes.push(await post(wide.g, { 'x-forwarded-for': `2001:db8:6:${i}::1` }));
    expect(codes).toEqual([401, 401, 401, 401, 401, 403]);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['2001:db8:6::/48']);
  });

  it('a /64 holding a protected address is never banned: its addresses count one by one', async () => {
    const { g } = await gateway({ ignoreIp: ['127.0.0.0/8', '::1', '2001:db8:9:9::1'] });
    for (let i = 2; i <= 30; i++) expect(await post(g, { 'x-forwarded-for': `2001:db8:9:9::${i}` })).toBe(401);
    for (let i = 0; i < 10; i++) expect(await post(g, { 'x-forwarded-for': '2001:db8:9:9::1' })).toBe(401);
    expect(await suite.cli.zcard('{portcullis}:bans')).toBe(0);
    // one address of it failing alone is still stopped
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push(await post(g, { 'x-forwarded-for': '2001:db8:9:9::77' }));
    expect(codes.at(-1)).toBe(403);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['2001:db8:9:9::77']);
  });
});

describe('forwarding headers as proxies write them', () => {
  it('X-Forwarded-For entries with ports are the same client', async () => {
    const { g } = await gateway();
    const codes: number[] = [];
    for (const entry of ['203.0.113.80:40000', '203.0.113.80:40001', '203.0.113.80', '203.0.113.80:1', '203.0.113.80:2', '203.0.113.80'])
      codes.push(await post(g, { 'x-forwarded-for': entry }));
    expect(codes).toEqual([401, 401, 401, 401, 401, 403]);
    const v6: number[] = [];
    for (let i = 0; i < 6; i++) v6.push(await post(g, { 'x-forwarded-for': `[2001:db8:7::${i + 1}]:443` }));
    expect(v6).toEqual([401, 401, 401, 401, 401, 403]);
    expect((await suite.cli.zrange('{portcullis}:bans', 0, -1)).sort()).toEqual(['2001:db8:7::/64', '203.0.113.80']);
  });

  it('clientHeader: forwarded reads RFC 7239 for=, right-most untrusted, and ignores X-Forwarded-For', async () => {
    const { g } = await gateway({ clientHeader: 'forwarded', trustProxy: ['127.0.0.1', '10.0.0.0/8'] });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++)
      codes.push(
        await post(g, {
          forwarded: `for=198.51.100.${i};proto=https, for="203.0.113.81:4711", for=10.1.2.3`,
          'x-forwarded-for': `192.0.2.${i}`,
        }),
      );
    expect(codes).toEqual([401, 401, 401, 401, 401, 403]);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['203.0.113.81']);
  });

  it('clientHeader: x-real-ip', async () => {
    const { g } = await gateway({ clientHeader: 'x-real-ip' });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push(await post(g, { 'x-real-ip': '203.0.113.82' }));
    expect(codes).toEqual([401, 401, 401, 401, 401, 403]);
  });

  it('a client header that names nobody ("unknown", garbage) never skips the ban check silently', async () => {
    const { g, warnings } = await gateway({ clientHeader: 'forwarded' });
    const before = (suite.upstream as StandInDjango).total();
    for (let i = 0; i < 3; i++) expect(await post(g, { forwarded: 'for=unknown' })).toBe(400);
    expect(await post(g, { forwarded: 'for=;;' })).toBe(400);
    expect((suite.upstream as StandInDjango).total()).toBe(before);
    expect(warnings.filter((w) => w.includes('names no client address'))).toHaveLength(1);
    expect(warnings.filter((w) => w.includes('cannot be determined'))).toHaveLength(1);
  });

  it('warns once when a trusted proxy sends no client header, and names the one it sends instead', async () => {
    const { g, warnings } = await gateway();
    for (let i = 0; i < 3; i++) expect(await post(g, { 'x-real-ip': '203.0.113.83' })).toBe(401);
    const missing = warnings.filter((w) => w.includes('sent no x-forwarded-for'));
    expect(missing).toHaveLength(1);
    expect(missing[0]).toContain('x-real-ip');
  });
});
