import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { Io } from './io.js';
import { EXIT, ReportedError, errorLine, exitCodeFor } from './errors.js';
import { registerStatus } from './commands/status.js';
import { registerBan } from './commands/ban.js';
import { registerUnban } from './commands/unban.js';
import { registerList } from './commands/list.js';
import { registerReplay } from './commands/replay.js';
import { registerCheckConfig } from './commands/check-config.js';

// from the package's own manifest (src/ and dist/ both sit one level below it)
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The commander program, writing only to `io` and never calling process.exit. */
export function buildProgram(io: Io): Command {
  const program = new Command('portcullis')
    .description('Inspect and control Portcullis bans (fail2ban for Django behind a Node gateway).')
    .version(VERSION)
    .option('-c, --config <file>', 'config file (default: $PORTCULLIS_CONFIG, else ./portcullis.yml)')
    .option('--redis <url>', "Redis to use instead of the config's redis (default: $REDIS_URL)")
    .showHelpAfterError('(run portcullis --help for usage)')
    // set before the subcommands are added: they inherit both
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`portcullis: ${s}`),
    });
  registerStatus(program, io);
  registerBan(program, io);
  registerUnban(program, io);
  registerList(program, io);
  registerReplay(program, io);
  registerCheckConfig(program, io);
  return program;
}

/**
 * Runs one command line (without "node portcullis") and returns the exit
 * code: 0 ok, 1 user error, 2 usage error, 3 Redis unreachable. Errors are
 * one line on stderr: "portcullis: error: …".
 */
export async function run(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version end through exitOverride too; commander's own usage code is 1, ours is 2
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.OK : EXIT.USAGE;
    }
    if (!(err instanceof ReportedError)) io.stderr.write(`portcullis: error: ${errorLine(err)}\n`);
    if (io.env.PORTCULLIS_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}
