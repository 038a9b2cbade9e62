import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError, discoverConfig, parseConfig, type PortcullisConfig } from '@portcullis/core';

// from the package's own manifest (src/ and dist/ both sit one level below it)
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The flags, as commander reads them. */
interface SidecarFlags {
  config?: string;
  hostId?: string;
  backend?: string;
  healthPort?: string;
  healthHost?: string;
  redis?: string;
  logLevel?: string;
}

/** `portcullis-sidecar`'s flags, help and --version (commander, as the CLI). */
export function sidecarCommand(): Command {
  return new Command('portcullis-sidecar')
    .description("Applies Portcullis bans (Redis stream {prefix}:events) to this host's firewall.")
    .version(VERSION)
    .option('-c, --config <file>', 'portcullis.yml/.json (default: $PORTCULLIS_CONFIG, else ./portcullis.yml if present)')
    .option('--redis <url>', "Redis to read bans from (default: $REDIS_URL, else the config's redis)")
    .option('--host-id <id>', 'consumer group of this host (default: $PORTCULLIS_HOST_ID, sidecar.hostId, else the host name)')
    .addOption(new Option('--backend <name>', 'firewall backend (default: firewall.backend, ufw)').choices(['ufw', 'nftables', 'dry-run']))
    .option('--health-port <n>', '/healthz and /metrics port (default: sidecar.healthPort, 9464; 0 = any)')
    .option('--health-host <addr>', 'address to listen on (default: sidecar.healthHost, 127.0.0.1)')
    .option('--log-level <level>', 'pino level (default: $LOG_LEVEL or info)')
    .addHelpText('after', '\nEnvironment: PORTCULLIS_CONFIG, REDIS_URL, PORTCULLIS_HOST_ID, LOG_LEVEL.');
}

export interface CliOptions {
  config: PortcullisConfig;
  configPath: string | null;
  logLevel: string;
}

/** No Redis anywhere: the sidecar has nothing to read bans from. */
export class NoRedisError extends ConfigError {
  constructor(configPath: string | null) {
    const where = configPath
      ? `\`redis:\` in ${configPath}`
      : '`redis:` in a config file (none found: --config, $PORTCULLIS_CONFIG, ./portcullis.yml)';
    super([{ path: 'redis', message: 'required by the sidecar' }], configPath ?? undefined);
    this.message = `no Redis configured: the sidecar applies the bans it reads from Redis. Set ${where}, REDIS_URL, or --redis redis://host:6379`;
  }
}

/**
 * Flags and environment into a validated config: core's discovery (file,
 * --redis/REDIS_URL), then this host's flags, each checked by the schema
 * like the field it sets (flags > env > file > defaults). Throws a
 * CommanderError for an unknown flag, a ConfigError for a bad value.
 */
export async function resolveCliOptions(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<CliOptions> {
  const cmd = sidecarCommand()
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  cmd.parse(argv, { from: 'user' });
  return optionsFrom(cmd.opts<SidecarFlags>(), env, cwd);
}

export async function optionsFrom(flags: SidecarFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<CliOptions> {
  const { config: base, source } = await discoverConfig({ file: flags.config, redis: flags.redis, env, cwd });
  const firewall: Record<string, unknown> = {};
  const sidecar: Record<string, unknown> = {};
  if (flags.backend !== undefined) firewall.backend = flags.backend;
  const hostId = flags.hostId ?? env.PORTCULLIS_HOST_ID;
  if (hostId !== undefined) sidecar.hostId = hostId;
  if (flags.healthPort !== undefined) {
    const port = Number(flags.healthPort);
    sidecar.healthPort = Number.isInteger(port) ? port : flags.healthPort;
  }
  if (flags.healthHost !== undefined) sidecar.healthHost = flags.healthHost;
  // only the fields set here are taken from the check; the rest stay the file's
  const checked = parseConfig({ firewall, sidecar }, 'flags/environment');
  const pick = <T extends object>(from: T, keys: object) => Object.fromEntries(Object.keys(keys).map((k) => [k, from[k as keyof T]]));
  const config: PortcullisConfig = {
    ...base,
    firewall: { ...base.firewall, ...pick(checked.firewall, firewall) },
    sidecar: { ...base.sidecar, ...pick(checked.sidecar, sidecar) },
  };
  if (config.redis === undefined) throw new NoRedisError(source);
  return { config, configPath: source, logLevel: flags.logLevel ?? env.LOG_LEVEL ?? 'info' };
}
