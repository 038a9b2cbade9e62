import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { waitFor } from '@portcullis/testkit';
import { gatewaySuite, upgradeExchange, type Upstream } from '@portcullis/testkit/fixtures';

// Requests carrying Upgrade: go to the server's 'upgrade' event, never to
// Express: with ws: true on the proxy (Channels) they would skip the
// middleware. Through the example gateway (http-proxy-middleware, ws: true).

const reached: string[] = [];

/** a Channels-like upstream: /ws/ok/ upgrades; /ws/login/ refuses with the helper's failure header; the rest 404 */
async function startChannelsUpstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const upstream = createServer((req, res) => {
    reached.push(req.url ?? '');
    res.writeHead(404, { 'Content-Length': '0' }).end();
  });
  upstream.on('upgrade', (req, socket) => {
    reached.push(req.url ?? '');
    if (req.url === '/ws/login/') {
      // a consumer refusing the handshake after a failed login
      socket.end('HTTP/1.1 403 Forbidden\r\nX-Portcullis-Failure: django-login\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (req.url !== '/ws/ok/') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('error', () => {});
  });
  upstream.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    close: async () => {
      // upgraded sockets are not among the server's connections
      for (const socket of sockets) socket.destroy();
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    },
  };
}

const suite = gatewaySuite(startChannelsUpstream);
beforeEach(() => {
  reached.length = 0;
});

const config = (): PortcullisConfigInput => ({
  trustProxy: ['127.0.0.1'],
  defaults: { bantime: 3600, findtime: 600, maxretry: 5 },
  jails: { 'django-login': { preset: 'django.login' }, 'http-404': { preset: 'http.notFound', maxretry: 3 } },
});
/** a gateway that served a page already: http-proxy-middleware (ws: true) subscribes to 'upgrade' on its first request */
const gateway = async (opts: { guardUpgrades?: boolean } = {}) => {
  const g = await suite.gateway(config(), opts);
  expect((await fetch(`${g.url}/page/`, { headers: { 'x-forwarded-for': '192.0.2.1' } })).status).toBe(404);
  reached.length = 0;
  return g;
};

describe('Upgrade requests (WebSocket) through the example gateway', () => {
  it('a banned client sending Upgrade: websocket is refused and never reaches the upstream', async () => {
    const g = await gateway();
    expect((await upgradeExchange(g.port, '/ws/ok/', '203.0.113.70')).status).toBe(101);
    await g.guard.store.ban('203.0.113.70', { duration: 60_000 });
    await waitFor('the ban in the cache', () => g.guard.cache.bannedUntil('203.0.113.70', Date.now()) !== 0);
    const refused = await upgradeExchange(g.port, '/ws/ok/', '203.0.113.70');
    expect(refused.status).toBe(403);
    expect(refused.head).toMatch(/Retry-After: \d+/);
    expect(reached).toEqual(['/ws/ok/']);
  });

  it('also when nobody called guard.upgrade(server): the middleware guards the server it runs on', async () => {
    const g = await gateway({ guardUpgrades: false });
    await g.guard.store.ban('203.0.113.72', { duration: 60_000 });
    await waitFor('the ban in the cache', () => g.guard.cache.bannedUntil('203.0.113.72', Date.now()) !== 0);
    expect((await upgradeExchange(g.port, '/ws/ok/', '203.0.113.72')).status).toBe(403);
    expect((await upgradeExchange(g.port, '/ws/ok/', '203.0.113.71')).status).toBe(101);
    expect(reached).toEqual(['/ws/ok/']);
  });

  it('before any upgrade listener exists, Node hands the request to Express: refused there', async () => {
    const g = await suite.gateway(config(), { guardUpgrades: false });
    await g.guard.store.ban('203.0.113.76', { duration: 60_000 });
    await waitFor('the ban in the cache', () => g.guard.cache.bannedUntil('203.0.113.76', Date.now()) !== 0);
    expect((await upgradeExchange(g.port, '/ws/ok/', '203.0.113.76')).status).toBe(403);
    expect(reached).toEqual([]);
  });

  it("counts the upstream's refusals of an upgrade, strips X-Portcullis-Failure, and bans", async () => {
    const g = await gateway();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await upgradeExchange(g.port, '/ws/login/', '203.0.113.73');
      statuses.push(r.status);
      expect(r.head.toLowerCase()).not.toContain('x-portcullis-failure');
    }
    expect(statuses).toEqual([403, 403, 403, 403, 403]);
    await waitFor('the ban', async () => (await suite.cli.zscore('{portcullis}:bans', '203.0.113.73')) !== null);
    expect(await suite.cli.hget('{portcullis}:ban:203.0.113.73', 'jail')).toBe('django-login');
    // 404s on the Upgrade path count for the 404 jail like any other
    for (let i = 0; i < 3; i++) expect((await upgradeExchange(g.port, `/ws/missing-${i}/`, '203.0.113.74')).status).toBe(404);
    await waitFor('the 404 ban', async () => (await suite.cli.zscore('{portcullis}:bans', '203.0.113.74')) !== null);
    await waitFor('the ban in the cache', () => g.guard.cache.bannedUntil('203.0.113.74', Date.now()) !== 0);
    const before = reached.length;
    expect((await upgradeExchange(g.port, '/ws/ok/', '203.0.113.74')).status).toBe(403);
    expect(reached.length).toBe(before);
  });

  it('an ambiguous Upgrade target is refused with 400; a rewritten one reaches the upstream canonical', async () => {
    const g = await gateway();
    expect((await upgradeExchange(g.port, '/ws\\ok/', '203.0.113.75')).status).toBe(400);
    expect((await upgradeExchange(g.port, '/ws//%6Fk/', '203.0.113.75')).status).toBe(101);
    expect(reached).toEqual(['/ws/ok/']);
  });
});
