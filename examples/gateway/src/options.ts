import { existsSync } from 'node:fs';
import { loadConfig, parseConfig, type PortcullisConfig } from '@portcullis/core';

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
 * them: PORTCULLIS_CONFIG (else ./portcullis.yml if present), REDIS_URL,
 * DJANGO_URL, PORT, HOST.
 */
export async function gatewayOptions(env: NodeJS.ProcessEnv = process.env): Promise<GatewayOptions> {
  const file = env.PORTCULLIS_CONFIG ?? (existsSync('portcullis.yml') ? 'portcullis.yml' : undefined);
  let config = file ? await loadConfig(file) : parseConfig({});
  if (env.REDIS_URL) config = { ...config, redis: env.REDIS_URL };
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${env.PORT}`);
  return {
    config,
    configSource: file ?? 'built-in defaults (django-login jail)',
    djangoUrl: env.DJANGO_URL || undefined,
    port,
    host: env.HOST ?? '0.0.0.0',
  };
}
