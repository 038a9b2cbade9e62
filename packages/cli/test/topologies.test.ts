import { describe, expect, it } from 'vitest';
import { useTopologies } from '@portcullis/testkit/fixtures';
import { cli, tmpFile } from './helpers.js';

const sets = useTopologies();

/** the CLI with a config file naming this redis setting */
function withRedis(redis: string) {
  const config = tmpFile('portcullis.yml', `redis: ${JSON.stringify(redis)}\njails: { django-login: { preset: django.login } }\n`);
  return (...argv: string[]) => cli(argv, { env: { PORTCULLIS_CONFIG: config } });
}

describe('the CLI on Sentinel and Cluster', () => {
  it.each([
    ['Cluster', () => sets.cluster.url],
    ['Sentinel', () => sets.sentinel.url],
  ])(
    '%s: ban, list, status, unban',
    async (_name, url) => {
      const portcullis = withRedis(url());
      const banned = await portcullis('ban', '203.0.113.70');
      expect(banned.stderr).toBe('');
      expect(banned.code).toBe(0);
      expect((await portcullis('list')).stdout).toContain('203.0.113.70');
      const status = await portcullis('status', '--json');
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('203.0.113.70');
      expect((await portcullis('unban', '203.0.113.70')).code).toBe(0);
      expect((await portcullis('list')).stdout).not.toContain('203.0.113.70');
    },
    60_000,
  );

  it('pointed at a cluster node that does not own the slot, or a Sentinel: one clear line, exit 3', async () => {
    const node = await sets.cluster.nonOwnerOf('{portcullis}:bans');
    const moved = await withRedis(`redis://127.0.0.1:${node}`)('list');
    expect(moved.code).toBe(3);
    expect(moved.stderr).toMatch(/is a Redis Cluster node: use redis\+cluster:\/\//);
    expect(moved.stderr).not.toMatch(/MOVED \d+|EXECABORT/);
    const sentinel = await withRedis(`redis://127.0.0.1:${sets.sentinel.sentinels[0]!.port}`)('status');
    expect(sentinel.code).toBe(3);
    expect(sentinel.stderr).toMatch(/is a Redis Sentinel, not a data server/);
  }, 60_000);
});
