import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { portcullis } from '@portcullis/express';
import { useRedis } from '@portcullis/testkit/fixtures';
import { cli, tmpFile } from './helpers.js';

// one redis-server for the file, flushed before each test
const redis = useRedis();
const env = () => ({ REDIS_URL: redis.url });

describe('portcullis ban: lengths are checked before anything is written', () => {
  it.each([
    ['15000000w', /Duration out of range: "15000000w" is longer than/],
    ['0', /Not a duration: 0 /],
    ['0.4ms', /Duration out of range: "0.4ms" is shorter than 1 ms/],
  ])('--for %s fails and writes nothing', async (length, message) => {
    const res = await cli(['ban', '203.0.113.5', '198.51.100.0/24', '--for', length], { env: env() });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(await redis.client.dbsize()).toBe(0);
  });
});

describe('portcullis ban --file with 100,000 ranges, end to end', () => {
  it('writes every range, and a fresh gateway cache enforces them', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(`${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
    for (let i = 0; i < 50_000; i++) lines.push(`2001:db8:${i.toString(16)}::/48`);
    const file = tmpFile('ranges.txt', `# a blocklist\n${lines.join('\n')}\n`);
    const res = await cli(['ban', '--file', file, '--for', '1d', '--reason', 'blocklist'], { env: env() });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^banned 100000 addresses in manual until /);
    expect(await redis.client.zcard('{portcullis}:bans')).toBe(100_000);
    // the gateway's side (its 250 ms command timeout included): a paged load of everything, then lookups
    const guard = portcullis({ redis: redis.url }, { logger: pino({ level: 'silent' }) });
    const { cache } = guard;
    try {
      await guard.ready();
      expect(cache.size).toBe(100_000);
      const now = Date.now();
      expect(cache.bannedUntil('20.0.0.77', now)).toBeGreaterThan(now);
      expect(cache.bannedUntil('20.195.79.1', now)).toBeGreaterThan(now); // the 50,000th v4 range
      expect(cache.bannedUntil('20.195.80.1', now)).toBe(0);
      expect(cache.bannedUntil('2001:db8:c34f:ffff::1', now)).toBeGreaterThan(now); // the last v6 range
      expect(cache.bannedUntil('2001:db8:c350::1', now)).toBe(0);
    } finally {
      await guard.close();
    }
  }, 180_000);
});
