import type { Command } from 'commander';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { table } from '../format/table.js';
import { formatLeft, formatUntil } from '../format/time.js';
import { globalOptions, json } from './options.js';

/** Every active ban, soonest expiry first. */
export function registerList(program: Command, io: Io): void {
  program
    .command('list')
    .description('active bans: ip, jail, until, time left, count, by')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd));
      const now = Date.now();
      const bans = await withStore(config, (store) => store.listBans(now));
      if (opts.json) {
        io.stdout.write(json(bans));
        return;
      }
      if (bans.length === 0) {
        io.stdout.write('no active bans\n');
        return;
      }
      io.stdout.write(
        table(
          ['IP', 'JAIL', 'UNTIL', 'LEFT', 'COUNT', 'BY'],
          bans.map((b) => [b.ip, b.jail, formatUntil(b.until), formatLeft(b.until, now), b.count, b.by]),
        ),
      );
    });
}
