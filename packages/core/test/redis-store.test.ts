import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBanStore, parseConfig, resolveJails } from '@portcullis/core';
import { RedisServer, freePort } from '../../../test/helpers/redis-server.js';
import { banStoreContract, CONTRACT_CONFIG } from './store-contract.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(() => server?.stop());

banStoreContract('RedisBanStore', async (config) => {
  const flush = new Redis(server.port);
  await flush.flushall();
  flush.disconnect();
  const store = new RedisBanStore({ config: { ...config, redis: server.url } });
  await store.connect();
  return store;
});

describe('RedisBanStore: the key schema (a public contract)', () => {
  it('writes exactly the documented keys', async () => {
    const r = server.client();
    await r.flushall();
    const config = parseConfig({ ...CONTRACT_CONFIG, redis: server.url, prefix: 'pc' });
    const store = new RedisBanStore({ config, by: 'test' });
    await store.connect();
    const login = resolveJails(config).get('django-login')!;
    const now = Date.now();
    for (let i = 0; i < 4; i++) await store.recordFailure(login, '203.0.113.7', now + i);
    expect(await r.type('{pc}:fail:django-login:203.0.113.7')).toBe('zset');
    expect(await r.zcard('{pc}:fail:django-login:203.0.113.7')).toBe(4);
    const ttl = await r.pttl('{pc}:fail:django-login:203.0.113.7');
    expect(ttl).toBeGreaterThan(590_000);
    await store.recordFailure(login, '203.0.113.7', now + 4);
    expect(await r.exists('{pc}:fail:django-login:203.0.113.7')).toBe(0);
    const ban = await r.hgetall('{pc}:ban:203.0.113.7');
    expect(ban).toEqual({ jail: 'django-login', reason: expect.any(String), at: String(now + 4), until: String(now + 4 + 3_600_000), count: '1', by: 'test' });
    expect(await r.zscore('{pc}:bans', '203.0.113.7')).toBe(String(now + 4 + 3_600_000));
    expect(await r.get('{pc}:offenses:203.0.113.7')).toBe('1');
    expect(await r.hgetall('{pc}:stats:django-login')).toEqual({ failed: '5', banned: '1' });
    const events = await r.xrange('{pc}:events', '-', '+');
    expect(events).toHaveLength(1);
    expect(events[0]![1]).toEqual(['type', 'ban', 'ip', '203.0.113.7', 'jail', 'django-login', 'until', String(now + 4 + 3_600_000), 'reason', 'maxretry', 'at', String(now + 4), 'count', '1']);
    expect((await r.pexpiretime('{pc}:ban:203.0.113.7'))).toBe(now + 4 + 3_600_000);
    await store.close();
    r.disconnect();
  });
});

describe('RedisBanStore: its own connection state and a subscription that holds', () => {
  const waitFor = async (what: string, cond: () => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('subscribes before Redis exists, reports down/up, and re-subscribes after a restart', async () => {
    const late = new RedisServer();
    late.port = await freePort();
    const config = parseConfig({ ...CONTRACT_CONFIG, redis: late.url });
    const store = new RedisBanStore({ config, by: 'late' });
    const states: string[] = [];
    const offState = store.onStateChange((s, err) => states.push(s === 'down' ? `down:${err instanceof Error}` : s));
    expect(store.state).toBe('down');
    await expect(store.connect(200)).rejects.toThrow();
    const seen: string[] = [];
    let held = 0;
    // resolves although nothing listens on the port yet
    const off = await store.subscribe((c) => seen.push(`${c.type} ${c.ip}`), { onSubscribed: () => held++ });
    expect(held).toBe(0);
    await late.restart();
    try {
      await waitFor('the subscription to hold', () => held === 1);
      await waitFor('the store up', () => store.state === 'up');
      const other = new RedisBanStore({ config, by: 'other' });
      await other.connect();
      await other.ban('203.0.113.1', { duration: 60_000 });
      await waitFor('the notice', () => seen.includes('ban 203.0.113.1'));
      // a crash and a restart: down with its error, then up, held again, notices flow
      await late.kill();
      await waitFor('the store down', () => store.state === 'down');
      await late.restart();
      await waitFor('held again', () => held === 2);
      await waitFor('the store up again', () => store.state === 'up');
      await waitFor('the other store up again', () => other.state === 'up');
      // (the restarted Redis is empty: no persistence in tests)
      await other.ban('203.0.113.2', { duration: 60_000 });
      await waitFor('the notice after the restart', () => seen.includes('ban 203.0.113.2'));
      expect(states).toEqual(['up', 'down:true', 'up']);
      offState();
      await off();
      await other.close();
    } finally {
      await store.close();
      await late.stop();
    }
  });
});
