import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizePath } from '@portcullis/core';

/**
 * A stand-in for Django answering like the real flows of the README's "Django flows" table, for
 * the quickstart on a machine without Django and for the middleware tests
 * (the real Django runs in the end-to-end tests): the password "good"
 * succeeds. It routes on the decoded path, as Django does, and counts what
 * reached it.
 */
export interface StandInDjango {
  url: string;
  hits: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

export async function startStandInDjango(port = 0, host = '127.0.0.1'): Promise<StandInDjango> {
  const hits = new Map<string, number>();
  const server: Server = createServer(async (req, res) => {
    const path = normalizePath(req.url ?? '/');
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const text = req.method === 'POST' ? await body(req) : '';
    const good = text.includes('good');
    const route = `${req.method} ${path}`;
    if (route === 'POST /auth/login/') {
      res.writeHead(good ? 200 : 401, { 'Content-Type': 'application/json' });
      res.end(good ? '{"token":"t"}' : '{"detail":"Invalid credentials"}');
    } else if (route === 'POST /admin/login/') {
      if (good) res.writeHead(302, { Location: '/admin/' }).end();
      else res.writeHead(200, { 'Content-Type': 'text/html' }).end('<form>Please enter the correct username and password</form>');
    } else if (route === 'POST /custom/login/') {
      // a view that only fires user_login_failed: the Django helper sets the header
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (!good) headers['X-Portcullis-Failure'] = 'django-login';
      res.writeHead(200, headers).end(good ? '{"ok":true}' : '{"ok":false}');
    } else if (path === '/' || path === '/ok/' || path.startsWith('/static/exists')) {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    hits,
    total: () => [...hits.values()].reduce((a, b) => a + b, 0),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
