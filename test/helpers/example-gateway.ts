import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { pino } from 'pino';
import { portcullis, type PortcullisMiddleware, type PortcullisOptions } from '@portcullis/express';
import { FAILURE_HEADER, type PortcullisConfigInput } from '@portcullis/core';
import { createGatewayApp } from '../../examples/gateway/src/app.js';

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
export async function startExampleGateway(config: PortcullisConfigInput, upstream: string, opts: PortcullisOptions = {}): Promise<ExampleGateway> {
  const logger = pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' });
  const guard = portcullis(config, { logger, ...opts });
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
  guard.upgrade(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    guard,
    loginFailures,
    close: async () => {
      server.closeAllConnections();
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
