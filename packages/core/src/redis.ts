import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectOptions {
  /** a command slower than this fails (ms); keeps the gateway fast when Redis hangs */
  commandTimeout?: number;
  /** keep retrying forever (daemons) or give up at once (CLI) */
  retry?: boolean;
  connectTimeout?: number;
  /**
   * coalesce the commands of one event-loop turn into one write: pays off
   * with many concurrent callers (a gateway under load), costs a little for
   * one caller issuing commands in a tight loop (bench/FINDINGS.md)
   */
  autoPipelining?: boolean;
}

/**
 * A client that never queues commands while disconnected: when Redis is
 * down, calls fail at once instead of piling up and replaying a backlog.
 */
export function createRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: opts.connectTimeout ?? 2000,
    lazyConnect: true,
    retryStrategy: opts.retry === false ? () => null : (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  if (opts.commandTimeout) options.commandTimeout = opts.commandTimeout;
  if (opts.autoPipelining) options.enableAutoPipelining = true;
  return new Redis(url, options);
}

/** Resolves when the client is ready, or rejects after `timeoutMs` / on a final error. */
export async function waitReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') void redis.connect().catch(() => {});
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`Redis not ready after ${timeoutMs} ms`)), timeoutMs);
    const onReady = () => done();
    const onEnd = () => done(new Error('Redis connection closed'));
    function done(err?: Error) {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    }
    redis.on('ready', onReady);
    redis.on('end', onEnd);
  });
}
