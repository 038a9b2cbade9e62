import { RedisTopologyError } from '../errors.js';
import { isCluster, type RedisClient } from '../redis.js';

/**
 * One clear line for a Redis that answers but is the wrong node, asked at
 * start and after every reconnect: a replica (writes fail READONLY), a
 * Sentinel (knows no data commands), a Cluster node reached as one server
 * (MOVED for slots it does not own), one server reached as a Cluster.
 * null when the node is what the setting says.
 */
export async function topologyProblem(client: RedisClient, where: string): Promise<RedisTopologyError | null> {
  try {
    if (isCluster(client)) {
      const info = String(await client.cluster('INFO'));
      return info.includes('cluster_state:ok')
        ? null
        : new RedisTopologyError(`${where}: the cluster reports cluster_state:fail (a slot has no live master)`);
    }
    const role = (await client.call('ROLE')) as unknown[];
    if (role[0] === 'sentinel') {
      return new RedisTopologyError(
        `${where} is a Redis Sentinel, not a data server: use redis+sentinel://<sentinel host:port,…>/<master name>`,
      );
    }
    if (role[0] === 'slave') {
      return new RedisTopologyError(
        `${where} is a read-only replica of ${String(role[1])}:${String(role[2])}: point redis at the master, or use redis+sentinel:// so failovers are followed`,
      );
    }
    if (/cluster_enabled:1/.test(await client.info('cluster'))) {
      return new RedisTopologyError(
        `${where} is a Redis Cluster node: use redis+cluster://<host:port,…> (one node reached alone answers MOVED for the slots it does not own)`,
      );
    }
    return null;
  } catch (err) {
    return explainRedisError(err, where);
  }
}

/** A Redis error that means "wrong node" as that one clear line; null for any other error. */
export function explainRedisError(err: unknown, where: string): RedisTopologyError | null {
  if (err instanceof RedisTopologyError) return err;
  // a Cluster that found no usable node carries the last node's own error
  const nodeError = (err as { lastNodeError?: Error } | null)?.lastNodeError;
  const text = `${String((err as Error)?.message ?? err)} ${nodeError?.message ?? ''}`;
  const cause = { cause: err };
  const moved = /\bMOVED \d+ (\S+)/.exec(text);
  if (moved) {
    return new RedisTopologyError(
      `${where} is a Redis Cluster node that does not own the Portcullis slot (owner ${moved[1]}): use redis+cluster://<host:port,…>`,
      cause,
    );
  }
  if (/\bREADONLY\b/.test(text)) {
    return new RedisTopologyError(
      `${where} is a read-only replica: point redis at the master, or use redis+sentinel:// so failovers are followed`,
      cause,
    );
  }
  if (/\bCROSSSLOT\b/.test(text)) {
    return new RedisTopologyError(
      `${where}: one call's keys fall in different slots; every Portcullis key shares the {prefix} hash tag, so a client with its own keyPrefix was passed in`,
      cause,
    );
  }
  if (/cluster support disabled/i.test(text)) {
    return new RedisTopologyError(`${where} is not a Cluster node: use redis://host:port (or redis+sentinel://)`, cause);
  }
  return null;
}
