import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisTarget, type RedisSetting, type RedisTarget } from './redis-target.js';

/** What every part of Portcullis talks to: one server (direct or found through Sentinel) or a Cluster. */
export type RedisClient = Redis | Cluster;

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

const RECONNECT = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);

function tlsOptions(t: RedisTarget): ConnectionOptions | undefined {
  if (!t.tls) return undefined;
  const { caFile, ...rest } = t.tls;
  return caFile ? { ...rest, ca: readFileSync(caFile) } : rest;
}

/**
 * The one place a Redis client is made (store, CLI, sidecar), for every
 * form of the `redis` setting. The client never queues commands while
 * disconnected: when Redis is down, calls fail at once instead of piling up
 * and replaying a backlog.
 */
export function createRedis(setting: RedisSetting, opts: RedisConnectOptions = {}): RedisClient {
  const t = redisTarget(setting);
  const tls = tlsOptions(t);
  const node: RedisOptions = {
    maxRetriesPerRequest: 0,
    connectTimeout: opts.connectTimeout ?? 2000,
    ...(opts.commandTimeout ? { commandTimeout: opts.commandTimeout } : {}),
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(tls ? { tls } : {}),
  };
  const retry = opts.retry === false ? () => null : RECONNECT;
  if (t.mode === 'cluster') {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: retry,
      // its ready check is a CLUSTER INFO sent before 'ready': with no offline queue it is refused
      // and the client reconnects (or, retry off, gives up); the store asks CLUSTER INFO itself
      enableReadyCheck: false,
      // a failover takes the cluster a second or two: retry moved/down slots meanwhile, briefly
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      redisOptions: node,
      ...(opts.autoPipelining ? { enableAutoPipelining: true } : {}),
    };
    return new Cluster(t.nodes, options);
  }
  const options: RedisOptions = {
    ...node,
    enableOfflineQueue: false,
    lazyConnect: true,
    db: t.db,
    retryStrategy: retry,
    ...(opts.autoPipelining ? { enableAutoPipelining: true } : {}),
  };
  if (t.mode === 'sentinel') {
    Object.assign(options, {
      sentinels: t.nodes,
      name: t.name,
      role: 'master',
      ...(t.sentinelUsername ? { sentinelUsername: t.sentinelUsername } : {}),
      ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      sentinelRetryStrategy: retry,
      // hear +switch-master from the sentinels instead of waiting for the old master's socket to die
      failoverDetector: true,
    } satisfies RedisOptions);
  } else {
    const [{ host, port }] = t.nodes as [{ host: string; port: number }];
    Object.assign(options, { host, port });
  }
  return new Redis(options);
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** Resolves when the client is ready, or rejects after `timeoutMs` / on a final error. */
export async function waitReady(redis: RedisClient, timeoutMs = 5000): Promise<void> {
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
