#!/usr/bin/env node
import { hostname } from 'node:os';
import { pino } from 'pino';
import { MemoryBanStore, PortcullisError, describeRedis } from '@portcullis/core';
import { portcullis } from '@portcullis/express';
import { createGatewayApp } from './app.js';
import { EmbeddedBanner } from './embedded-banner.js';
import { gatewayOptions } from './options.js';
import { startDemoUpstream, type Upstream } from './upstream.js';

const log = pino({ name: 'portcullis-gateway', level: process.env.LOG_LEVEL ?? 'info' });

async function main(): Promise<void> {
  const opts = await gatewayOptions();
  const { config } = opts;
  const by = `gateway@${hostname()}`;
  let upstream: Upstream | null = null;
  let djangoUrl = opts.djangoUrl;
  if (!djangoUrl) {
    upstream = await startDemoUpstream(log);
    djangoUrl = upstream.url;
  }

  // No Redis: the embedded default, one process, bans printed as firewall commands.
  const memory = config.redis ? null : new MemoryBanStore({ config, by });
  const guard = portcullis(config, { logger: log, by, ...(memory ? { store: memory } : {}) });
  const banner = memory ? new EmbeddedBanner(memory, config.firewall, log) : null;
  await guard.ready();

  const app = createGatewayApp(guard, djangoUrl, log);
  const server = app.listen(opts.port, opts.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const mode = memory
    ? 'embedded (in-memory ban store, one process; firewall: dry-run, commands are printed)'
    : `redis (${describeRedis(config.redis!)}; run portcullis-sidecar for firewall rules)`;
  log.info(
    { port, django: djangoUrl, upstream: upstream?.kind ?? 'DJANGO_URL', mode: memory ? 'embedded' : 'redis', config: opts.configSource, jails: Object.keys(config.jails) },
    `portcullis gateway listening on :${port} → ${upstream ? `${upstream.kind} at ` : ''}${djangoUrl}; mode: ${mode}`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'portcullis gateway stopping');
    server.closeAllConnections();
    server.close();
    await banner?.stop();
    await guard.close();
    await upstream?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  // a bad config names its fields: print that, not a stack
  if (err instanceof PortcullisError) log.fatal(err.message);
  else log.fatal({ err }, 'portcullis gateway failed to start');
  process.exit(1);
});
