import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisClusterSet, RedisSentinelSet, nodeClient } from './helpers/redis-topologies.js';

describe('topology harness', () => {
  let cluster: RedisClusterSet;
  let sentinel: RedisSentinelSet;
  beforeAll(async () => {
    [cluster, sentinel] = await Promise.all([RedisClusterSet.start(), RedisSentinelSet.start()]);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await sentinel?.stop();
  });

  it('a 3 + 3 cluster whose slot owner can be failed over and killed', async () => {
    expect((await cluster.masters()).length).toBe(3);
    const { master, replicas } = await cluster.ownerOf('{portcullis}:bans');
    expect(replicas.length).toBe(1);
    await cluster.failover(replicas[0]!);
    expect((await cluster.ownerOf('{portcullis}:bans')).master).toBe(replicas[0]);
    await cluster.kill(replicas[0]!);
    await cluster.waitHealthy();
    expect((await cluster.ownerOf('{portcullis}:bans')).master).toBe(master);
    await cluster.restart(replicas[0]!);
    await cluster.waitHealthy();
  }, 120_000);

  it('a 1 + 1 + 3 sentinel set whose master can be killed and come back empty', async () => {
    const before = await sentinel.masterPort();
    const c = nodeClient(before);
    await c.set('k', 'v');
    c.disconnect();
    const { old, now } = await sentinel.killMaster();
    expect(old).toBe(before);
    expect(now).not.toBe(before);
    await sentinel.restart(old);
    await sentinel.waitStable();
    expect(await sentinel.masterPort()).toBe(now);
  }, 120_000);
});
