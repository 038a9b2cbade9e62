import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBanStore, parseBanEvent, parseConfig, resolveJails } from '@portcullis/core';
import { freePort, RedisServer, waitFor } from '@portcullis/testkit';
import { banStoreContract, CONTRACT_CONFIG } from './store-contract.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(() => server?.stop());

banStoreContract('RedisBanStore', {
  async make(config, opts = {}) {
    const flush = new Redis(server.port);
    await flush.flushall();
    flush.disconnect();
    const store = new RedisBanStore({ config: { ...config, redis: server.url }, ...opts });
    await store.connect();
    return store;
  },
  async events(store) {
    const r = server.client();
    const entries = await r.xrange((store as RedisBanStore).keys.events, '-', '+');
    r.disconnect();
    return entries.map(([, fields]) => parseBanEvent(fields));
  },
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
    expect(ban).toEqual({
      jail: 'django-login',
      reason: expect.any(String),
      at: String(now + 4),
      until: String(now + 4 + 3_600_000),
      count: '1',
      by: 'test',
      'until:django-login': String(now + 4 + 3_600_000),
    });
    expect(await r.zscore('{pc}:bans', '203.0.113.7')).toBe(String(now + 4 + 3_600_000));
    expect(await r.zrange('{pc}:jailbans', 0, -1, 'WITHSCORES')).toEqual(['django-login:203.0.113.7', String(now + 4 + 3_600_000)]);
    expect(await r.get('{pc}:offenses:203.0.113.7')).toBe('1');
    expect(await r.hgetall('{pc}:stats:django-login')).toEqual({ failed: '5', banned: '1' });
    const events = await r.xrange('{pc}:events', '-', '+');
    expect(events).toHaveLength(1);
    expect(events[0]![1]).toEqual([
      'type',
      'ban',
      'ip',
      '203.0.113.7',
      'jail',
      'django-login',
      'until',
      String(now + 4 + 3_600_000),
      'reason',
      'maxretry',
      'at',
      String(now + 4),
      'count',
      '1',
    ]);
    expect(await r.pexpiretime('{pc}:ban:203.0.113.7')).toBe(now + 4 + 3_600_000);
    await store.close();
    r.disconnect();
  });
});

describe('RedisBanStore: an address banned in two jails', () => {
  it('keeps until:<jail> per jail in the hash and one {p}:jailbans member each; unban lifts every one', async () => {
    const r = server.client();
    await r.flushall();
    const config = parseConfig({
      ...CONTRACT_CONFIG,
      redis: server.url,
      prefix: 'pc',
      firewall: { ports: [80, 443] },
      jails: { ...CONTRACT_CONFIG.jails, sshd: { preset: 'sshd' } },
    });
    const store = new RedisBanStore({ config, by: 'test' });
    await store.connect();
    const now = Date.now();
    await store.ban('203.0.113.7', { jail: 'django-login', duration: 60_000, now });
    await store.ban('203.0.113.7', { jail: 'sshd', duration: 3_600_000, now: now + 1 });
    expect(await r.hgetall('{pc}:ban:203.0.113.7')).toMatchObject({
      jail: 'sshd',
      until: String(now + 1 + 3_600_000),
      'until:django-login': String(now + 60_000),
      'until:sshd': String(now + 1 + 3_600_000),
    });
    expect(await r.zscore('{pc}:bans', '203.0.113.7')).toBe(String(now + 1 + 3_600_000));
    expect(await r.zrange('{pc}:jailbans', 0, -1, 'WITHSCORES')).toEqual([
      'django-login:203.0.113.7',
      String(now + 60_000),
      'sshd:203.0.113.7',
      String(now + 1 + 3_600_000),
    ]);
    expect(await r.pexpiretime('{pc}:ban:203.0.113.7')).toBe(now + 1 + 3_600_000);
    await store.unban('203.0.113.7');
    expect(await r.exists('{pc}:ban:203.0.113.7', '{pc}:jailbans')).toBe(0);
    await store.close();
    r.disconnect();
  });
});

describe('RedisBanStore: one way of writing a ban', () => {
  it('ban, banMany and recordFailure all trim ended entries and leave a forever ban without TTL', async () => {
    const r = server.client();
    await r.flushall();
    const config = parseConfig({ ...CONTRACT_CONFIG, redis: server.url, jails: { j: { bantime: -1, maxretry: 1, findtime: 60 } } });
    const store = new RedisBanStore({ config, by: 'test' });
    await store.connect();
    const j = resolveJails(config).get('j')!;
    const now = Date.now();
    const ways: Array<[string, (ip: string) => Promise<unknown>]> = [
      ['ban', (ip) => store.ban(ip, { duration: -1, now })],
      ['banMany', (ip) => store.banMany([ip], { duration: -1, now })],
      ['recordFailure', (ip) => store.recordFailure(j, ip, now)],
    ];
    for (const [i, [way, banForever]] of ways.entries()) {
      const ip = `203.0.113.${110 + i}`;
      // an ended entry another writer left behind, and a timed ban of this address
      await r.zadd('{portcullis}:bans', now - 10, `198.18.0.${i}`);
      await r.hset(`{portcullis}:ban:${ip}`, 'until', String(now - 5), 'jail', 'j');
      await r.pexpire(`{portcullis}:ban:${ip}`, 60_000);
      await banForever(ip);
      expect(await r.pttl(`{portcullis}:ban:${ip}`), way).toBe(-1);
      expect(await r.zscore('{portcullis}:bans', ip), way).toBe('inf');
      expect(await r.zscore('{portcullis}:bans', `198.18.0.${i}`), way).toBeNull();
    }
    await store.close();
    r.disconnect();
  });
});

describe('RedisBanStore: its own connection state and a subscription that holds', () => {
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
      await waitFor('the subscription to hold', () => held === 1, 30_000);
      await waitFor('the store up', () => store.state === 'up', 30_000);
      const other = new RedisBanStore({ config, by: 'other' });
      await other.connect();
      await other.ban('203.0.113.1', { duration: 60_000 });
      await waitFor('the notice', () => seen.includes('ban 203.0.113.1'), 30_000);
      // a crash and a restart: down with its error, then up, held again, notices flow
      await late.kill();
      await waitFor('the store down', () => store.state === 'down', 30_000);
      await late.restart();
      await waitFor('held again', () => held === 2, 30_000);
      await waitFor('the store up again', () => store.state === 'up', 30_000);
      await waitFor('the other store up again', () => other.state === 'up', 30_000);
      // (the restarted Redis is empty: no persistence in tests)
      await other.ban('203.0.113.2', { duration: 60_000 });
      await waitFor('the notice after the restart', () => seen.includes('ban 203.0.113.2'), 30_000);
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
