import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer } from '@portcullis/testkit';
import { useRedis } from '@portcullis/testkit/fixtures';
import { cli, tmpFile } from './helpers.js';

// one redis-server for the file, flushed before each test
const redis = useRedis();
let configFile: string;
const env = () => ({ PORTCULLIS_CONFIG: configFile });

beforeAll(() => {
  configFile = tmpFile(
    'portcullis.yml',
    [
      `redis: ${redis.server.url}`,
      'prefix: pc',
      'ignoreIp: [127.0.0.1/8, "::1", 198.51.100.0/24]',
      'jails:',
      '  django-login: { preset: django.login }',
      '  django-admin: { preset: django.admin, bantime: 2h }',
      '',
    ].join('\n'),
  );
});

describe('portcullis ban / unban / list / status against Redis', () => {
  it('ban takes many addresses and a blocklist file in one script call per 1,000', async () => {
    const file = tmpFile('blocklist.txt', ['# scanners', '203.0.113.30', '', '203.0.113.31  # noisy', '192.0.2.0/28', ''].join('\n'));
    const res = await cli(['ban', '203.0.113.32', '--file', file, '--for', '1h', '--reason', 'blocklist'], { env: env() });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toMatch(/^banned 4 addresses in manual until .* \(1h\)\n$/);
    expect((await redis.client.zrange('{pc}:bans', 0, -1)).sort()).toEqual([
      '192.0.2.0/28',
      '203.0.113.30',
      '203.0.113.31',
      '203.0.113.32',
    ]);
    expect(await redis.client.hget('{pc}:ban:203.0.113.31', 'reason')).toBe('blocklist');
    expect(await redis.client.xlen('{pc}:events')).toBe(4);

    // one bad line: exit 1 naming the line, nothing written
    await redis.client.flushall();
    const bad = tmpFile('bad.txt', ['203.0.113.40', '1.2.3.4; rm -rf /', ''].join('\n'));
    const r = await cli(['ban', '--file', bad], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.txt:2: Not a valid IP address or CIDR/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await redis.client.dbsize()).toBe(0);
  });

  it('ban writes the documented keys, list and status show it, unban lifts it', async () => {
    const ban = await cli(['ban', '203.0.113.7', '--jail', 'django-login', '--for', '10m'], { env: env() });
    expect(ban).toMatchObject({ code: 0, stderr: '' });
    expect(ban.stdout).toMatch(/^banned 203\.0\.113\.7 in django-login until .* \(10m\), ban #1\n$/);

    // what redis-cli would see
    const hash = await redis.client.hgetall('{pc}:ban:203.0.113.7');
    expect(hash).toMatchObject({ jail: 'django-login', reason: 'manual', count: '1', by: expect.stringMatching(/^cli@/) });
    expect(Number(hash.until) - Number(hash.at)).toBe(600_000);
    expect(await redis.client.zscore('{pc}:bans', '203.0.113.7')).toBe(hash.until);
    const events = await redis.client.xrange('{pc}:events', '-', '+');
    expect(events.map(([, f]) => f.slice(0, 6))).toEqual([['type', 'ban', 'ip', '203.0.113.7', 'jail', 'django-login']]);

    const list = await cli(['list'], { env: env() });
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^IP\s+JAIL\s+UNTIL\s+LEFT\s+COUNT\s+BY$/);
    expect(list.stdout).toMatch(/203\.0\.113\.7\s+django-login\s+\S+ \S+\s+\S+\s+1\s+cli@/);

    const json = JSON.parse((await cli(['list', '--json'], { env: env() })).stdout);
    expect(json).toEqual([expect.objectContaining({ ip: '203.0.113.7', jail: 'django-login', count: 1 })]);

    const st = await cli(['status', 'django-login'], { env: env() });
    expect(st.code).toBe(0);
    expect(st.stdout).toContain('Status for the jail: django-login');
    expect(st.stdout).toMatch(/Currently banned: 1\n/);
    expect(st.stdout).toMatch(/Total banned:\s+1\n/);
    expect(st.stdout).toMatch(/203\.0\.113\.7\s+\S+ \S+\s+\S+\s+1\s+cli@/);

    const unban = await cli(['unban', '203.0.113.7'], { env: env() });
    expect(unban).toMatchObject({ code: 0, stdout: 'unbanned 203.0.113.7\n' });
    expect(await redis.client.exists('{pc}:ban:203.0.113.7')).toBe(0);
    expect(await redis.client.zcard('{pc}:bans')).toBe(0);
    const after = await redis.client.xrange('{pc}:events', '-', '+');
    expect(after.at(-1)![1].slice(0, 4)).toEqual(['type', 'unban', 'ip', '203.0.113.7']);

    expect((await cli(['unban', '203.0.113.7'], { env: env() })).stdout).toBe('203.0.113.7 was not banned\n');
    expect((await cli(['list'], { env: env() })).stdout).toBe('no active bans\n');
  });

  it('bans a CIDR forever under "manual" by default, and unban --all lifts everything', async () => {
    expect((await cli(['ban', '192.0.2.0/24', '--for', '-1'], { env: env() })).code).toBe(0);
    expect((await cli(['ban', '2001:db8::1'], { env: env() })).code).toBe(0);
    expect(await redis.client.hget('{pc}:ban:192.0.2.0/24', 'until')).toBe('-1');
    expect(await redis.client.zscore('{pc}:bans', '192.0.2.0/24')).toBe('inf');
    // the default duration is the defaults' bantime (1h)
    const v6 = await redis.client.hgetall('{pc}:ban:2001:db8::1');
    expect(v6.jail).toBe('manual');
    expect(Number(v6.until) - Number(v6.at)).toBe(3_600_000);

    const status = await cli(['status', '--json'], { env: env() });
    const doc = JSON.parse(status.stdout) as { jails: Array<{ jail: string; currentlyBanned: number }> };
    expect(doc.jails.map((j) => [j.jail, j.currentlyBanned])).toEqual([
      ['django-login', 0],
      ['django-admin', 0],
      ['manual', 2],
    ]);

    const all = await cli(['unban', '--all', '--json'], { env: env() });
    expect(JSON.parse(all.stdout)).toEqual({ unbanned: 2 });
    expect(await redis.client.zcard('{pc}:bans')).toBe(0);
  });

  it('gateways follow: ban and unban are published on {p}:changes', async () => {
    const sub = redis.server.client();
    const seen: unknown[] = [];
    sub.on('message', (_channel: string, message: string) => seen.push(JSON.parse(message)));
    await sub.subscribe('{pc}:changes');
    await cli(['ban', '203.0.113.21', '--for', '1m'], { env: env() });
    await cli(['unban', '203.0.113.21'], { env: env() });
    // pub/sub delivery is asynchronous: wait for both notices, however long that takes
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    sub.disconnect();
    expect(seen).toEqual([
      { type: 'ban', ip: '203.0.113.21', jail: 'manual', until: expect.any(Number) },
      { type: 'unban', ip: '203.0.113.21' },
    ]);
  });

  it('status lists every jail with fail2ban-client counters', async () => {
    await cli(['ban', '203.0.113.9', '--jail', 'django-admin'], { env: env() });
    const st = await cli(['status'], { env: env() });
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/^Number of jails: 2\n\nJAIL\s+FAILED NOW\s+FAILED TOTAL\s+BANNED NOW\s+BANNED TOTAL\n/);
    expect(st.stdout).toMatch(/django-login\s+0\s+0\s+0\s+0\n/);
    expect(st.stdout).toMatch(/django-admin\s+0\s+0\s+1\s+1\n/);
    // the jail's own bantime applies to a hand ban in that jail
    const h = await redis.client.hgetall('{pc}:ban:203.0.113.9');
    expect(Number(h.until) - Number(h.at)).toBe(7_200_000);
  });
});

