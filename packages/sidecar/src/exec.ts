import { execa } from 'execa';
import { PortcullisError } from '@portcullis/core';

/** The firewall binary is not installed (or not on PATH). */
export class CommandNotFoundError extends PortcullisError {
  constructor(
    readonly command: string,
    hint?: string,
  ) {
    super('ERR_PORTCULLIS_COMMAND_NOT_FOUND', `${command}: command not found${hint ? ` (${hint})` : ''}`);
  }
}

/** A command ran and failed. */
export class CommandFailedError extends PortcullisError {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(
      'ERR_PORTCULLIS_COMMAND_FAILED',
      `${command} ${args.join(' ')} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${stderr.trim().slice(0, 500) || 'no output'}`,
    );
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** written to the command's stdin (nft -f -) */
  input?: string;
  /** exit codes that are not failures (e.g. conntrack's 1 for "nothing deleted") */
  okExitCodes?: readonly number[];
  timeoutMs?: number;
}

/** Runs a command: an argument array, never a shell. */
export type Runner = (command: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/** The real runner: execa with argument arrays, no shell, bounded time. */
export const runCommand: Runner = async (command, args, opts = {}) => {
  const result = await execa(command, [...args], {
    input: opts.input,
    reject: false,
    shell: false,
    timeout: opts.timeoutMs ?? 60_000,
    stripFinalNewline: false,
    env: { LC_ALL: 'C', LANG: 'C' },
    extendEnv: true,
  });
  const code = (result as { code?: string }).code;
  if (code === 'ENOENT' || (result.failed && /ENOENT/.test(String(result.message ?? '')) && result.exitCode === undefined)) {
    throw new CommandNotFoundError(command);
  }
  const exitCode = result.exitCode ?? -1;
  if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
    throw new CommandFailedError(
      command,
      args,
      result.exitCode,
      `${String(result.stderr ?? '')}${result.timedOut ? ' (timed out)' : ''}` || String(result.stdout ?? ''),
    );
  }
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode };
};

/**
 * Wraps a runner so calls run one at a time, in order (ufw is not safe to
 * run concurrently: it rewrites its rule files and reloads iptables).
 */
export function serialized(runner: Runner): Runner {
  let tail: Promise<unknown> = Promise.resolve();
  return (command, args, opts) => {
    const next = tail.then(() => runner(command, args, opts));
    tail = next.catch(() => {});
    return next;
  };
}

/** Is this binary on PATH? */
export async function commandExists(command: string, runner: Runner = runCommand): Promise<boolean> {
  try {
    await runner(command, ['--version'], { okExitCodes: [0, 1, 2] });
    return true;
  } catch (err) {
    return !(err instanceof CommandNotFoundError);
  }
}

/** Exponential backoff with jitter: 250 ms, 500 ms, … up to maxMs. */
export function backoffDelay(attempt: number, baseMs = 250, maxMs = 30_000): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}
