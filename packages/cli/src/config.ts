import { discoverConfig, type DiscoveredConfig } from '@portcullis/core';
import type { Io } from './io.js';
import type { GlobalOptions } from './commands/options.js';

export type LoadedConfig = DiscoveredConfig;

/**
 * The config for a command: core's discovery (--config, $PORTCULLIS_CONFIG,
 * ./portcullis.yml, defaults; --redis, $REDIS_URL) with this process's io.
 */
export function resolveConfig(io: Io, opts: GlobalOptions): Promise<LoadedConfig> {
  return discoverConfig({ file: opts.config, redis: opts.redis, env: io.env, cwd: io.cwd });
}
