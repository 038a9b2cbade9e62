import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { pino, type Logger } from 'pino';
import { PortcullisError, type PortcullisConfigInput } from '@portcullis/core';
import { keyAddress, portcullis, type BlockedInfo, type PortcullisMiddleware, type PortcullisOptions } from '@portcullis/express';
import { gatewaySuite, send } from '@portcullis/testkit/fixtures';

/**
 * The hooks, each through a real gateway: Express + Portcullis +
 * http-proxy-middleware in front of a stand-in upstream, with a real
 * redis-server behind the guard.
 */

interface Upstream {
  url: string;
  /** requests it answered since the test began */
  hits: number;
  close(): Promise<void>;
}

// one redis-server and one upstream for the file; Redis flushed before each test
const suite = gatewaySuite(startUpstream);
const upstream = (): Upstream => suite.upstream as Upstream;
const open: Array<{ close(): Promise<void> }> = [];
beforeEach(() => {
  upstream().hits = 0;
});
afterEach(async () => {
  for (const g of open.splice(0)) await g.close();
});

/** Django stand-in: an API login (401), a GraphQL endpoint (always 200; a failed login mutation flagged in a header), /ok/. */
async function startUpstream(): Promise<Upstream> {
  const state = { hits: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    state.hits++;
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const bad = text.includes('bad');
      if (req.method === 'POST' && req.url === '/auth/login/') res.writeHead(bad ? 401 : 200).end();
      else if (req.method === 'POST' && req.url === '/graphql') {
        // GraphQL answers 200 with an error body; the app flags the failed login for the gateway
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (bad) headers['X-Login-Result'] = 'failed';
        res.writeHead(200, headers).end(bad ? '{"errors":[{"message":"invalid credentials"}]}' : '{"data":{"login":{"token":"t"}}}');
      } else if (req.url === '/ok/' || req.url === '/internal/status') res.writeHead(200).end('ok');
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get hits() {
      return state.hits;
    },
    set hits(n: number) {
      state.hits = n;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A logger whose lines the test reads. */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

interface Gateway {
  url: string;
  guard: PortcullisMiddleware;
}

/** Express + the guard + http-proxy-middleware to the stand-in; `configure` sees the app first (trust proxy). */
async function gateway(
  config: PortcullisConfigInput,
  opts: PortcullisOptions = {},
  configure?: (app: express.Express) => void,
): Promise<Gateway> {
  const guard = portcullis(config, { logger: pino({ level: 'silent' }), ...opts });
  const app = express();
  configure?.(app);
  app.use(guard);
  app.use(createProxyMiddleware({ target: upstream().url }));
  await guard.ready();
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  open.push({
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await guard.close();
    },
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, guard };
}

const config = (extra: Partial<PortcullisConfigInput> = {}): PortcullisConfigInput => ({
  redis: suite.redis.url,
  trustProxy: ['127.0.0.1'],
  defaults: { bantime: 3600, findtime: 600, maxretry: 3 },
  jails: { 'django-login': { preset: 'django.login' } },
  ...extra,
});

/** Every key in Redis, with the members/fields of the bans set and hashes, as one text. */
async function everythingInRedis(): Promise<string> {
  const keys = await suite.cli.keys('*');
  const parts = [...keys];
  for (const k of keys) {
    const type = await suite.cli.type(k);
    if (type === 'zset') parts.push(...(await suite.cli.zrange(k, 0, -1)));
    if (type === 'hash') parts.push(...Object.values(await suite.cli.hgetall(k)));
    if (type === 'stream') parts.push(JSON.stringify(await suite.cli.xrange(k, '-', '+')));
  }
  return parts.join('\n');
}

describe('keyGenerator', () => {
  const byApiKey: PortcullisOptions['keyGenerator'] = (req) => (req.headers['x-api-key'] as string | undefined) ?? null;

  it('counts and bans an API key across addresses; the address without the key and other keys go on', async () => {
    const g = await gateway(config(), { keyGenerator: byApiKey });
    const secret = 'sk_live_tenant-42';
    // three failures of one key, each from another address (a botnet sharing a stolen key)
    const codes: number[] = [];
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'])
      codes.push((await send(g.url, '/auth/login/', { ip, headers: { 'x-api-key': secret } })).status);
    expect(codes).toEqual([401, 401, 401, 403]);
    // the key is banned, not the addresses
    expect((await send(g.url, '/ok/', { method: 'GET', ip: '198.51.100.9', headers: { 'x-api-key': secret } })).status).toBe(403);
    expect((await send(g.url, '/auth/login/', { ip: '203.0.113.1' })).status).toBe(401);
    expect((await send(g.url, '/auth/login/', { ip: '203.0.113.1', headers: { 'x-api-key': 'sk_other' } })).status).toBe(401);
    // held under the key's address; the key's text never reaches Redis
    expect(await suite.cli.hget(`{portcullis}:ban:${keyAddress(secret)}`, 'jail')).toBe('django-login');
    expect(keyAddress(secret)).toMatch(/^100::/);
    expect(await everythingInRedis()).not.toContain('sk_live');
  });

  it('40 attempts of one key in flight at once from 40 addresses: the key gets its 3 guesses, no more', async () => {
    const g = await gateway(config(), { keyGenerator: byApiKey });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => send(g.url, '/auth/login/', { ip: `203.0.113.${100 + i}`, headers: { 'x-api-key': 'stolen' } })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.every((s) => s === 401 || s === 403 || s === 429)).toBe(true);
    expect(upstream().hits).toBe(3);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual([keyAddress('stolen')]);
  });

  it('any key text (CRLF, braces, 4 kB) is hashed: never a Redis key', async () => {
    const g = await gateway(config(), { keyGenerator: byApiKey });
    const nasty = `a\r\n*3\r\n$3\r\nDEL{portcullis}:bans:${'x'.repeat(4000)}`;
    const header = encodeURIComponent(nasty);
    for (let i = 0; i < 3; i++)
      expect((await send(g.url, '/auth/login/', { ip: '203.0.113.5', headers: { 'x-api-key': header } })).status).toBe(401);
    expect((await send(g.url, '/auth/login/', { ip: '203.0.113.6', headers: { 'x-api-key': header } })).status).toBe(403);
    const all = await everythingInRedis();
    expect(all).not.toContain('DEL');
    expect(all).toContain(keyAddress(header));
  });

  it('loopback, trusted proxies and ignoreIp stay exempt whatever the key', async () => {
    const g = await gateway(config({ ignoreIp: ['198.51.100.0/24'] }), { keyGenerator: byApiKey });
    for (let i = 0; i < 6; i++) {
      // no X-Forwarded-For: the client is our loopback proxy itself
      expect((await send(g.url, '/auth/login/', { headers: { 'x-api-key': 'k-proxy' } })).status).toBe(401);
      expect((await send(g.url, '/auth/login/', { ip: '198.51.100.7', headers: { 'x-api-key': 'k-ignored' } })).status).toBe(401);
    }
    expect(await suite.cli.zcard('{portcullis}:bans')).toBe(0);
  });

  it('a throwing or non-string keyGenerator falls back to the address, logged once with its code', async () => {
    const { logger, lines } = capturingLogger();
    let calls = 0;
    const g = await gateway(config(), {
      logger,
      keyGenerator: () => {
        calls++;
        if (calls % 2 === 0) return 42 as unknown as string;
        throw new Error('tenant lookup failed');
      },
    });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await send(g.url, '/auth/login/', { ip: '203.0.113.20' })).status);
    expect(codes).toEqual([401, 401, 401, 403]);
    expect(await suite.cli.exists('{portcullis}:ban:203.0.113.20')).toBe(1);
    const logged = lines.filter((l) => typeof l.code === 'string').map((l) => l.code);
    expect(logged).toEqual(['ERR_PORTCULLIS_KEY_GENERATOR_FAILED', 'ERR_PORTCULLIS_KEY_GENERATOR_RESULT']);
    expect(String(lines.find((l) => l.code === 'ERR_PORTCULLIS_KEY_GENERATOR_FAILED')?.msg)).toContain(
      'docs/error-codes.md#err_portcullis_key_generator_failed',
    );
  });
});

