import type { Command } from 'commander';
import { parseCidr } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { EXIT } from '../errors.js';
import { globalOptions, json } from './options.js';

/** Lifts a ban (and forgets the address's failure windows), or every ban with --all. */
export function registerUnban(program: Command, io: Io): void {
  program
    .command('unban')
    .description('lift the ban of an address or range, or every ban with --all')
    .argument('[ip|cidr]', 'address or range as it was banned')
    .option('--all', 'lift every active ban')
    .option('--json', 'machine-readable output')
    .action(async (target: string | undefined, opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      if ((target === undefined) === !opts.all) {
        cmd.error('error: give an address or --all (not both)', { exitCode: EXIT.USAGE, code: 'portcullis.usage' });
      }
      const { config } = await resolveConfig(io, globalOptions(cmd).config);
      const by = { reason: 'manual' };
      if (opts.all) {
        const count = await withStore(config, (store) => store.unbanAll(by));
        io.stdout.write(opts.json ? json({ unbanned: count }) : `unbanned ${count} address${count === 1 ? '' : 'es'}\n`);
        return;
      }
      const cidr = parseCidr(target!);
      const lifted = await withStore(config, (store) => store.unban(cidr.text, by));
      if (opts.json) io.stdout.write(json({ ip: cidr.text, unbanned: lifted }));
      else io.stdout.write(lifted ? `unbanned ${cidr.text}\n` : `${cidr.text} was not banned\n`);
    });
}
