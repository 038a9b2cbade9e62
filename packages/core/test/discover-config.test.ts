import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, discoverConfig } from '@portcullis/core';

const dir = mkdtempSync(join(tmpdir(), 'pc-discover-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('discoverConfig: the one way every program finds its config', () => {
  it('file: the one named, else $PORTCULLIS_CONFIG, else ./portcullis.yml, else the defaults', async () => {
    write('portcullis.yml', 'prefix: from-cwd\n');
    write('env.yml', 'prefix: from-env\n');
    write('flag.json', '{"prefix": "from-flag"}');
    const empty = mkdtempSync(join(tmpdir(), 'pc-discover-'));
    try {
      expect(await discoverConfig({ env: {}, cwd: empty })).toMatchObject({
        source: null,
        redisSource: null,
        config: { prefix: 'portcullis' },
      });
      expect(await discoverConfig({ env: {}, cwd: dir })).toMatchObject({
        source: join(dir, 'portcullis.yml'),
        config: { prefix: 'from-cwd' },
      });
      // relative to cwd
      expect(await discoverConfig({ env: { PORTCULLIS_CONFIG: 'env.yml' }, cwd: dir })).toMatchObject({
        source: join(dir, 'env.yml'),
        config: { prefix: 'from-env' },
      });
      expect(await discoverConfig({ file: 'flag.json', env: { PORTCULLIS_CONFIG: 'env.yml' }, cwd: dir })).toMatchObject({
        config: { prefix: 'from-flag' },
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('redis: --redis, else $REDIS_URL, else the file; each checked by the schema and named when wrong', async () => {
    const file = write('r.yml', 'redis: redis://10.0.0.1:6379\n');
    expect(await discoverConfig({ file, env: {} })).toMatchObject({ redisSource: file, config: { redis: 'redis://10.0.0.1:6379' } });
    expect(await discoverConfig({ file, env: { REDIS_URL: 'rediss://u:p@10.0.0.2:6380/1' } })).toMatchObject({
      redisSource: 'REDIS_URL',
      config: { redis: 'rediss://u:p@10.0.0.2:6380/1' },
    });
    expect(await discoverConfig({ file, redis: 'redis://10.0.0.3', env: { REDIS_URL: 'redis://10.0.0.2' } })).toMatchObject({
      redisSource: '--redis',
      config: { redis: 'redis://10.0.0.3' },
    });
    // an empty REDIS_URL is unset, as in a shell
    expect((await discoverConfig({ file, env: { REDIS_URL: '' } })).config.redis).toBe('redis://10.0.0.1:6379');

    const bad = await discoverConfig({ file, env: { REDIS_URL: 'http://10.0.0.2' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).source).toBe('REDIS_URL');
    expect((bad as ConfigError).issues).toEqual([{ path: 'redis', message: expect.stringMatching(/^expected a redis:\/\/, rediss:\/\//) }]);
    await expect(discoverConfig({ file, redis: '10.0.0.3:6379', env: {} })).rejects.toThrow(
      /^Invalid Portcullis config in --redis:\n {2}- redis: /,
    );
    // a bad file is reported as the file's, before any override
    const broken = write('broken.yml', 'prefix: "a b"\n');
    await expect(discoverConfig({ file: broken, env: { REDIS_URL: 'redis://10.0.0.2' } })).rejects.toThrow(
      `Invalid Portcullis config in ${broken}`,
    );
  });
});
