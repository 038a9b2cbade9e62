import { describe, expect, it } from 'vitest';
import { useRedis } from '@portcullis/testkit/fixtures';
import { cli, tmpFile } from './helpers.js';

// one redis-server for the file, flushed before each test
const redis = useRedis();
/** this host's config: one jail */
const local = tmpFile('portcullis.yml', ['prefix: pc', 'jails:', '  django-login: { preset: django.login }', ''].join('\n'));
/** another gateway's config: a jail this host does not have */
const other = tmpFile('other.yml', ['prefix: pc', 'jails:', '  http-404: { preset: http.notFound }', ''].join('\n'));

describe('the CLI knows what Redis knows', () => {
  it('status shows jails that exist only in Redis, and status <jail> answers for them', async () => {
    const ban = await cli(['--config', other, '--redis', redis.url, 'ban', '203.0.113.9', '--jail', 'http-404']);
    expect(ban).toMatchObject({ code: 0, stderr: '' });
    await cli(['--config', local, '--redis', redis.url, 'ban', '192.0.2.0/24']);

    const st = await cli(['--config', local, '--redis', redis.url, 'status']);
    expect(st).toMatchObject({ code: 0, stderr: '' });
    const rows = st.stdout.trimEnd().split('\n').slice(3);
    expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual(['django-login', 'http-404', 'manual']);
    // the count says what the table shows
    expect(st.stdout.split('\n')[0]).toBe('Number of jails: 3');

    const one = await cli(['--config', local, '--redis', redis.url, 'status', 'http-404']);
    expect(one).toMatchObject({ code: 0, stderr: '' });
    expect(one.stdout).toContain('Status for the jail: http-404');
    expect(one.stdout).toMatch(/Currently banned: 1\n/);
    expect(one.stdout).toMatch(/203\.0\.113\.9\s/);

    // a name neither the config nor Redis knows is still the user's mistake
    const none = await cli(['--config', local, '--redis', redis.url, 'status', 'nope']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^portcullis: error: Unknown jail: "nope" \(not in the config, and Redis has counted nothing under that name\)\n$/,
    );
  });

  it('a key under {p}:stats: that is not a jail name is not shown', async () => {
    await redis.client.hset('{pc}:stats:bad name\nx', 'failed', 1);
    const st = await cli(['--config', local, '--redis', redis.url, 'status', '--json']);
    expect(st.code).toBe(0);
    const doc = JSON.parse(st.stdout) as { jails: Array<{ jail: string }> };
    expect(doc.jails.map((j) => j.jail)).toEqual(['django-login']);
  });

  it('unban of an address inside a banned range names the range and how to lift it (exit 1)', async () => {
    const env = { PORTCULLIS_CONFIG: local, REDIS_URL: redis.url };
    expect((await cli(['ban', '198.51.100.0/24', '2001:db8::/48'], { env })).code).toBe(0);

    const r = await cli(['unban', '198.51.100.7'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'portcullis: error: 198.51.100.7 is not banned itself but stays blocked: it lies in the banned range 198.51.100.0/24; lift it with `portcullis unban 198.51.100.0/24`\n',
    );
    // nothing lifted
    expect(await redis.client.zscore('{pc}:bans', '198.51.100.0/24')).not.toBeNull();

    // a narrower range and IPv6 alike; --json still says it on stdout
    const v6 = await cli(['unban', '2001:db8:0:1::/64', '--json'], { env });
    expect(v6.code).toBe(1);
    expect(JSON.parse(v6.stdout)).toEqual({ ip: '2001:db8:0:1::/64', unbanned: false, bannedBy: ['2001:db8::/48'] });
    expect(v6.stderr).toContain('`portcullis unban 2001:db8::/48`');

    // outside every range: "was not banned", exit 0; the range itself lifts
    expect(await cli(['unban', '198.51.101.7'], { env })).toMatchObject({ code: 0, stdout: '198.51.101.7 was not banned\n' });
    expect(await cli(['unban', '198.51.100.0/24'], { env })).toMatchObject({ code: 0, stdout: 'unbanned 198.51.100.0/24\n' });
    expect(await cli(['unban', '198.51.100.7'], { env })).toMatchObject({ code: 0, stdout: '198.51.100.7 was not banned\n' });
  });

  it('--redis beats REDIS_URL, which beats the file, and is checked like the file', async () => {
    const file = tmpFile('p.yml', 'prefix: pc\nredis: redis://127.0.0.1:1\n');
    const viaFlag = await cli(['--redis', redis.url, 'list'], { env: { PORTCULLIS_CONFIG: file, REDIS_URL: 'redis://127.0.0.1:2' } });
    expect(viaFlag).toMatchObject({ code: 0, stdout: 'no active bans\n' });
    const viaEnv = await cli(['list'], { env: { PORTCULLIS_CONFIG: file, REDIS_URL: redis.url } });
    expect(viaEnv).toMatchObject({ code: 0, stdout: 'no active bans\n' });
    const bad = await cli(['--redis', 'localhost:6379', 'list'], { env: { PORTCULLIS_CONFIG: file } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^portcullis: error: Invalid Portcullis config in --redis: redis: expected a redis:\/\//);
  });
});
