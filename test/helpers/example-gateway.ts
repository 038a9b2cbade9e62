import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { portcullis, type PortcullisMiddleware, type PortcullisOptions } from '@portcullis/express';
import { FAILURE_HEADER, type PortcullisConfigInput } from '@portcullis/core';
import { createGatewayApp } from '../../examples/gateway/src/app.js';
import { RedisServer } from './redis-server.js';

export interface ExampleGateway {
  url: string;
  port: number;
  guard: PortcullisMiddleware;
  /**
   * Django's answers that ran a login and saw it fail (user_login_failed set
   * X-Portcullis-Failure), by the path Django was sent: the attempts that
   * reached a login view, counted before the client sees the response.
   */
  loginFailures: Array<{ path: string; status: number }>;
  close(): Promise<void>;
}

/** The example gateway (pino-http, the guard, http-proxy-middleware with ws: true) in front of `upstream`. */
export async function startExampleGateway(
  config: PortcullisConfigInput,
  upstream: string,
  opts: PortcullisOptions & { guardUpgrades?: boolean } = {},
): Promise<ExampleGateway> {
  const logger = pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' });
  const { guardUpgrades, ...options } = opts;
  const guard = portcullis(config, { logger, ...options });
  const loginFailures: ExampleGateway['loginFailures'] = [];
  const app = createGatewayApp(guard, upstream, logger, {
    onUpstreamResponse: (res: IncomingMessage, req: IncomingMessage) => {
      if (res.headers[FAILURE_HEADER] !== undefined) loginFailures.push({ path: (req as { path?: string }).path ?? req.url ?? '', status: res.statusCode ?? 0 });
    },
  });
  await guard.ready();
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  // as users are told to; without it the guard takes the server on its first request (main.ts relies on that)
  if (guardUpgrades !== false) guard.upgrade(server);
  // upgraded (WebSocket) connections leave the server's bookkeeping: closeAllConnections misses them
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    guard,
    loginFailures,
    close: async () => {
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => server.close(r));
      await guard.close();
    },
  };
}

/**
 * Writes `raw` to a new connection as is (no client normalises the target)
 * and returns every status code the server answered with, once it closes
 * the connection (end the last request with `Connection: close`).
 */
export function rawExchange(port: number, raw: string): Promise<{ statuses: number[]; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])), text }));
    socket.write(raw);
  });
}

/** One raw request; `target` goes on the request line untouched. */
export function rawRequest(
  target: string,
  opts: { method?: string; ip?: string; body?: string; version?: string; close?: boolean; headers?: Record<string, string> } = {},
): string {
  const body = opts.body ?? '{"username":"demo","password":"wrong"}';
  const headers: Record<string, string> = {
    Host: '127.0.0.1',
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...(opts.ip ? { 'X-Forwarded-For': opts.ip } : {}),
    ...(opts.close ? { Connection: 'close' } : {}),
    ...opts.headers,
  };
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `${opts.method ?? 'POST'} ${target} ${opts.version ?? 'HTTP/1.1'}\r\n${head}\r\n${body}`;
}

/** Sends an Upgrade: websocket request and resolves with the status and head of the answer. */
export function upgradeExchange(port: number, target: string, ip: string): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    const done = () => {
      const end = text.indexOf('\r\n\r\n');
      const head = end === -1 ? text : text.slice(0, end);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head });
    };
    socket.on('data', (d: string) => {
      text += d;
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        done();
      }
    });
    socket.on('error', reject);
    socket.on('close', done);
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: ${ip}\r\n\r\n`,
    );
  });
}

export interface Upstream {
  url: string;
  close(): Promise<void>;
}

export interface GatewaySuite {
  readonly redis: RedisServer;
  readonly cli: Redis;
  readonly upstream: Upstream;
  /** a gateway for this test (closed before the next one), on this suite's Redis and upstream */
  gateway(config: Omit<PortcullisConfigInput, 'redis'>, opts?: Parameters<typeof startExampleGateway>[2]): Promise<ExampleGateway>;
}

/**
 * The hooks most attack tests share: one redis-server and one upstream for
 * the file, Redis flushed and the gateways of the last test closed before
 * each test.
 */
export function gatewaySuite(startUpstream: () => Promise<Upstream>): GatewaySuite {
  let redis: RedisServer;
  let cli: Redis;
  let upstream: Upstream;
  const open: ExampleGateway[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
    cli = redis.client();
    upstream = await startUpstream();
  });
  afterAll(async () => {
    for (const g of open.splice(0)) await g.close();
    await upstream?.close();
    cli?.disconnect();
    await redis?.stop();
  });
  beforeEach(async () => {
    for (const g of open.splice(0)) await g.close();
    await cli.flushall();
  });
  return {
    get redis() {
      return redis;
    },
    get cli() {
      return cli;
    },
    get upstream() {
      return upstream;
    },
    async gateway(config, opts) {
      const g = await startExampleGateway({ ...config, redis: redis.url }, upstream.url, opts);
      open.push(g);
      return g;
    },
  };
}
