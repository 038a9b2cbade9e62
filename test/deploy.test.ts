import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '@portcullis/core';

const hasCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

describe('deployment files', () => {
  it.runIf(hasCompose)('docker-compose.yml is valid under docker-compose config (install docker-compose to run this)', () => {
    const out = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8' });
    const compose = parse(out) as { services: Record<string, Record<string, unknown>> };
    expect(Object.keys(compose.services).sort()).toEqual(['django', 'gateway', 'redis', 'sidecar']);
    const sidecar = compose.services.sidecar!;
    expect(sidecar.network_mode).toBe('host');
    expect(sidecar.cap_add).toContain('NET_ADMIN');
    expect(JSON.stringify(sidecar.volumes)).toContain('/etc/ufw');
  });

  it('deploy/portcullis.yml is a valid config', async () => {
    const config = await loadConfig('deploy/portcullis.yml');
    expect(Object.keys(config.jails)).toEqual(['django-login', 'django-admin', 'http-404']);
    expect(config.firewall.docker).toBe(true);
    expect(readFileSync('docker-compose.yml', 'utf8')).toContain('deploy/portcullis.yml');
  });
});