describe('portcullis errors a script can rely on', () => {
  it('a malformed address: exit 1, one line, nothing written to Redis', async () => {
    for (const bad of ['999.1.1.1', '1.2.3.4; rm -rf /', '10.0.0.0/33', 'example.com']) {
      const r = await cli(['ban', bad], { env: env() });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^portcullis: error: Not a valid IP address or CIDR: .*\n$/);
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
    expect((await cli(['unban', 'nope'], { env: env() })).code).toBe(1);
    expect(await redis.client.dbsize()).toBe(0);
  });

  it('protected addresses, unknown jails and bad durations: exit 1, one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['ban', '127.0.0.1'], /Refusing to ban 127\.0\.0\.1: loopback/],
      [['ban', '198.51.100.0/25'], /Refusing to ban .*ignoreIp/],
      [['ban', '203.0.113.1', '--jail', 'nope'], /Unknown jail: "nope"/],
      [['ban', '203.0.113.1', '--for', 'soon'], /Not a duration: "soon"/],
      [['status', 'nope'], /Unknown jail: "nope"/],
    ];
    for (const [argv, re] of cases) {
      const r = await cli(argv, { env: env() });
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^portcullis: error: ${re.source}.*\\n$`));
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
    // nothing written but the store's own marker ({p}:meta: status <jail> connects to look for Redis's jails)
    expect((await redis.client.keys('*')).filter((k) => k !== '{pc}:meta')).toEqual([]);
  });

  it('Redis down: exit 3 with "cannot reach Redis at …", one line', async () => {
    const port = await freePort();
    for (const argv of [['status'], ['list'], ['ban', '203.0.113.7'], ['unban', '--all']]) {
      const r = await cli(argv, { env: { ...env(), REDIS_URL: `redis://127.0.0.1:${port}` } });
      expect(r.code, argv.join(' ')).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`^portcullis: error: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}\\b.*\\n$`));
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
  });

  it('a password in REDIS_URL never reaches stderr', async () => {
    const port = await freePort();
    const r = await cli(['list'], { env: { REDIS_URL: `redis://user:s3cret@127.0.0.1:${port}` } });
    expect(r.code).toBe(3);
    expect(r.stderr).not.toContain('s3cret');
    expect(r.stderr).toContain('user:***@127.0.0.1');
  });

  it('no Redis configured: exit 1 with a hint', async () => {
    const r = await cli(['list'], { env: {} });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^portcullis: error: no Redis configured/);
  });

  it('usage errors: exit 2', async () => {
    for (const argv of [['bogus'], ['ban'], ['unban'], ['unban', '1.2.3.4', '--all'], ['list', '--nope']]) {
      const r = await cli(argv, { env: env() });
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^portcullis: error: /);
    }
    expect((await cli(['--help'])).code).toBe(0);
    expect((await cli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('REDIS_URL overrides the config file', async () => {
    const other = await RedisServer.start();
    try {
      const r = await cli(['ban', '203.0.113.44'], { env: { ...env(), REDIS_URL: other.url } });
      expect(r.code).toBe(0);
      const c = other.client();
      expect(await c.exists('{pc}:ban:203.0.113.44')).toBe(1);
      c.disconnect();
      expect(await redis.client.exists('{pc}:ban:203.0.113.44')).toBe(0);
    } finally {
      await other.stop();
    }
  });
});
