import type { Command } from 'commander';
import { IpSet, parseCidr, type Cidr, type RedisBanStore } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { CliError, EXIT } from '../errors.js';
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
      const { config } = await resolveConfig(io, globalOptions(cmd));
      const by = { reason: 'manual' };
      if (opts.all) {
        const count = await withStore(config, (store) => store.unbanAll(by));
        io.stdout.write(opts.json ? json({ unbanned: count }) : `unbanned ${count} address${count === 1 ? '' : 'es'}\n`);
        return;
      }
      const cidr = parseCidr(target!);
      const { lifted, ranges } = await withStore(config, async (store) => {
        const lifted = await store.unban(cidr.text, by);
        return { lifted, ranges: lifted ? [] : await rangesHolding(store, cidr) };
      });
      if (opts.json) io.stdout.write(json({ ip: cidr.text, unbanned: lifted, ...(ranges.length > 0 ? { bannedBy: ranges } : {}) }));
      if (ranges.length > 0) {
        // the address stays blocked: an exit code of 0 would tell a script it is free
        const how = ranges.map((r) => `portcullis unban ${r}`).join(' and ');
        throw new CliError(
          `${cidr.text} is not banned itself but stays blocked: it lies in the banned range${ranges.length === 1 ? '' : 's'} ${ranges.join(', ')}; lift ${ranges.length === 1 ? 'it' : 'them'} with \`${how}\``,
        );
      }
      if (!opts.json) io.stdout.write(lifted ? `unbanned ${cidr.text}\n` : `${cidr.text} was not banned\n`);
    });
}

/** The active range bans that contain `target` (an address or a narrower range). */
async function rangesHolding(store: RedisBanStore, target: Cidr): Promise<string[]> {
  const ranges = (await store.activeBans()).map((b) => parseCidr(b.ip)).filter((r) => r.kind === target.kind && r.prefix < target.prefix);
  return ranges.filter((r) => new IpSet([r]).has(target.network)).map((r) => r.text);
}
