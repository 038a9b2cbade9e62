import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type PortcullisConfig, type PortcullisConfigInput } from './schema.js';

function issuesOf(error: ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message:
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
        : issue.message,
  }));
}

/** Marks a validated config, so parsing it again is a no-op (durations are already ms). */
const PARSED = Symbol.for('portcullis.config.parsed');

export function isParsedConfig(value: unknown): value is PortcullisConfig {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PARSED] === true;
}

/**
 * Validates a config object (as written in portcullis.yml) and fills defaults.
 * Throws ConfigError naming every bad field's path; nothing starts with a bad config.
 */
export function parseConfig(input: unknown, source?: string): PortcullisConfig {
  if (isParsedConfig(input)) return input;
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) throw new ConfigError(issuesOf(result.error), source);
  return Object.assign(result.data, { [PARSED]: true });
}

/** Reads portcullis.yml / .yaml / .json (same schema) and validates it. */
export async function loadConfig(path: string): Promise<PortcullisConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
  let data: unknown;
  try {
    data = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot parse: ${(err as Error).message}` }], path);
  }
  return parseConfig(data, path);
}

export type { PortcullisConfig, PortcullisConfigInput };
