import { spawnSync, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer } from '@portcullis/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** The built bin as a user runs it: real process, real exit code. */
function portcullis(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let server: RedisServer;
beforeAll(async () => {
  // the bin runs dist/: build it so it matches the sources under test
  execFileSync(process.execPath, [fileURLToPath(new URL('node_modules/typescript/bin/tsc', `file://${root}`)), '-b'], { cwd: root });
  server = await RedisServer.start();
});
afterAll(() => server?.stop());

describe('the portcullis bin (node packages/cli/dist/main.js)', () => {
  it('exit 0 on success: ban, then list --json sees it', () => {
    const env = { REDIS_URL: server.url };
    expect(portcullis(['ban', '203.0.113.99', '--for', '5m'], env)).toMatchObject({ code: 0, stderr: '' });
    const list = portcullis(['list', '--json'], env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ ip: '203.0.113.99', jail: 'manual' })]);
    expect(portcullis(['unban', '--all'], env)).toMatchObject({ code: 0, stdout: 'unbanned 1 address\n' });
  });

  it('exit 1 on a bad address, one line, no stack trace', () => {
    const r = portcullis(['ban', '1.2.3.4.5'], { REDIS_URL: server.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('portcullis: error: Not a valid IP address or CIDR: "1.2.3.4.5"\n');
  });

  it('exit 2 on usage errors', () => {
    expect(portcullis(['frobnicate']).code).toBe(2);
    expect(portcullis(['ban']).code).toBe(2);
  });

  it('exit 3 when Redis is unreachable', async () => {
    const r = portcullis(['status'], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^portcullis: error: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ .*\n$/);
  });

  it('--help and --version exit 0', () => {
    expect(portcullis(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: portcullis') });
    expect(portcullis(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});
