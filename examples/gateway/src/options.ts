import { ConfigError, discoverConfig, type PortcullisConfig } from '@portcullis/core';

export interface GatewayOptions {
  config: PortcullisConfig;
  /** where the config came from, for the start line */
  configSource: string;
  /** Django's address; undefined = start the demo upstream */
  djangoUrl: string | undefined;
  port: number;
  host: string;
}

/**
 * Settings from the shared config file plus env, the way a container gets
 * them: core's discovery (PORTCULLIS_CONFIG, else ./portcullis.yml if
 * present; REDIS_URL), then DJANGO_URL, PORT, HOST.
 */
export async function gatewayOptions(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<GatewayOptions> {
  const { config, source } = await discoverConfig({ env, cwd });
  const port = Number(env.PORT ?? 8080);
  if (env.PORT === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(
      [{ path: 'PORT', message: `expected a port number (0-65535), got ${JSON.stringify(env.PORT)}` }],
      'the environment',
    );
  }
  return {
    config,
    configSource: source ?? 'built-in defaults (django-login jail)',
    djangoUrl: env.DJANGO_URL || undefined,
    port,
    host: env.HOST ?? '0.0.0.0',
  };
}
