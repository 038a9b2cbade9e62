import { PortcullisError, ConfigError } from '@portcullis/core';

/** Exit codes a script can rely on (documented in README.md). */
export const EXIT = {
  OK: 0,
  /** bad IP, bad config, unknown jail, protected address, unreadable file… */
  USER: 1,
  /** unknown command or option, missing argument (commander) */
  USAGE: 2,
  /** Redis could not be reached */
  REDIS: 3,
} as const;

/** A user mistake the CLI itself detects (not one of core's typed errors). */
export class CliError extends PortcullisError {
  constructor(message: string) {
    super('ERR_PORTCULLIS_CLI', message);
  }
}

/** A user error whose details the command already wrote to stderr: exit 1, no further line. */
export class ReportedError extends CliError {}

/** Redis refused, timed out or went away. */
export class RedisUnreachableError extends PortcullisError {
  constructor(url: string, cause?: unknown) {
    const why = cause instanceof Error && cause.message ? ` (${cause.message})` : '';
    super('ERR_PORTCULLIS_REDIS_UNREACHABLE', `cannot reach Redis at ${redactUrl(url)}${why}`, { cause });
  }
}

const EXIT_BY_CODE: Record<string, number> = {
  ERR_PORTCULLIS_CONFIG: EXIT.USER,
  ERR_PORTCULLIS_INVALID_IP: EXIT.USER,
  ERR_PORTCULLIS_DURATION: EXIT.USER,
  ERR_PORTCULLIS_UNKNOWN_JAIL: EXIT.USER,
  ERR_PORTCULLIS_PROTECTED_IP: EXIT.USER,
  ERR_PORTCULLIS_CLI: EXIT.USER,
  ERR_PORTCULLIS_REDIS_UNREACHABLE: EXIT.REDIS,
  // Redis answers but is the wrong node, or looks wiped: a Redis problem, said in one line
  ERR_PORTCULLIS_REDIS_TOPOLOGY: EXIT.REDIS,
  ERR_PORTCULLIS_REDIS_WIPED: EXIT.REDIS,
};

export function exitCodeFor(err: unknown): number {
  if (err instanceof PortcullisError) return EXIT_BY_CODE[err.code] ?? EXIT.USER;
  return EXIT.USER;
}

/** One line for stderr, never a stack trace (PORTCULLIS_DEBUG=1 adds it). */
export function errorLine(err: unknown): string {
  if (err instanceof ConfigError) {
    const head = err.message.split('\n')[0]!.replace(/:$/, '');
    const [first, ...rest] = err.issues;
    const issue = first ? `: ${first.path ? `${first.path}: ` : ''}${first.message}` : '';
    const more = rest.length > 0 ? ` (and ${rest.length} more; run portcullis check-config)` : '';
    return oneLine(`${head}${issue}${more}`);
  }
  if (err instanceof Error) return oneLine(err.message || err.name);
  return oneLine(String(err));
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** redis://user:secret@host → redis://user:***@host: a password never reaches a terminal or log */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}
