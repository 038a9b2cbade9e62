import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, parseConfig, type PortcullisConfig } from '@portcullis/core';

export const USAGE = `Usage: portcullis-sidecar [options]

Applies Portcullis bans (Redis stream {prefix}:events) to this host's firewall.

Options:
  --config <file>      portcullis.yml/.json (default: $PORTCULLIS_CONFIG, else ./portcullis.yml if present)
  --host-id <id>       consumer group of this host (default: sidecar.hostId, else the host name)
  --backend <name>     ufw | nftables | dry-run (default: firewall.backend, ufw)
  --health-port <n>    /healthz and /metrics port (default: sidecar.healthPort, 9464; 0 = any)
  --health-host <addr> address to listen on (default: sidecar.healthHost, 127.0.0.1)
  --redis <url>        Redis URL (default: $REDIS_URL, else config redis)
  --log-level <level>  pino level (default: $LOG_LEVEL or info)
  -h, --help           this text

Environment: PORTCULLIS_CONFIG, REDIS_URL, PORTCULLIS_HOST_ID, LOG_LEVEL.
`;

export interface CliOptions {
  config: PortcullisConfig;
  configPath: string | null;
  logLevel: string;
  help: boolean;
}

/** Reads flags and environment into a validated config (flags > env > file > defaults). */
export async function resolveCliOptions(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<CliOptions> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      'host-id': { type: 'string' },
      backend: { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string' },
      redis: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const logLevel = values['log-level'] ?? env.LOG_LEVEL ?? 'info';
  if (values.help) return { config: parseConfig({}), configPath: null, logLevel, help: true };
  let configPath = values.config ?? env.PORTCULLIS_CONFIG ?? null;
  if (configPath === null && existsSync(`${cwd}/portcullis.yml`)) configPath = `${cwd}/portcullis.yml`;
  const base = configPath ? await loadConfig(configPath) : parseConfig({});
  // re-validate the overrides through the schema, so a bad flag is reported like a bad field
  const raw = {
    firewall: { ...base.firewall },
    sidecar: { ...base.sidecar },
  } as { firewall: Record<string, unknown>; sidecar: Record<string, unknown> };
  if (values.backend !== undefined) raw.firewall.backend = values.backend;
  const hostId = values['host-id'] ?? env.PORTCULLIS_HOST_ID;
  if (hostId !== undefined) raw.sidecar.hostId = hostId;
  if (values['health-port'] !== undefined) {
    const port = Number(values['health-port']);
    raw.sidecar.healthPort = Number.isInteger(port) ? port : values['health-port'];
  }
  if (values['health-host'] !== undefined) raw.sidecar.healthHost = values['health-host'];
  const redis = values.redis ?? env.REDIS_URL ?? base.redis;
  // durations are already in ms in `base`: pass them as "<n>ms"
  for (const key of ['reconcileInterval', 'claimIdle', 'checkInterval', 'unhealthyAfter', 'lockTtl'] as const) {
    raw.sidecar[key] = `${base.sidecar[key]}ms`;
  }
  const checked = parseConfig({ redis, firewall: raw.firewall, sidecar: raw.sidecar }, 'flags/environment');
  const config: PortcullisConfig = { ...base, redis: checked.redis, firewall: checked.firewall, sidecar: checked.sidecar };
  if (!config.redis) {
    throw new ConfigError([{ path: 'redis', message: 'the sidecar needs Redis: set `redis:` in the config, REDIS_URL or --redis' }], configPath ?? 'defaults');
  }
  return { config, configPath, logLevel, help: false };
}