describe('skip', () => {
  it('a skipped request is neither checked nor counted; skip() sees the canonical url', async () => {
    const g = await gateway(config(), { skip: (req) => req.url === '/internal/status' || req.headers['x-internal'] === 'yes' });
    // internal callers: never counted
    for (let i = 0; i < 6; i++)
      expect((await send(g.url, '/auth/login/', { ip: '203.0.113.30', headers: { 'x-internal': 'yes' } })).status).toBe(401);
    expect(await suite.cli.exists('{portcullis}:fail:django-login:203.0.113.30')).toBe(0);
    // a banned client still reaches the health check, and only it
    for (let i = 0; i < 4; i++) await send(g.url, '/auth/login/', { ip: '203.0.113.31' });
    expect((await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.31' })).status).toBe(403);
    expect((await send(g.url, '/internal/status', { method: 'GET', ip: '203.0.113.31' })).status).toBe(200);
    // dot segments are resolved before skip() runs: no way around the ban through the skipped path
    expect((await send(g.url, '/internal/status/../../auth/login/', { ip: '203.0.113.31' })).status).toBe(403);
  });

  it('a throwing skip() skips nothing', async () => {
    const { logger, lines } = capturingLogger();
    const g = await gateway(config(), {
      logger,
      skip: () => {
        throw new Error('boom');
      },
    });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await send(g.url, '/auth/login/', { ip: '203.0.113.32' })).status);
    expect(codes).toEqual([401, 401, 401, 403]);
    expect(lines.filter((l) => l.code === 'ERR_PORTCULLIS_SKIP_FAILED')).toHaveLength(1);
  });
});

