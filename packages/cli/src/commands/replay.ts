import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveJail, resolveJails, UnknownJailError } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { CliError } from '../errors.js';
import { table } from '../format/table.js';
import { formatLeft, formatTime } from '../format/time.js';
import { replayLog, type ReplayReport } from '../replay/replay.js';
import { progressBar } from '../replay/progress.js';
import { globalOptions, json } from './options.js';

/** fail2ban-regex for Portcullis jails: an nginx access log through the jails, in memory. */
export function registerReplay(program: Command, io: Io): void {
  program
    .command('replay')
    .description('run an nginx/combined access log through the jails (in memory; Redis untouched)')
    .argument('<access.log>', 'log in nginx "combined" (or "common") format')
    .option('--jail <jail>', 'only this jail')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { jail?: string; json?: boolean }, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd).config);
      let jails = [...resolveJails(config).values()];
      if (opts.jail !== undefined) {
        const cfg = config.jails[opts.jail];
        if (!cfg) throw new UnknownJailError(opts.jail);
        // a disabled jail can still be tried out on a log
        jails = [resolveJail(opts.jail, cfg, config)];
      }
      let size: number;
      try {
        const st = await stat(file);
        if (!st.isFile()) throw new Error('not a regular file');
        size = st.size;
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const input = createReadStream(file);
      const bar = progressBar(io, size);
      if (bar) input.on('data', (chunk) => bar.advance(chunk.length));
      let report: ReplayReport;
      try {
        report = await replayLog(input, config, jails);
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
      } finally {
        bar?.stop();
      }
      io.stdout.write(opts.json ? json({ file, ...report }) : render(report));
    });
}

function render(r: ReplayReport): string {
  const span = r.from === null ? '' : `, log time ${formatTime(r.from)} → ${formatTime(r.to!)}`;
  let out = `Lines: ${r.lines} read, ${r.unparseable} unparseable${span}\n\n`;
  out += table(
    ['JAIL', 'MATCHED', 'MISSED', 'IGNORED', 'BANS'],
    r.jails.map((j) => [j.hasRule ? j.jail : `${j.jail} (header only: not in logs)`, j.matched, j.missed, j.ignored, j.bans]),
  );
  if (r.bans.length === 0) return `${out}\nNo address would have been banned.\n`;
  out += `\nWould have banned ${r.bans.length} time${r.bans.length === 1 ? '' : 's'}:\n`;
  out += table(
    ['AT', 'IP', 'JAIL', 'FOR', 'BAN #', 'LINE'],
    r.bans.map((b) => [formatTime(b.at), b.ip, b.jail, formatLeft(b.until, b.at), b.count, b.line]),
  );
  return out;
}
