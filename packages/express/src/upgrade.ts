import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { FAILURE_HEADER } from '@portcullis/core';
import { retryAfter } from './block.js';
import type { RequestGuard, ResponseHead } from './request-guard.js';

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Node hands requests carrying `Upgrade:` to the server's 'upgrade' event
 * (http and https servers alike: both are net.Server underneath),
 * never to Express, so a proxy with `ws: true` would let them skip the
 * middleware. This puts the guard in front of every 'upgrade' listener of
 * `server`, present and future (http-proxy-middleware subscribes its own on
 * the first request): banned clients, ambiguous targets and unknown clients
 * are answered on the socket; the rest go on with req.url canonical, their
 * response head classified (and X-Portcullis-Failure removed from it).
 */
export function guardUpgrades(server: Server, guard: RequestGuard): () => void {
  const original = server.emit;
  const emit = original as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  function guardedEmit(this: Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'upgrade') return emit.call(this, event, ...args);
    const [req, socket, head] = args as Parameters<UpgradeListener>;
    guard.front(req, {
      refuse: (r) => refuseOnSocket(socket, r.status, r.body, r.until),
      proceed: (client, path, held) => {
        let settled = false;
        watchHead(socket, (head) => {
          settled = true;
          guard.verdict(req, client, path, held, head.response, head.failureHeader);
        });
        socket.once('close', () => {
          if (!settled && held) guard.giveBack(held);
          settled = true;
        });
        emit.call(this, 'upgrade', req, socket, head);
      },
    });
    return true;
  }
  server.emit = guardedEmit as Server['emit'];
  return () => {
    if (server.emit === guardedEmit) server.emit = original;
  };
}

/** Answers an upgrade request with a plain HTTP response and closes the connection. */
function refuseOnSocket(socket: Duplex, status: number, body: string, until: number): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
  ];
  // as sendBlocked: no Retry-After for a ban that never ends
  if (until > 0) lines.push(`Retry-After: ${retryAfter(until, Date.now())}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

interface ParsedHead {
  response: ResponseHead;
  failureHeader: string | undefined;
}

/**
 * The proxy writes the upstream's response head (101, or any other status
 * when the upstream refused the upgrade) as the first chunk on the client
 * socket: read it there, drop X-Portcullis-Failure from it, pass it on.
 */
function watchHead(socket: Duplex, onHead: (head: ParsedHead) => void): void {
  const write = socket.write as (this: Duplex, ...a: unknown[]) => boolean;
  socket.write = function firstWrite(this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
    // one look only
    socket.write = write as Duplex['write'];
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('latin1') : null;
    const end = text?.indexOf('\r\n\r\n') ?? -1;
    if (text?.startsWith('HTTP/') && end !== -1) {
      const { head, failureHeader } = parseHead(text.slice(0, end));
      onHead({ response: head, failureHeader });
      chunk = head.text + text.slice(end);
    }
    return write.call(this, chunk, ...rest);
  } as Duplex['write'];
}

function parseHead(text: string): { head: ResponseHead & { text: string }; failureHeader: string | undefined } {
  const lines = text.split('\r\n');
  const statusCode = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
  const headers = new Map<string, string>();
  const kept = [lines[0]!];
  let failureHeader: string | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon).trim().toLowerCase();
    const value = colon === -1 ? '' : line.slice(colon + 1).trim();
    if (name === FAILURE_HEADER) {
      failureHeader = failureHeader === undefined ? value : `${failureHeader},${value}`;
      continue;
    }
    if (name) headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    kept.push(line);
  }
  return { head: { statusCode, getHeader: (name: string) => headers.get(name.toLowerCase()), text: kept.join('\r\n') }, failureHeader };
}
