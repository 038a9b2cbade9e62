import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type PortcullisConfig, type PortcullisConfigInput } from './schema.js';

function issuesOf(error: ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : issue.message,
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
  return parseConfig(await readConfigData(path), path);
}

/** The file's data as written (YAML or JSON), before validation. */
async function readConfigData(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
  try {
    return extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot parse: ${(err as Error).message}` }], path);
  }
}

export interface DiscoverConfigOptions {
  /** a file named on the command line: wins over $PORTCULLIS_CONFIG and ./portcullis.yml */
  file?: string | undefined;
  /** a Redis named on the command line (--redis): wins over $REDIS_URL and the file's `redis` */
  redis?: string | undefined;
  env?: Record<string, string | undefined>;
  /** where ./portcullis.yml and relative paths are looked up */
  cwd?: string;
}

export interface DiscoveredConfig {
  config: PortcullisConfig;
  /** the file read (absolute), or null when none exists and the defaults apply */
  source: string | null;
  /** where `redis` came from: "--redis", "REDIS_URL", the file, or null when none is set */
  redisSource: string | null;
}

/**
 * The one way every Portcullis program finds its config: the file named
 * (flag), else $PORTCULLIS_CONFIG, else ./portcullis.yml when it exists, else
 * the defaults; then `redis` from --redis, else $REDIS_URL, else the file.
 * The override goes through the same schema as the file's field, so any form
 * the `redis` field accepts is accepted from the flag or the environment too.
 */
export async function discoverConfig(opts: DiscoverConfigOptions = {}): Promise<DiscoveredConfig> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const named = opts.file ?? (env.PORTCULLIS_CONFIG || undefined);
  const local = resolve(cwd, 'portcullis.yml');
  const source = named !== undefined ? resolve(cwd, named) : existsSync(local) ? local : null;
  const data = source === null ? {} : await readConfigData(source);
  const config = parseConfig(data, source ?? undefined);
  const [redisSource, url] =
    opts.redis !== undefined ? ['--redis', opts.redis] : env.REDIS_URL ? ['REDIS_URL', env.REDIS_URL] : [null, undefined];
  if (redisSource === null || url === undefined) {
    return { config, source, redisSource: config.redis === undefined ? null : source };
  }
  // the override alone through the schema: an error names the flag or variable, not the file
  const { redis } = parseConfig({ redis: url }, redisSource);
  return { config: { ...config, redis }, source, redisSource };
}

export type { PortcullisConfig, PortcullisConfigInput };
