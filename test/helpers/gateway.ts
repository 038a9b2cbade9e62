import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { pino } from 'pino';
import { portcullis, type PortcullisMiddleware, type PortcullisOptions } from '@portcullis/express';
import type { PortcullisConfigInput } from '@portcullis/core';

export interface TestGateway {
  url: string;
  guard: PortcullisMiddleware;
  close(): Promise<void>;
}

/**
 * A gateway as users build it: express + portcullis + http-proxy-middleware
 * to the upstream. Express 5 by default; 4 on request.
 */
export async function startGateway(
  config: PortcullisConfigInput,
  upstream: string,
  opts: PortcullisOptions & { express?: 4 | 5 } = {},
): Promise<TestGateway> {
  const { express: version, ...options } = opts;
  const guard = portcullis(config, { logger: pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' }), ...options });
  const app = (version === 4 ? express4 : express5)() as express5.Express;
  app.use(guard as unknown as express5.RequestHandler);
  app.use(createProxyMiddleware({ target: upstream, changeOrigin: false }));
  await guard.ready();
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    guard,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await guard.close();
    },
  };
}

/** One request with a client address forwarded by our (trusted) loopback proxy. */
export async function send(
  gatewayUrl: string,
  path: string,
  opts: { method?: string; ip?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.ip) headers['x-forwarded-for'] = opts.ip;
  const res = await fetch(gatewayUrl + path, {
    method: opts.method ?? 'POST',
    headers,
    redirect: 'manual',
    body: (opts.method ?? 'POST') === 'GET' ? undefined : (opts.body ?? '{"username":"bad","password":"bad"}'),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
