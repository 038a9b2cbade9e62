import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { run, type Io } from '@portcullis/cli';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the program in-process with captured output and the given environment. */
export async function cli(
  argv: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; tty?: boolean; stdin?: string | Buffer } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false },
    ...(opts.stdin !== undefined ? { stdin: Readable.from([Buffer.from(opts.stdin)]) } : {}),
    env: opts.env ?? {},
    cwd: opts.cwd ?? tmpDir(),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

export function tmpDir(): string {
  return mkdtempSync(join(tmpdir(), 'pc-cli-'));
}

/** Writes a file into a fresh temp dir and returns its path. */
export function tmpFile(name: string, text: string): string {
  const path = join(tmpDir(), name);
  writeFileSync(path, text);
  return path;
}
