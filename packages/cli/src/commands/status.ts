import type { Command } from 'commander';
import { assertKnownJail, type JailStatus } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { table } from '../format/table.js';
import { formatLeft, formatUntil } from '../format/time.js';
import { globalOptions, json } from './options.js';

/** `fail2ban-client status [jail]`: jails with their counters, or one jail with its banned addresses. */
export function registerStatus(program: Command, io: Io): void {
  program
    .command('status')
    .description('jails and their counters; with a jail, its banned addresses too')
    .argument('[jail]', 'one jail')
    .option('--json', 'machine-readable output')
    .action(async (jail: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd).config);
      // an unknown jail is the user's mistake: say so before touching Redis
      if (jail !== undefined) assertKnownJail(config, jail);
      const now = Date.now();
      const jails = await withStore(config, async (store) => {
        const out = await store.status(jail, now);
        // hand bans outside any jail show up as "manual" in the overview
        if (jail === undefined && !('manual' in config.jails)) {
          const [manual] = await store.status('manual', now);
          if (manual && (manual.currentlyBanned > 0 || manual.totalBanned > 0)) out.push(manual);
        }
        return out;
      });
      if (opts.json) {
        io.stdout.write(json({ now, jails }));
        return;
      }
      io.stdout.write(jail === undefined ? overview(jails, Object.keys(config.jails).length) : detail(jails[0]!, now));
    });
}

function overview(jails: JailStatus[], configured: number): string {
  return (
    `Number of jails: ${configured}\n\n` +
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
