import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidIpError, parseDuration, Protection, ProtectedIpError, resolveManualBan, type BanOptions } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { formatLeft, formatUntil } from '../format/time.js';
import { globalOptions, json } from './options.js';

interface BanOpts {
  jail?: string;
  for?: string;
  reason?: string;
  file?: string;
  json?: boolean;
}

/** Addresses from a blocklist file: one per line; blank lines and # comments skipped. */
async function readBlocklist(path: string): Promise<Array<{ text: string; where: string }>> {
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/);
  const out: Array<{ text: string; where: string }> = [];
  lines.forEach((line, i) => {
    const text = line.replace(/#.*/, '').trim();
    if (text) out.push({ text, where: `${path}:${i + 1}: ` });
  });
  return out;
}

/** Bans addresses or ranges by hand, through the same Lua scripts as the middleware. */
export function registerBan(program: Command, io: Io): void {
  program
    .command('ban')
    .description('ban addresses or CIDR ranges now (gateways and sidecars follow)')
    .argument('[ip|cidr...]', 'addresses or ranges, e.g. 203.0.113.7 or 192.0.2.0/24')
    .option('--file <path>', 'also ban every address in this file (one per line, # comments)')
    .option('--jail <jail>', 'record the ban under this jail (default "manual")')
    .option('--for <duration>', "how long: 600, 10m, 1h, 1d, 1w, -1 = forever (default: the jail's bantime)")
    .option('--reason <text>', 'why, kept with the ban', 'manual')
    .option('--json', 'machine-readable output')
    .action(async (targets: string[], opts: BanOpts, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd));
      const protection = new Protection(config);
      const entries = [...targets.map((text) => ({ text, where: '' })), ...(opts.file ? await readBlocklist(opts.file) : [])];
      if (entries.length === 0) {
        cmd.error('error: give at least one address, or --file', { exitCode: 2, code: 'commander.missingArgument' });
      }
      const duration = opts.for === undefined ? undefined : parseDuration(opts.for);
      const now = Date.now();
      const banOpts: BanOptions = {
        now,
        reason: opts.reason ?? 'manual',
        ...(opts.jail !== undefined ? { jail: opts.jail } : {}),
        ...(duration !== undefined ? { duration } : {}),
      };
      // the stores' own checks, run first: a malformed or protected address never reaches Redis
      const ips = entries.map(({ text, where }) => {
        try {
          return resolveManualBan(text, banOpts, config, protection).cidr.text;
        } catch (err) {
          if (where && (err instanceof InvalidIpError || err instanceof ProtectedIpError)) err.message = where + err.message;
          throw err;
        }
      });
      const recs = await withStore(config, (store) =>
        ips.length === 1 ? store.ban(ips[0]!, banOpts).then((r) => [r]) : store.banMany(ips, banOpts),
      );
      if (opts.json) {
        io.stdout.write(json(recs.length === 1 && entries.length === 1 ? recs[0] : recs));
        return;
      }
      const first = recs[0]!;
      const left = first.until === -1 ? 'forever' : `until ${formatUntil(first.until)} (${formatLeft(first.until, now)})`;
      if (recs.length === 1) io.stdout.write(`banned ${first.ip} in ${first.jail} ${left}, ban #${first.count}\n`);
      else io.stdout.write(`banned ${recs.length} addresses in ${first.jail} ${left}\n`);
    });
}
