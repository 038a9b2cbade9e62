#!/usr/bin/env node
import { CommanderError } from 'commander';
import { pino } from 'pino';
import { ConfigError } from '@portcullis/core';
import { type CliOptions, optionsFrom, sidecarCommand } from './options.js';
import { startSidecar } from './sidecar.js';

/** Exit codes: 0 stopped cleanly, 1 failed at run time, 2 bad flags or config. */
const USAGE_EXIT = 2;

/** `portcullis-sidecar`: a thin wrapper over startSidecar(). */
async function main(): Promise<void> {
  const program = sidecarCommand().exitOverride().showHelpAfterError('(run portcullis-sidecar --help for usage)');
  try {
    program.parse(process.argv.slice(2), { from: 'user' });
  } catch (err) {
    // --help and --version end here too, with exit code 0
    process.exit(err instanceof CommanderError && err.exitCode !== 0 ? USAGE_EXIT : 0);
  }
  let opts: CliOptions;
  try {
    opts = await optionsFrom(program.opts(), process.env, process.cwd());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`portcullis-sidecar: ${err.message}\n`);
    process.exit(USAGE_EXIT);
  }
  const logger = pino({ name: 'portcullis-sidecar', level: opts.logLevel });
  const sidecar = await startSidecar(opts.config, { logger, defaultMetrics: true });
  logger.info(
    {
      config: opts.configPath,
      backend: opts.config.firewall.backend,
      hostId: sidecar.hostId,
      health: `http://${opts.config.sidecar.healthHost}:${sidecar.healthPort}/healthz`,
    },
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
