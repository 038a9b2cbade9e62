import type { Readable } from 'node:stream';

/**
 * Where a command reads its environment and writes its output. main.ts passes
 * the process's own; tests pass buffers and run the program in-process.
 */
export interface Io {
  stdout: { write(chunk: string): unknown };
  /** isTTY decides whether replay draws a progress bar */
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  /** what `replay -` reads */
  stdin?: Readable;
  env: Record<string, string | undefined>;
  cwd: string;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}