describe('handler', () => {
  it('answers a banned client in JSON (an API), with Retry-After already set', async () => {
    const seen: unknown[] = [];
    const g = await gateway(config(), {
      // typed with Express's own Request/Response: accepted as is
      handler: (_req: express.Request, res: express.Response, _next: express.NextFunction, info: BlockedInfo) => {
        seen.push(info);
        res.status(429).json({ error: 'locked', retryAfter: info.retryAfter, until: new Date(info.until).toISOString() });
      },
    });
    for (let i = 0; i < 3; i++) await send(g.url, '/auth/login/', { ip: '203.0.113.40' });
    const res = await send(g.url, '/auth/login/', { ip: '203.0.113.40' });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(3590);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = JSON.parse(res.text) as { error: string; retryAfter: number };
    expect(body.error).toBe('locked');
    expect(body.retryAfter).toBe(Number(res.headers.get('retry-after')));
    expect(seen[0]).toMatchObject({ ip: '203.0.113.40', status: 403 });
    expect(upstream().hits).toBe(3);
  });

  it('tells the handler the key a ban is held under', async () => {
    const keys: Array<string | undefined> = [];
    const g = await gateway(config(), {
      keyGenerator: (req) => (req.headers['x-api-key'] as string | undefined) ?? null,
      handler: (_req, res, _next, info) => {
        keys.push(info.key);
        res.statusCode = 403;
        res.end('key locked');
      },
    });
    for (let i = 0; i < 3; i++) await send(g.url, '/auth/login/', { ip: '203.0.113.41', headers: { 'x-api-key': 'tenant-7' } });
    const res = await send(g.url, '/ok/', { method: 'GET', ip: '203.0.113.42', headers: { 'x-api-key': 'tenant-7' } });
    expect([res.status, res.text]).toEqual([403, 'key locked']);
    expect(keys).toEqual(['tenant-7']);
  });

  it('a throwing handler leaves the default answer', async () => {
    const { logger, lines } = capturingLogger();
    const g = await gateway(config(), {
      logger,
      handler: () => {
        throw new Error('template missing');
      },
    });
    for (let i = 0; i < 3; i++) await send(g.url, '/auth/login/', { ip: '203.0.113.43' });
    const res = await send(g.url, '/auth/login/', { ip: '203.0.113.43' });
    expect(res.status).toBe(403);
    expect(res.text).toContain('Forbidden');
    expect(lines.filter((l) => l.code === 'ERR_PORTCULLIS_HANDLER_FAILED')).toHaveLength(1);
  });
});

