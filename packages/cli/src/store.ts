import { hostname } from 'node:os';
import { PortcullisError, RedisBanStore, describeRedis, type PortcullisConfig } from '@portcullis/core';
import { CliError, RedisUnreachableError } from './errors.js';

/** How long the CLI waits for Redis before exit code 3. */
export const CONNECT_TIMEOUT_MS = 2000;

/**
 * Runs `fn` with a connected RedisBanStore (the same Lua scripts as the
 * middleware), failing fast when Redis is unreachable: no retries, short
 * connect timeout, and connection errors mid-command also map to exit 3.
 */
export async function withStore<T>(config: PortcullisConfig, fn: (store: RedisBanStore) => Promise<T>): Promise<T> {
  if (!config.redis) {
    throw new CliError(
      'no Redis configured: set `redis:` in the config, REDIS_URL or --redis (the embedded store lives inside one gateway process)',
    );
  }
  const url = describeRedis(config.redis);
  const store = new RedisBanStore({ config, retry: false, commandTimeout: 5000, by: `cli@${hostname()}` });
  let lastError: Error | undefined;
  // an 'error' listener keeps ioredis from printing its own unhandled-error lines
  store.redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    try {
      await store.connect(CONNECT_TIMEOUT_MS);
    } catch (err) {
      // a wrong node (replica, Sentinel, non-owner Cluster node) says so in its own words
      if (err instanceof PortcullisError) throw err;
      throw new RedisUnreachableError(url, lastError ?? err);
    }
    try {
      return await fn(store);
    } catch (err) {
      if (err instanceof PortcullisError) throw err;
      const lost = store.redis.status !== 'ready' || /timed out|ECONN|EPIPE|closed/i.test(String((err as Error)?.message));
      if (lost) throw new RedisUnreachableError(url, lastError ?? err);
      throw err;
    }
  } finally {
    // disconnect() on a client that already ended keeps the process alive for
    // connectTimeout (seen with ioredis 5): exit 3 must be fast, so skip it
    if (store.redis.status !== 'end') await store.close();
  }
}
