#!/usr/bin/env node
import { createServer, type RequestListener, type Server } from 'node:http';
import { hostname } from 'node:os';
import { MemoryBanStore, PortcullisError, describeRedis } from '@portcullis/core';
import { portcullis, type PortcullisMiddleware } from '@portcullis/express';
import { createGatewayApp } from './app.js';
import { EmbeddedBanner } from './embedded-banner.js';
import { createLogger } from './logger.js';
import { gatewayOptions } from './options.js';
import { startDemoUpstream, type Upstream } from './upstream.js';

const log = createLogger();

/** What is running, so every way out stops all of it (Django included). */
const running: { server?: Server; guard?: PortcullisMiddleware; banner?: EmbeddedBanner; upstream?: Upstream } = {};
let stopping = false;

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    // a store that does not answer must not keep the process (and Django) alive
    setTimeout(() => process.exit(code), 5000).unref();
    running.server?.closeAllConnections();
    running.server?.close();
    await Promise.allSettled([running.banner?.stop(), running.guard?.close(), running.upstream?.stop()]);
  }
  process.exit(code);
}

/** Binds the port, or says in one line why not (EADDRINUSE, EACCES). */
async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(port, host);
  }).catch((err: NodeJS.ErrnoException) => {
    const why =
      err.code === 'EADDRINUSE'
        ? 'the address is in use (another gateway still running?); stop it or set PORT'
        : err.code === 'EACCES'
          ? 'permission denied; use a port above 1023 or set PORT'
          : err.message;
    throw new PortcullisError('ERR_PORTCULLIS_LISTEN', `cannot listen on ${host}:${port}: ${why}`);
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/**
 * Under `npm start`, npm is the parent: if npm is killed outright (SIGKILL)
 * nothing forwards a signal, so the gateway notices it was orphaned and stops.
 */
function stopWithParent(): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      log.info({ parent }, 'portcullis gateway stopping: npm, which started it, is gone');
      void stop(0);
    }
  }, 500).unref();
}

async function main(): Promise<void> {
  const opts = await gatewayOptions();
  const { config } = opts;
  const by = `gateway@${hostname()}`;

  // the port first: a busy port fails before Django is started
  let handle: RequestListener = (_req, res) => void res.writeHead(503, { 'Retry-After': '1' }).end('starting\n');
  const server = createServer((req, res) => handle(req, res));
  running.server = server;
  const port = await listen(server, opts.port, opts.host);

  let djangoUrl = opts.djangoUrl;
  if (!djangoUrl) {
    running.upstream = await startDemoUpstream(log);
    djangoUrl = running.upstream.url;
  }
  // No Redis: the embedded default, one process, bans printed as firewall commands.
  const memory = config.redis ? null : new MemoryBanStore({ config, by });
  const guard = portcullis(config, { logger: log, by, ...(memory ? { store: memory } : {}) });
  running.guard = guard;
  if (memory) running.banner = new EmbeddedBanner(memory, config.firewall, log);
  await guard.ready();
  handle = createGatewayApp(guard, djangoUrl, log);
  // the proxy forwards WebSocket upgrades (ws: true): banned clients are refused there too
  guard.upgrade(server);

  const upstream = running.upstream;
  const mode = memory
    ? 'embedded (in-memory ban store, one process; firewall: dry-run, commands are printed)'
    : `redis (${describeRedis(config.redis!)}; run portcullis-sidecar for firewall rules)`;
  log.info(
    {
      port,
      django: djangoUrl,
      upstream: upstream?.kind ?? 'DJANGO_URL',
      mode: memory ? 'embedded' : 'redis',
      config: opts.configSource,
      jails: Object.keys(config.jails),
    },
    `portcullis gateway listening on :${port} → ${upstream ? `${upstream.kind} at ` : ''}${djangoUrl}; mode: ${mode}`,
  );
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log.info({ signal }, 'portcullis gateway stopping');
    void stop(0);
  });
}
stopWithParent();

main().catch(async (err: unknown) => {
  // what the user can fix (a bad config, a busy port) is said as is, never as a stack
  if (err instanceof PortcullisError) process.stderr.write(`portcullis gateway: ${err.message}\n`);
  else log.fatal({ err }, 'portcullis gateway failed to start');
  await stop(1);
});