describe('classify', () => {
  const graphqlConfig = () =>
    config({ jails: { 'django-login': { preset: 'django.login' }, 'graphql-login': { preset: 'django.signal', maxretry: 3 } } });
  const classify: PortcullisOptions['classify'] = (_req, res) =>
    res.getHeader('x-login-result') === 'failed' ? 'graphql-login' : undefined;

  it('counts a GraphQL login answering 200 with an error, flagged by a response header', async () => {
    const g = await gateway(graphqlConfig(), { classify });
    const good = '{"query":"mutation { login(username: \\"a\\", password: \\"good\\") { token } }"}';
    const bad = '{"query":"mutation { login(username: \\"a\\", password: \\"bad\\") { token } }"}';
    // good logins are never counted
    for (let i = 0; i < 5; i++) expect((await send(g.url, '/graphql', { ip: '203.0.113.50', body: good })).status).toBe(200);
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await send(g.url, '/graphql', { ip: '203.0.113.50', body: bad })).status);
    expect(codes).toEqual([200, 200, 200, 403]);
    expect(await suite.cli.hget('{portcullis}:ban:203.0.113.50', 'jail')).toBe('graphql-login');
  });

  it('a jail name the config lacks is logged once and not counted', async () => {
    const { logger, lines } = capturingLogger();
    const g = await gateway(graphqlConfig(), { logger, classify: () => ['no-such-jail'] });
    for (let i = 0; i < 5; i++) expect((await send(g.url, '/graphql', { ip: '203.0.113.51' })).status).toBe(200);
    expect(lines.filter((l) => l.code === 'ERR_PORTCULLIS_CLASSIFY_JAIL')).toHaveLength(1);
    expect(await suite.cli.zcard('{portcullis}:bans')).toBe(0);
  });
});

describe('trustProxy: "express" (the app\'s trust proxy, via proxy-addr)', () => {
  it('bans the address Express sees as req.ip, never the trusted proxy itself', async () => {
    const ips: string[] = [];
    const g = await gateway(config({ trustProxy: [] }), { trustProxy: 'express' }, (app) => {
      app.set('trust proxy', 'loopback');
      app.use((req, _res, next) => {
        ips.push(req.ip ?? '');
        next();
      });
    });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await send(g.url, '/auth/login/', { ip: '192.0.2.1, 203.0.113.60' })).status);
    expect(codes).toEqual([401, 401, 401, 403]);
    expect(ips[0]).toBe('203.0.113.60');
    expect(await suite.cli.exists('{portcullis}:ban:203.0.113.60')).toBe(1);
    // the proxy's own requests (no header): never counted
    for (let i = 0; i < 5; i++) expect((await send(g.url, '/auth/login/')).status).toBe(401);
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['203.0.113.60']);
  });

  it('a proxy trusted by address or by position is never counted when it is the client itself', async () => {
    const g = await gateway(config({ trustProxy: [] }), { trustProxy: 'express' }, (app) =>
      app.set('trust proxy', ['loopback', '198.51.100.5']),
    );
    // the proxy at 198.51.100.5 sends its own requests (its address is the last hop)
    for (let i = 0; i < 5; i++) expect((await send(g.url, '/auth/login/', { ip: '198.51.100.5' })).status).toBe(401);
    const hops = await gateway(config({ trustProxy: [] }), { trustProxy: 'express' }, (app) => app.set('trust proxy', 2));
    // two hops trusted: a one-entry header names the second proxy, not a client
    for (let i = 0; i < 5; i++) expect((await send(hops.url, '/auth/login/', { ip: '203.0.113.62' })).status).toBe(401);
    for (let i = 0; i < 3; i++) await send(hops.url, '/auth/login/', { ip: '203.0.113.61, 203.0.113.62' });
    expect(await suite.cli.zrange('{portcullis}:bans', 0, -1)).toEqual(['203.0.113.61']);
  });

  it('trust proxy true (anyone picks their address) is refused: unknown client, logged with its code', async () => {
    const { logger, lines } = capturingLogger();
    const g = await gateway(config({ trustProxy: [] }), { logger, trustProxy: 'express' }, (app) => app.set('trust proxy', true));
    for (let i = 0; i < 5; i++) expect((await send(g.url, '/auth/login/', { ip: `203.0.113.${70 + i}` })).status).toBe(400);
    expect(upstream().hits).toBe(0);
    expect(lines.filter((l) => l.code === 'ERR_PORTCULLIS_TRUST_PROXY_ALL')).toHaveLength(1);
  });
});

