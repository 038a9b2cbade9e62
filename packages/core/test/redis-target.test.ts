import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { parseConfig } from '../src/config/load.js';
import { describeRedis, parseRedisUrl, redisTarget } from '../src/redis-target.js';

function configError(redis: unknown): { path: string; message: string }[] {
  try {
    parseConfig({ redis });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error(`accepted ${JSON.stringify(redis)}`);
}

describe('the redis setting', () => {
  it('takes the four URL forms', () => {
    expect(parseRedisUrl('redis://u:p%40ss@10.0.0.1:6380/2')).toEqual({
      mode: 'standalone',
      nodes: [{ host: '10.0.0.1', port: 6380 }],
      db: 2,
      username: 'u',
      password: 'p@ss',
      tls: false,
    });
    expect(parseRedisUrl('rediss://:secret@redis.example.com')).toEqual({
      mode: 'standalone',
      nodes: [{ host: 'redis.example.com', port: 6379 }],
      db: 0,
      password: 'secret',
      tls: {},
    });
    expect(parseRedisUrl('redis+sentinel://h1:26379,h2,[::1]:26380/mymaster?sentinelPassword=s%20p')).toEqual({
      mode: 'sentinel',
      nodes: [
        { host: 'h1', port: 26379 },
        { host: 'h2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      db: 0,
      sentinelPassword: 's p',
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://h1:7000,h2:7001')).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 7001 },
      ],
      db: 0,
      tls: {},
    });
  });

  it('takes the object form, the same target as the URL', () => {
    const cfg = parseConfig({
      redis: { mode: 'sentinel', sentinels: ['h1:26379', { host: 'h2', port: 26379 }], name: 'mymaster', password: 'p' },
    });
    expect(redisTarget(cfg.redis!)).toEqual(parseRedisUrl('redis+sentinel://:p@h1:26379,h2:26379/mymaster'));
    expect(redisTarget({ mode: 'cluster', nodes: ['a:7000'], tls: true })).toEqual(parseRedisUrl('rediss+cluster://a:7000'));
    // a URL stays the URL the user wrote (messages and tests compare it)
    expect(parseConfig({ redis: 'redis://127.0.0.1:7000' }).redis).toBe('redis://127.0.0.1:7000');
  });

  it.each([
    ['http://h:6379', 'redis', /expected a redis:\/\//],
    ['redis://a:1,b:2', 'redis', /one server/],
    ['redis+sentinel://h1:26379', 'redis', /master name/],
    ['redis+cluster://h1:7000/3', 'redis', /only database 0/],
    ['redis://h:99999', 'redis', /port 1-65535/],
    ['redis://bad host:1', 'redis', /host name or IP/],
    ['redis+cluster://h:1?sentinelPassword=x', 'redis', /sentinel:\/\/ URLs only/],
    [{ mode: 'bogus' }, 'redis.mode', /standalone.*sentinel.*cluster/],
    [{ mode: 'cluster', nodes: ['a:x'] }, 'redis', /host:port/],
    [{ mode: 'cluster', nodes: [{ host: 'a', port: '1' }] }, 'redis.nodes.0', /./],
    [{ mode: 'sentinel', sentinels: ['a'] }, 'redis', /needs "name"/],
    [{ mode: 'sentinel', nodes: ['a'], name: 'm' }, 'redis', /takes "sentinels"/],
    [{ mode: 'standalone', nodes: ['a', 'b'] }, 'redis', /exactly one/],
    [{ mode: 'cluster' }, 'redis', /needs "nodes"/],
    [{ mode: 'cluster', nodes: ['a'], extra: 1 }, 'redis', /unknown field|Unrecognized/],
    [5, 'redis', /URL or an object/],
  ])('refuses %j naming the field', (redis, path, message) => {
    const issues = configError(redis);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe(path);
    expect(issues[0]!.message).toMatch(message);
  });

  it('describes a target without its passwords', () => {
    expect(describeRedis('redis://u:hunter2@h:1/3')).toBe('redis://u:***@h:1/3');
    expect(describeRedis({ mode: 'sentinel', sentinels: ['a:1'], name: 'm', password: 'hunter2', sentinelPassword: 'x' })).toBe(
      'redis+sentinel://***@a:1/m',
    );
    expect(describeRedis('redis+cluster://a:1,b:2')).toBe('redis+cluster://a:1,b:2');
  });
});
