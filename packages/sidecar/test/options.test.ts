import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@portcullis/core';
import { resolveCliOptions } from '@portcullis/sidecar';

describe('portcullis-sidecar flags and environment', () => {
  it('reads ./portcullis.yml, then env, then flags (flags win)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-opts-'));
    try {
      writeFileSync(join(dir, 'portcullis.yml'), 'redis: redis://10.0.0.1:6379\nfirewall: { backend: nftables, ports: [443] }\nsidecar: { hostId: from-file, reconcileInterval: 5m }\n');
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
      await expect(resolveCliOptions(['--backend', 'iptables'], { REDIS_URL: 'redis://127.0.0.1:1' }, dir)).rejects.toThrow(/firewall\.backend/);
      await expect(resolveCliOptions(['--host-id', 'a b'], { REDIS_URL: 'redis://127.0.0.1:1' }, dir)).rejects.toThrow(/sidecar\.hostId/);
      await expect(resolveCliOptions([], {}, dir)).rejects.toBeInstanceOf(ConfigError);
      await expect(resolveCliOptions(['--nope'], {}, dir)).rejects.toThrow(/Unknown option/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the built bin prints usage and exits 2 on a bad config', () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const build = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/sidecar'], { cwd: root, encoding: 'utf8' });
    expect(build.status, build.stdout).toBe(0);
    const bin = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: portcullis-sidecar');
    const bad = spawnSync(process.execPath, [bin, '--backend', 'pf'], { encoding: 'utf8', env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/firewall\.backend/);
  }, 120_000);
});