describe('option validation', () => {
  const codeOf = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(PortcullisError);
      const e = err as PortcullisError;
      expect(e.message).toContain(`docs/error-codes.md#${e.code.toLowerCase()}`);
      return e.code;
    }
    throw new Error('did not throw');
  };
  const base = () => ({ redis: 'redis://127.0.0.1:1' });

  it('throws a coded PortcullisError for each misuse, before anything connects', () => {
    expect(codeOf(() => portcullis(base(), { keygenerator: () => 'x' } as PortcullisOptions))).toBe('ERR_PORTCULLIS_UNKNOWN_OPTION');
    expect(() => portcullis(base(), { keygenerator: () => 'x' } as PortcullisOptions)).toThrow(/did you mean "keyGenerator"/);
    expect(codeOf(() => portcullis(base(), { skip: true } as unknown as PortcullisOptions))).toBe('ERR_PORTCULLIS_HOOK_NOT_FUNCTION');
    expect(codeOf(() => portcullis(base(), { handler: 'blocked.html' } as unknown as PortcullisOptions))).toBe(
      'ERR_PORTCULLIS_HOOK_NOT_FUNCTION',
    );
    expect(codeOf(() => portcullis(base(), { readyTimeout: -1 }))).toBe('ERR_PORTCULLIS_OPTION_VALUE');
    expect(codeOf(() => portcullis(base(), { trustProxy: true } as unknown as PortcullisOptions))).toBe('ERR_PORTCULLIS_OPTION_VALUE');
    expect(codeOf(() => portcullis({ ...base(), clientHeader: 'x-real-ip' }, { trustProxy: 'express' }))).toBe(
      'ERR_PORTCULLIS_TRUST_PROXY_HEADER',
    );
    expect(codeOf(() => portcullis(base(), { store: {} } as unknown as PortcullisOptions))).toBe('ERR_PORTCULLIS_STORE');
    expect(codeOf(() => portcullis(base(), { logger: console } as unknown as PortcullisOptions))).toBe('ERR_PORTCULLIS_LOGGER');
    expect(codeOf(() => portcullis(base(), 'fast' as unknown as PortcullisOptions))).toBe('ERR_PORTCULLIS_OPTIONS');
  });
});

describe('no redis in the config', () => {
  it('runs on the in-memory store, with one warning that it is per-process', async () => {
    const { logger, lines } = capturingLogger();
    const g = await gateway(
      { trustProxy: ['127.0.0.1'], defaults: { maxretry: 3 }, jails: { 'django-login': { preset: 'django.login' } } },
      { logger },
    );
    expect(g.guard.store.kind).toBe('memory');
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await send(g.url, '/auth/login/', { ip: '203.0.113.80' })).status);
    expect(codes).toEqual([401, 401, 401, 403]);
    expect(lines.filter((l) => String(l.msg).includes('in-memory store'))).toHaveLength(1);
    expect(await suite.cli.dbsize()).toBe(0);
  });
});
