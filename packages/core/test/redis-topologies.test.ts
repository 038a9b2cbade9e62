import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  RedisBanStore,
  RedisTopologyError,
  RedisWipedError,
  parseBanEvent,
  parseConfig,
  resolveJails,
  type BanChange,
  type BanStore,
} from '@portcullis/core';
import { nodeClient, RedisServer, waitFor } from '@portcullis/testkit';
import { useTopologies } from '@portcullis/testkit/fixtures';
import { banStoreContract, CONTRACT_CONFIG } from './store-contract.js';

const sets = useTopologies();

async function flush(ports: number[]): Promise<void> {
  for (const port of ports) {
    const c = nodeClient(port);
    await c.flushall();
    c.disconnect();
  }
}

async function streamEvents(port: number, store: BanStore) {
  const c = nodeClient(port);
  const entries = await c.xrange((store as RedisBanStore).keys.events, '-', '+');
  c.disconnect();
  return entries.map(([, fields]) => parseBanEvent(fields));
}

banStoreContract('RedisBanStore on a Redis Cluster', {
  async make(config, opts = {}) {
    await flush(await sets.cluster.masters());
    const store = new RedisBanStore({ config: { ...config, redis: sets.cluster.url }, ...opts });
    await store.connect();
    return store;
  },
  async events(store) {
    return streamEvents((await sets.cluster.ownerOf('{portcullis}:events')).master, store);
  },
});

banStoreContract('RedisBanStore through Redis Sentinel', {
  async make(config, opts = {}) {
    await flush([await sets.sentinel.masterPort()]);
    const store = new RedisBanStore({ config: { ...config, redis: sets.sentinel.url }, ...opts });
    await store.connect();
    return store;
  },
  async events(store) {
    return streamEvents(await sets.sentinel.masterPort(), store);
  },
});

