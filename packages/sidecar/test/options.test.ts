import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@portcullis/core';
import { resolveCliOptions } from '../src/options.js';

describe('portcullis-sidecar flags and environment', () => {
  it('reads ./portcullis.yml, then env, then flags (flags win)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-opts-'));
    try {
      writeFileSync(
        join(dir, 'portcullis.yml'),
        'redis: redis://10.0.0.1:6379\nfirewall: { backend: nftables, ports: [443] }\nsidecar: { hostId: from-file, reconcileInterval: 5m }\n',
      );
      const fromFile = await resolveCliOptions([], {}, dir);
      expect(fromFile.configPath).toBe(join(dir, 'portcullis.yml'));
      expect(fromFile.config.redis).toBe('redis://10.0.0.1:6379');
      expect(fromFile.config.firewall).toMatchObject({ backend: 'nftables', ports: [443] });
      expect(fromFile.config.sidecar).toMatchObject({ hostId: 'from-file', reconcileInterval: 300_000 });
      const env = await resolveCliOptions([], { REDIS_URL: 'redis://127.0.0.1:7000', PORTCULLIS_HOST_ID: 'from-env' }, dir);
      expect(env.config.redis).toBe('redis://127.0.0.1:7000');
      expect(env.config.sidecar.hostId).toBe('from-env');
      const flags = await resolveCliOptions(
        ['--host-id', 'web-1', '--backend', 'dry-run', '--health-port', '9999', '--redis', 'redis://127.0.0.1:7001'],
        { REDIS_URL: 'redis://127.0.0.1:7000' },
        dir,
      );
      expect(flags.config.sidecar).toMatchObject({ hostId: 'web-1', healthPort: 9999, reconcileInterval: 300_000 });
      expect(flags.config.firewall.backend).toBe('dry-run');
      expect(flags.config.redis).toBe('redis://127.0.0.1:7001');
      const explicit = await resolveCliOptions([], { PORTCULLIS_CONFIG: join(dir, 'portcullis.yml') }, tmpdir());
      expect(explicit.config.firewall.backend).toBe('nftables');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad flag value like a bad config field, and needs Redis', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-opts-'));
    try {
      await expect(resolveCliOptions(['--backend', 'iptables'], { REDIS_URL: 'redis://127.0.0.1:1' }, dir)).rejects.toThrow(
        /Allowed choices are ufw, nftables, dry-run/,
      );
      await expect(resolveCliOptions(['--health-port', 'http'], { REDIS_URL: 'redis://127.0.0.1:1' }, dir)).rejects.toThrow(
        /sidecar\.healthPort/,
      );
      await expect(resolveCliOptions(['--redis', 'localhost'], {}, dir)).rejects.toThrow(
        /Invalid Portcullis config in --redis:\n {2}- redis: expected a redis:\/\//,
      );
      await expect(resolveCliOptions(['--host-id', 'a b'], { REDIS_URL: 'redis://127.0.0.1:1' }, dir)).rejects.toThrow(/sidecar\.hostId/);
      await expect(resolveCliOptions([], {}, dir)).rejects.toBeInstanceOf(ConfigError);
      await expect(resolveCliOptions([], {}, dir)).rejects.toThrow(
        /^no Redis configured: the sidecar applies the bans it reads from Redis\. Set `redis:` in a config file \(none found: --config, \$PORTCULLIS_CONFIG, \.\/portcullis\.yml\), REDIS_URL, or --redis redis:\/\/host:6379$/,
      );
      await expect(resolveCliOptions(['--nope'], {}, dir)).rejects.toThrow(/unknown option '--nope'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the built bin: --help, --version, exit 2 on a bad flag or config, a readable line without Redis', () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const build = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/sidecar'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(build.status, build.stdout).toBe(0);
    const bin = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    const empty = mkdtempSync(join(tmpdir(), 'pc-opts-'));
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: empty, env: { PATH: process.env.PATH, ...env } });
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: portcullis-sidecar [options]');
    expect(help.stdout).toContain('--redis <url>');
    const version = run(['--version']);
    expect(version).toMatchObject({ status: 0, stdout: '0.1.0\n' });
    const bad = run(['--backend', 'pf'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/argument 'pf' is invalid\. Allowed choices are ufw, nftables, dry-run/);
    const noRedis = run([]);
    expect(noRedis.status).toBe(2);
    expect(noRedis.stderr).toMatch(/^portcullis-sidecar: no Redis configured: .* --redis redis:\/\/host:6379\n$/);
    expect(noRedis.stderr).not.toContain('Invalid Portcullis config');
    const badConfig = run(['--host-id', 'a b'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(badConfig.status).toBe(2);
    expect(badConfig.stderr).toMatch(/sidecar\.hostId/);
    rmSync(empty, { recursive: true, force: true });
  }, 120_000);
});
