import { describe, expect, it } from 'vitest';
import { MemoryBanStore, parseConfig, resolveJails, type BanEvent } from '@portcullis/core';
import { banStoreContract, CONTRACT_CONFIG } from './store-contract.js';

banStoreContract('MemoryBanStore', {
  async make(config, opts = {}) {
    const store = new MemoryBanStore({ config, ...opts });
    await store.connect();
    return store;
  },
  events: async (store) => [...(store as MemoryBanStore).events],
});

describe('MemoryBanStore: embedded extras', () => {
  const config = parseConfig(CONTRACT_CONFIG);
  const login = resolveJails(config).get('django-login')!;

  it('keeps the ban/unban events for a dry-run firewall', async () => {
    const store = new MemoryBanStore({ config, by: 'test' });
    const seen: BanEvent[] = [];
    const off = store.onEvent((e) => seen.push(e));
    for (let i = 0; i < 5; i++) await store.recordFailure(login, '203.0.113.9', 1_000 + i);
    await store.unban('203.0.113.9', { now: 2_000 });
    off();
    await store.ban('203.0.113.10', { now: 3_000, duration: 1_000 });
    expect(seen).toEqual([
      { type: 'ban', ip: '203.0.113.9', jail: 'django-login', until: 1_004 + 3_600_000, reason: 'maxretry', at: 1_004 },
      { type: 'unban', ip: '203.0.113.9', jail: 'django-login', at: 2_000, reason: 'manual' },
    ]);
    expect(store.events.map((e) => `${e.type} ${e.ip}`)).toEqual(['ban 203.0.113.9', 'unban 203.0.113.9', 'ban 203.0.113.10']);
  });

  it('bounds the event log near maxEvents', async () => {
    const store = new MemoryBanStore({ config, maxEvents: 100 });
    for (let i = 0; i < 1000; i++) await store.ban(`203.0.113.${i % 200}`, { now: i, duration: 1 });
    expect(store.events.length).toBeLessThanOrEqual(110);
    expect(store.events.at(-1)).toMatchObject({ type: 'ban', at: 999 });
  });

  it('purges expired windows, bans and offenses as time moves on', async () => {
    const store = new MemoryBanStore({ config: parseConfig({ ...CONTRACT_CONFIG, increment: { memory: '1m' } }) });
    for (let i = 0; i < 10_000; i++) await store.recordFailure(login, `2001:db8::${i.toString(16)}`, i);
    await store.ban('203.0.113.1', { now: 0, duration: 1_000 });
    expect(store.size).toEqual({ windows: 10_000, bans: 1, offenses: 1 });
    // an hour later every window, the ban and its offense memory are gone
    await store.recordFailure(login, '203.0.113.2', 3_600_000);
    expect(store.size).toEqual({ windows: 1, bans: 0, offenses: 0 });
  });

  it('caps the failure windows, forgetting the least recent first', async () => {
    const store = new MemoryBanStore({ config, maxWindows: 100 });
    for (let i = 0; i < 1000; i++) await store.recordFailure(login, `2001:db8::${i.toString(16)}`, i);
    expect(store.size.windows).toBe(100);
    const [st] = await store.status('django-login', 1000);
    expect(st!.currentlyFailed).toBe(100);
    // the most recent survive
    expect((await store.recordFailure(login, '2001:db8::3e7', 1001)).count).toBe(2);
    expect((await store.recordFailure(login, '2001:db8::0', 1002)).count).toBe(1);
  });

  it('a listener that throws does not break the ban', async () => {
    const store = new MemoryBanStore({ config });
    await store.subscribe(() => {
      throw new Error('boom');
    });
    await expect(store.ban('203.0.113.5')).resolves.toMatchObject({ ip: '203.0.113.5' });
  });
});
