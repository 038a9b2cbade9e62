import type { Command } from 'commander';
import { RedisBanStore, UnknownJailError, type JailStatus } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { jailsInRedis, withRedisJails } from '../redis-jails.js';
import { table } from '../format/table.js';
import { formatLeft, formatUntil } from '../format/time.js';
import { globalOptions, json } from './options.js';

/** `fail2ban-client status [jail]`: jails with their counters, or one jail with its banned addresses. */
export function registerStatus(program: Command, io: Io): void {
  program
    .command('status')
    .description("jails (the config's and those Redis has counted) with their counters; with a jail, its banned addresses too")
    .argument('[jail]', 'one jail')
    .option('--json', 'machine-readable output')
    .action(async (jail: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd));
      const now = Date.now();
      const jails = await withStore(config, async (store) => {
        const known = await jailsInRedis(store, config.prefix);
        if (jail !== undefined && !(jail in config.jails) && !known.includes(jail)) {
          const err = new UnknownJailError(jail);
          err.message += ' (not in the config, and Redis has counted nothing under that name)';
          throw err;
        }
        // the same client, a config that names Redis's jails too
        const view = new RedisBanStore({ config: withRedisJails(config, known), redis: store.redis });
        return view.status(jail, now);
      });
      if (opts.json) {
        io.stdout.write(json({ now, jails }));
        return;
      }
      io.stdout.write(jail === undefined ? overview(jails) : detail(jails[0]!, now));
    });
}

function overview(jails: JailStatus[]): string {
  return (
    `Number of jails: ${jails.length}\n\n` +
    table(
      ['JAIL', 'FAILED NOW', 'FAILED TOTAL', 'BANNED NOW', 'BANNED TOTAL'],
      jails.map((j) => [j.jail, j.currentlyFailed, j.totalFailed, j.currentlyBanned, j.totalBanned]),
    )
  );
}

function detail(j: JailStatus, now: number): string {
  const head =
    `Status for the jail: ${j.jail}\n` +
    `  Currently failed: ${j.currentlyFailed}\n` +
    `  Total failed:     ${j.totalFailed}\n` +
    `  Currently banned: ${j.currentlyBanned}\n` +
    `  Total banned:     ${j.totalBanned}\n`;
  if (j.bans.length === 0) return `${head}  Banned IP list:   (none)\n`;
  return (
    `${head}\n` +
    table(
      ['IP', 'UNTIL', 'LEFT', 'COUNT', 'BY'],
      j.bans.map((b) => [b.ip, formatUntil(b.until), formatLeft(b.until, now), b.count, b.by]),
    )
  );
}
