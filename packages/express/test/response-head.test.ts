import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import express5 from 'express';
import express4 from 'express4';
import onHeaders from 'on-headers';
import { pino } from 'pino';
import { MemoryBanStore, parseConfig } from '@portcullis/core';
import { portcullis, type PortcullisMiddleware } from '@portcullis/express';
import { send } from '@portcullis/testkit/fixtures';

// the response head is watched from ServerResponse.prototype (response-head.ts); these check that
// every way an app writes a head is still seen, and its X-Portcullis-Failure taken off and counted

// Node's own, before any guard of this file put its watch into the prototype
const nodeWriteHead = ServerResponse.prototype.writeHead;

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Express (4 or 5) with `before` middleware, the guard, then `answer`; the signal jail counts the header, 3 strikes. */
async function app(version: 4 | 5, answer: Handler, before: Handler[] = []): Promise<{ url: string; guard: PortcullisMiddleware }> {
  const config = parseConfig({ trustProxy: ['127.0.0.1'], jails: { signal: { preset: 'django.signal', maxretry: 3 } } });
  const guard = portcullis(config, { logger: pino({ level: 'silent' }), store: new MemoryBanStore({ config }) });
  await guard.ready();
  const a = (version === 4 ? express4 : express5)() as express5.Express;
  for (const b of before) {
    a.use((req, res, next) => {
      b(req, res);
      next();
    });
  }
  a.use(guard as unknown as express5.RequestHandler);
  a.use((req, res) => answer(req, res));
  const url = await listen(a as unknown as Handler);
  open.push({ close: () => guard.close() });
  return { url, guard };
}

/** Three failing responses reach the client without the header; the fourth request is refused (counted). */
async function expectCountedAndHidden(url: string, ip: string): Promise<Response> {
  let last: Response | undefined;
  for (let i = 0; i < 3; i++) {
    last = await fetch(`${url}/custom/login/`, { headers: { 'x-forwarded-for': ip } });
    await last.text();
    expect(last.headers.get('x-portcullis-failure')).toBeNull();
  }
  const after = await send(url, '/custom/login/', { method: 'GET', ip });
  expect(after.status).toBe(403);
  return last!;
}

describe.each([5, 4] as const)('the response head on Express %i', (version) => {
  it('an implicit head (res.end): seen, without adding a writeHead to the response', async () => {
    const { url } = await app(version, (_req, res) => {
      res.setHeader('X-Portcullis-Failure', 'signal');
      // what on-headers did for every response: the guard no longer does it
      res.setHeader('X-Own-WriteHead', String(Object.hasOwn(res, 'writeHead')));
      res.end('no');
    });
    const last = await expectCountedAndHidden(url, '203.0.113.61');
    expect(last.headers.get('x-own-writehead')).toBe('false');
  });

  it('headers given to writeHead, as an object or with a reason phrase and an array: seen', async () => {
    const { url } = await app(version, (req, res) => {
      if (req.headers['x-forwarded-for'] === '203.0.113.62') res.writeHead(200, { 'X-Portcullis-Failure': 'signal' }).end('no');
      else res.writeHead(200, 'Nope', ['X-Portcullis-Failure', 'signal', 'X-Other', 'kept']).end('no');
    });
    await expectCountedAndHidden(url, '203.0.113.62');
    const last = await expectCountedAndHidden(url, '203.0.113.63');
    expect(last.statusText).toBe('Nope');
    expect(last.headers.get('x-other')).toBe('kept');
  });

  it("a writeHead replaced before the guard (on-headers in an earlier middleware): seen, the earlier one's too", async () => {
    const { url } = await app(
      version,
      (_req, res) => {
        res.setHeader('X-Portcullis-Failure', 'signal');
        res.end('no');
      },
      [(_req, res) => onHeaders(res, () => res.setHeader('X-Earlier', 'ran'))],
    );
    const last = await expectCountedAndHidden(url, '203.0.113.64');
    expect(last.headers.get('x-earlier')).toBe('ran');
  });

  it("a writeHead replaced before the guard by one calling Node's own directly: seen through the response's own wrapper", async () => {
    const { url } = await app(
      version,
      (_req, res) => {
        res.setHeader('X-Portcullis-Failure', 'signal');
        res.end('no');
      },
      [
        (_req, res) => {
          res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
            return (nodeWriteHead as (...a: unknown[]) => ServerResponse).apply(this, args);
          } as ServerResponse['writeHead'];
        },
      ],
    );
    await expectCountedAndHidden(url, '203.0.113.66');
  });
});

it('a server the guard does not watch keeps its headers, X-Portcullis-Failure too', async () => {
  // a guard exists in this process: ServerResponse.prototype.writeHead is the watching one
  await app(5, (_req, res) => res.end());
  const url = await listen((_req, res) => {
    res.setHeader('X-Portcullis-Failure', 'signal');
    res.writeHead(201, { 'X-Also': 'here' }).end('plain');
  });
  const r = await fetch(url);
  expect(r.status).toBe(201);
  expect(r.headers.get('x-portcullis-failure')).toBe('signal');
  expect(r.headers.get('x-also')).toBe('here');
  expect(await r.text()).toBe('plain');
});

describe('guard.clientIp', () => {
  it('the client as the guard sees it, one answer per request: asked first (a request log), the guard counts under it', async () => {
    const seen: Array<string | null> = [];
    let guardRef: PortcullisMiddleware | undefined;
    const { url, guard } = await app(
      5,
      (_req, res) => {
        res.setHeader('X-Portcullis-Failure', 'signal');
        res.end('no');
      },
      [
        (req) => {
          seen.push(guardRef!.clientIp(req));
          // a later change to the header does not make the guard look again
          req.headers['x-forwarded-for'] = '198.51.100.1';
        },
      ],
    );
    guardRef = guard;
    await expectCountedAndHidden(url, '203.0.113.65');
    expect(seen).toEqual(['203.0.113.65', '203.0.113.65', '203.0.113.65', '203.0.113.65']);
    expect(guard.cache.bannedUntil('203.0.113.65', Date.now())).not.toBe(0);
    expect(guard.cache.bannedUntil('198.51.100.1', Date.now())).toBe(0);
  });
});
