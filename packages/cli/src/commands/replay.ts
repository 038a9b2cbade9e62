import type { Command } from 'commander';
import { resolveJail, resolveJails, UnknownJailError } from '@portcullis/core';
import type { Io } from '../io.js';
import { resolveConfig } from '../config.js';
import { CliError } from '../errors.js';
import { table } from '../format/table.js';
import { formatLeft, formatTime } from '../format/time.js';
import { replayLog, type ReplayReport } from '../replay/replay.js';
import { compileLogFormat } from '../replay/log-format.js';
import { openLog } from '../replay/open-log.js';
import { parseLogLine } from '../replay/parse-log.js';
import { progressBar, type Progress } from '../replay/progress.js';
import { globalOptions, json } from './options.js';

interface ReplayOpts {
  jail?: string;
  json?: boolean;
  logFormat?: string;
}

/** fail2ban-regex for Portcullis jails: an nginx access log through the jails, in memory. */
export function registerReplay(program: Command, io: Io): void {
  program
    .command('replay')
    .description('run an nginx access log through the jails (in memory; Redis untouched)')
    .argument('<access.log>', 'log file (gzip is read as is: access.log.2.gz), or - for standard input')
    .option('--jail <jail>', 'only this jail')
    .option('--log-format <format>', 'the nginx log_format the log was written with (default: combined; common also reads)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: ReplayOpts, cmd: Command) => {
      const { config } = await resolveConfig(io, globalOptions(cmd));
      let jails = [...resolveJails(config).values()];
      if (opts.jail !== undefined) {
        const cfg = config.jails[opts.jail];
        if (!cfg) throw new UnknownJailError(opts.jail);
        // a disabled jail can still be tried out on a log
        jails = [resolveJail(opts.jail, cfg, config)];
      }
      const parse = opts.logFormat === undefined ? parseLogLine : compileLogFormat(opts.logFormat);
      let bar: Progress | null = null;
      const log = await openLog(file, io, (n) => bar?.advance(n));
      if (log.size !== null) bar = progressBar(io, log.size);
      let report: ReplayReport;
      try {
        report = await replayLog(log.text, config, jails, parse);
      } catch (err) {
        throw new CliError(`cannot read ${file === '-' ? 'standard input' : file}: ${(err as Error).message}`);
      } finally {
        bar?.stop();
      }
      io.stdout.write(opts.json ? json({ file, ...report }) : render(report));
      if (report.lines > 0 && report.unparseable === report.lines) {
        // a report of zeros would read as "no attack": say why there is nothing to judge
        const format = opts.logFormat === undefined ? 'nginx "combined" (or "common")' : 'the --log-format given';
        throw new CliError(
          `none of the ${report.lines} lines parsed as ${format}: ` +
            (opts.logFormat === undefined
              ? 'if nginx writes this log with its own log_format, pass it: --log-format \'$remote_addr - $remote_user [$time_local] "$request" $status …\''
              : 'check the format against the log_format directive in the nginx config that wrote this log'),
        );
      }
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