describe('a wrong node says so in one line', () => {
  const config = parseConfig({ ...CONTRACT_CONFIG });

  async function connectError(redis: string): Promise<RedisTopologyError> {
    const store = new RedisBanStore({ config: { ...config, redis }, retry: false });
    try {
      await store.connect();
    } catch (err) {
      return err as RedisTopologyError;
    } finally {
      await store.close();
    }
    throw new Error(`${redis} was accepted`);
  }

  it('a cluster node reached as one server, a replica, a Sentinel port, one server reached as a cluster', async () => {
    const node = await sets.cluster.nonOwnerOf('{portcullis}:bans');
    const asOne = await connectError(`redis://127.0.0.1:${node}`);
    expect(asOne).toBeInstanceOf(RedisTopologyError);
    expect(asOne.message).toMatch(/is a Redis Cluster node: use redis\+cluster:\/\//);

    const replica =
      sets.sentinel.data.find((n) => n.child)!.port === (await sets.sentinel.masterPort())
        ? sets.sentinel.data[1]!
        : sets.sentinel.data[0]!;
    expect((await connectError(`redis://127.0.0.1:${replica.port}`)).message).toMatch(/is a read-only replica of 127\.0\.0\.1:\d+/);
    expect((await connectError(`redis://127.0.0.1:${sets.sentinel.sentinels[0]!.port}`)).message).toMatch(
      /is a Redis Sentinel, not a data server: use redis\+sentinel:\/\//,
    );
  });

  it('MOVED from a passed-in client on a non-owner node is that one line, not a retry loop', async () => {
    const node = await sets.cluster.nonOwnerOf('{portcullis}:bans');
    const client = new Redis(node, '127.0.0.1', { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    const store = new RedisBanStore({ config, redis: client });
    const login = resolveJails(config).get('django-login')!;
    const err = await store.recordFailure(login, '203.0.113.9').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisTopologyError);
    expect((err as Error).message).toMatch(/does not own the Portcullis slot \(owner 127\.0\.0\.1:\d+\)/);
    await store.close();
    client.disconnect();
  });

  it('a standalone server given as a cluster never gets ready and says why', async () => {
    const server = await RedisServer.start();
    try {
      const store = new RedisBanStore({ config: { ...config, redis: `redis+cluster://127.0.0.1:${server.port}` }, retry: false });
      const err = await store.connect(3000).catch((e: unknown) => e);
      await store.close();
      expect(err).toBeInstanceOf(RedisTopologyError);
      expect((err as Error).message).toMatch(/is not a Cluster node: use redis:\/\//);
    } finally {
      await server.stop();
    }
  });
});

describe('the {p}:meta marker: a wiped Redis is never a reason to drop bans', () => {
  it('a store that saw the marker refuses full reads once it is gone, until an operator accepts', async () => {
    const server = await RedisServer.start();
    const config = parseConfig({ ...CONTRACT_CONFIG, redis: server.url });
    const wiped: RedisWipedError[] = [];
    const store = new RedisBanStore({ config, onWiped: (e) => wiped.push(e) });
    try {
      await store.connect();
      await store.ban('203.0.113.20');
      expect((await store.activeBans()).map((b) => b.ip)).toEqual(['203.0.113.20']);
      // the master comes back empty (no persistence): the reconnect finds no marker
      await server.restart();
      await waitFor('the store to see the wiped Redis', () => wiped.length === 1, 15_000);
      await expect(store.activeBans()).rejects.toBeInstanceOf(RedisWipedError);
      await expect(store.activeBansPage('0')).rejects.toThrow(/looks wiped.*accepted/);
      // a new process writes a marker of its own: still not the data this store knew
      const fresh = new RedisBanStore({ config });
      await fresh.connect();
      await fresh.close();
      await (store as RedisBanStore).marker.verify();
      await expect(store.activeBans()).rejects.toBeInstanceOf(RedisWipedError);
      // the operator accepts this Redis as it is
      const r = server.client();
      await r.hset('{portcullis}:meta', 'accepted', String(Date.now()));
      r.disconnect();
      await store.marker.verify();
      expect(await store.activeBans()).toEqual([]);
    } finally {
      await store.close();
      await server.stop();
    }
  }, 60_000);
});

describe('sharded notices on a Cluster follow a failover', () => {
  it('the subscription moves to the new owner, resyncs, and bans after the failover reach it', async () => {
    const config = parseConfig({ ...CONTRACT_CONFIG, redis: sets.cluster.url });
    const writer = new RedisBanStore({ config });
    const reader = new RedisBanStore({ config });
    await Promise.all([writer.connect(), reader.connect()]);
    const seen: BanChange[] = [];
    let holds = 0;
    const off = await reader.subscribe((c) => seen.push(c), { onSubscribed: () => holds++ });
    try {
      await waitFor('the sharded subscription to hold', () => holds >= 1, 30_000);
      // the notices go out with SPUBLISH, inside the {p} slot's shard: SSUBSCRIBE on its master hears them
      const { master, replicas } = await sets.cluster.ownerOf('{portcullis}:changes');
      const plain = nodeClient(master);
      const sharded: string[] = [];
      plain.on('smessage', (_c: string, m: string) => sharded.push(m));
      await plain.ssubscribe('{portcullis}:changes');
      await writer.ban('203.0.113.30');
      await waitFor('the notice before the failover', () => seen.some((c) => c.ip === '203.0.113.30'), 30_000);
      await waitFor('the sharded notice on the slot master', () => sharded.some((m) => m.includes('203.0.113.30')), 30_000);
      plain.disconnect();
      await sets.cluster.failover(replicas[0]!);
      await waitFor('the subscription to hold again on the new owner', () => holds >= 2, 30_000);
      await waitFor(
        'a ban written after the failover to arrive',
        async () => {
          await writer.ban('203.0.113.31');
          return seen.some((c) => c.ip === '203.0.113.31');
        },
        30_000,
      );
      // the old master is killed outright: the subscription moves again
      await sets.cluster.kill(replicas[0]!);
      await waitFor('the subscription to hold on the old master again', () => holds >= 3, 30_000);
      await waitFor(
        'a ban written after the kill to arrive',
        async () => {
          await writer.ban('203.0.113.32').catch(() => {});
          return seen.some((c) => c.ip === '203.0.113.32');
        },
        30_000,
      );
      expect((await sets.cluster.ownerOf('{portcullis}:changes')).master).toBe(master);
      await sets.cluster.restart(replicas[0]!);
      await sets.cluster.waitHealthy();
      // nothing was lost: the bans are all there
      expect((await reader.activeBans()).map((b) => b.ip).sort()).toEqual(['203.0.113.30', '203.0.113.31', '203.0.113.32']);
    } finally {
      await off();
      await writer.close();
      await reader.close();
    }
  }, 120_000);
});
