import type { Command } from 'commander';
import { parseCidr, parseDuration, Protection, ProtectedIpError, UnknownJailError } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { withStore } from '../store.js';
import { formatLeft, formatUntil } from '../format/time.js';
import { globalOptions, json } from './options.js';

interface BanOpts {
  jail?: string;
  for?: string;
  reason?: string;
  json?: boolean;
}

/** Bans an address or range by hand, through the same Lua script as the middleware. */
export function registerBan(program: Command, io: Io): void {
  program
    .command('ban')
    .description('ban an address or CIDR range now (gateways and sidecars follow)')
    .argument('<ip|cidr>', 'address or range, e.g. 203.0.113.7 or 192.0.2.0/24')
    .option('--jail <jail>', 'record the ban under this jail (default "manual")')
    .option('--for <duration>', 'how long: 600, 10m, 1h, 1d, 1w, -1 = forever (default: the jail\'s bantime)')
    .option('--reason <text>', 'why, kept with the ban', 'manual')
    .option('--json', 'machine-readable output')
    .action(async (target: string, opts: BanOpts, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd).config);
      // every check that needs no Redis comes first: a malformed address never reaches it
      const cidr = parseCidr(target);
      const why = new Protection(config).reasonForCidr(cidr);
      if (why) throw new ProtectedIpError(cidr.text, why);
      if (opts.jail !== undefined && !(opts.jail in config.jails) && opts.jail !== 'manual') throw new UnknownJailError(opts.jail);
      const duration = opts.for === undefined ? undefined : parseDuration(opts.for);
      const now = Date.now();
      const rec = await withStore(config, (store) =>
        store.ban(cidr.text, {
          now,
          reason: opts.reason ?? 'manual',
          ...(opts.jail !== undefined ? { jail: opts.jail } : {}),
          ...(duration !== undefined ? { duration } : {}),
        }),
      );
      if (opts.json) {
        io.stdout.write(json(rec));
        return;
      }
      const left = rec.until === -1 ? 'forever' : `until ${formatUntil(rec.until)} (${formatLeft(rec.until, now)})`;
      io.stdout.write(`banned ${rec.ip} in ${rec.jail} ${left}, ban #${rec.count}\n`);
    });
}
