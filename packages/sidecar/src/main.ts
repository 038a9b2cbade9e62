#!/usr/bin/env node
import { pino } from 'pino';
import { ConfigError } from '@portcullis/core';
import { resolveCliOptions, USAGE } from './options.js';
import { startSidecar } from './sidecar.js';

/** `portcullis-sidecar`: a thin wrapper over startSidecar(). */
async function main(): Promise<void> {
  let opts;
  try {
    opts = await resolveCliOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`portcullis-sidecar: ${(err as Error).message}\n\n${err instanceof ConfigError ? '' : USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  const logger = pino({ name: 'portcullis-sidecar', level: opts.logLevel });
  const sidecar = await startSidecar(opts.config, { logger, defaultMetrics: true });
  logger.info(
    { config: opts.configPath, backend: opts.config.firewall.backend, hostId: sidecar.hostId, health: `http://${opts.config.sidecar.healthHost}:${sidecar.healthPort}/healthz` },
    'portcullis-sidecar started',
  );
  // cannot start (another live sidecar holds this host id): the reason is logged, exit non-zero
  sidecar.ready.catch(() => process.exit(1));
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    sidecar.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`portcullis-sidecar: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
