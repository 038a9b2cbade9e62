import type { Command } from 'commander';
import { ConfigError, describeRedis, formatDuration, resolveJail } from '@portcullis/core';
import type { Io } from '../io.js';
import { type LoadedConfig, resolveConfig } from '../config.js';
import { CliError, ReportedError } from '../errors.js';
import { describeRule } from '../format/rule.js';
import { table } from '../format/table.js';
import { globalOptions, json } from './options.js';

/** Validates a config: every bad field with its path (exit 1), or a summary of the jails. */
export function registerCheckConfig(program: Command, io: Io): void {
  program
    .command('check-config')
    .description('validate a config file and summarise its jails')
    .argument('[file]', 'config file (default: --config, $PORTCULLIS_CONFIG or ./portcullis.yml)')
    .option('--json', 'machine-readable output')
    .action(async (file: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const global = globalOptions(cmd);
      let loaded: LoadedConfig;
      try {
        loaded = await resolveConfig(io, { ...global, config: file ?? global.config });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const where = err.source ?? file ?? global.config ?? null;
        // --json: the document alone, the problems inside it; else one self-contained line per problem, so each can be grepped
        if (opts.json) io.stdout.write(json({ ok: false, file: where, issues: err.issues }));
        else
          for (const i of err.issues)
            io.stderr.write(`portcullis: error: ${where ? `${where}: ` : ''}${i.path || '(file)'}: ${i.message}\n`);
        throw new ReportedError('config is invalid');
      }
      const path = loaded.source;
      if (path === null) {
        const none = 'no config file: name one, set PORTCULLIS_CONFIG or create ./portcullis.yml';
        if (!opts.json) throw new CliError(none);
        io.stdout.write(json({ ok: false, file: null, issues: [{ path: '', message: none }] }));
        throw new ReportedError(none);
      }
      const { config } = loaded;
      const jails = Object.entries(config.jails).map(([name, j]) => {
        const r = resolveJail(name, j, config);
        return { name, enabled: j.enabled, rule: describeRule(j), maxretry: r.maxretry, findtime: r.findtime, bantime: r.bantime };
      });
      if (opts.json) {
        io.stdout.write(json({ ok: true, file: path, redis: config.redis ? describeRedis(config.redis) : null, jails }));
        return;
      }
      const enabled = jails.filter((j) => j.enabled).length;
      io.stdout.write(
        `${path}: OK — ${jails.length} jail${jails.length === 1 ? '' : 's'} (${enabled} enabled), ` +
          `store: ${config.redis ? `redis (${describeRedis(config.redis)})` : 'in-memory (no redis configured)'}\n\n` +
          table(
            ['JAIL', 'RULE', 'MAXRETRY', 'FINDTIME', 'BANTIME'],
            jails.map((j) => [
              j.enabled ? j.name : `${j.name} (disabled)`,
              j.rule,
              j.maxretry,
              formatDuration(j.findtime),
              formatDuration(j.bantime),
            ]),
          ),
      );
    });
}
