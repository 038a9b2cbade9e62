import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, parseConfig, type PortcullisConfig } from '@portcullis/core';
import type { Io } from './io.js';

export interface LoadedConfig {
  config: PortcullisConfig;
  /** the file read, or null when none exists and the defaults apply */
  source: string | null;
}

/**
 * Which config file: the one named (--config or check-config's argument),
 * else $PORTCULLIS_CONFIG, else ./portcullis.yml when it exists, else none.
 */
export function configPath(io: Io, explicit?: string): string | null {
  const named = explicit ?? io.env.PORTCULLIS_CONFIG;
  if (named) return resolve(io.cwd, named);
  const local = resolve(io.cwd, 'portcullis.yml');
  return existsSync(local) ? local : null;
}

/** Loads and validates the config; $REDIS_URL overrides its `redis`. */
export async function resolveConfig(io: Io, explicit?: string): Promise<LoadedConfig> {
  const source = configPath(io, explicit);
  const config = source ? await loadConfig(source) : parseConfig({});
  const url = io.env.REDIS_URL;
  if (url) {
    if (!/^rediss?:\/\/./.test(url) || !URL.canParse(url)) {
      throw new ConfigError([{ path: 'REDIS_URL', message: 'expected a redis:// or rediss:// URL' }], 'the environment');
    }
    return { config: { ...config, redis: url }, source };
  }
  return { config, source };
}
