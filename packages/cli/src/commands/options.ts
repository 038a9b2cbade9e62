import type { Command } from 'commander';

/** The options every command shares (declared on the root program). */
export interface GlobalOptions {
  config?: string;
  redis?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** JSON for scripts: one document, newline-terminated. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
