import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '@portcullis/core';

const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const hasCompose = has('docker-compose', ['version']);
const hasSystemd = has('systemd-analyze', ['--version']);

interface Service {
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  // docker-compose 1.x prints `source:target:mode` strings, 2.x objects
  volumes?: (string | { source: string; target: string; read_only?: boolean })[];
  network_mode?: string;
  cap_add?: string[];
  cap_drop?: string[];
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
}

/** `KEY=value` lines of a systemd unit (a key may repeat). */
function unitValues(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

const unit = readFileSync('deploy/portcullis-sidecar.service', 'utf8');
const sidecarDockerfile = readFileSync('packages/sidecar/Dockerfile', 'utf8');
const sidecarReadme = readFileSync('packages/sidecar/README.md', 'utf8');
// the ufw mounts the sidecar container needs, one story for compose, the Dockerfile and the README
const UFW_MOUNTS = ['/etc/ufw:/etc/ufw', '/lib/ufw:/lib/ufw:ro', '/run/ufw.lock:/run/ufw.lock'];

describe('docker-compose.yml (validated by docker-compose config)', () => {
  const config = () => {
    const out = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8' });
    return (parse(out) as { services: Record<string, Service> }).services;
  };

  it.runIf(hasCompose)('has the four services, built from the repository root', () => {
    const services = config();
    expect(Object.keys(services).sort()).toEqual(['django', 'gateway', 'redis', 'sidecar']);
    for (const name of ['django', 'gateway', 'sidecar']) {
      expect(services[name]!.build!.dockerfile).toMatch(/Dockerfile$/);
      expect(readFileSync(join(services[name]!.build!.context, services[name]!.build!.dockerfile), 'utf8')).toMatch(/^FROM \$\{/m);
    }
  });

  it.runIf(hasCompose)('starts in order: every service waits for what it depends on to be healthy', () => {
    const services = config();
    expect(services.gateway!.depends_on).toEqual({ redis: { condition: 'service_healthy' }, django: { condition: 'service_healthy' } });
    expect(services.sidecar!.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    const dependedOn = new Set(Object.values(services).flatMap((s) => Object.keys(s.depends_on ?? {})));
    for (const name of dependedOn) expect(services[name]!.healthcheck?.test.length, `${name} has a healthcheck`).toBeGreaterThan(1);
    expect(services.sidecar!.healthcheck!.test.join(' ')).toContain('/healthz');
  });

  it.runIf(hasCompose)('the sidecar: host network, only NET_ADMIN/NET_RAW, the ufw mounts the Dockerfile and README give', () => {
    const sidecar = config().sidecar!;
    expect(sidecar.network_mode).toBe('host');
    expect(sidecar.cap_drop).toEqual(['ALL']);
    expect(sidecar.cap_add!.sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
    const mounts = sidecar.volumes!.map((v) =>
      typeof v === 'string' ? v.replace(/:rw$/, '') : `${v.source}:${v.target}${v.read_only ? ':ro' : ''}`,
    );
    expect(mounts.filter((m) => /ufw|xtables/.test(m))).toEqual(UFW_MOUNTS);
    for (const m of UFW_MOUNTS) {
      expect(sidecarDockerfile).toContain(`-v ${m}`);
      expect(sidecarReadme).toContain(`-v ${m}`);
    }
    expect(sidecarDockerfile).toContain('--cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW');
  });

  it('deploy/portcullis.yml is a valid config', async () => {
    const config = await loadConfig('deploy/portcullis.yml');
    expect(Object.keys(config.jails)).toEqual(['django-login', 'django-admin', 'http-404']);
    expect(config.firewall.docker).toBe(true);
    expect(readFileSync('docker-compose.yml', 'utf8')).toContain('deploy/portcullis.yml');
  });
});

describe('deploy/portcullis-sidecar.service', () => {
  it('installs from packed tarballs (no registry package) and runs the bin on PATH', () => {
    expect(unit).toContain('npm pack -w packages/core -w packages/sidecar');
    expect(unit).toContain('npm install -g ./portcullis-core-*.tgz ./portcullis-sidecar-*.tgz');
    expect(unitValues(unit, 'ExecStart')).toEqual(['portcullis-sidecar']);
  });

  it('holds only the network capabilities, the same two the container gets', () => {
    expect(unitValues(unit, 'CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    expect(unitValues(unit, 'ProtectSystem')).toEqual(['strict']);
    expect(unitValues(unit, 'ReadWritePaths')).toEqual(['/etc/ufw /run/ufw.lock /run/xtables.lock']);
    // the read-write lock files exist before the sandbox is set up
    expect(unitValues(unit, 'ExecStartPre')).toEqual(['+/usr/bin/touch /run/ufw.lock /run/xtables.lock']);
  });

  it.runIf(hasSystemd)('systemd-analyze security rates it OK (exposure below 3)', () => {
    const out = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', 'deploy/portcullis-sidecar.service'], {
      encoding: 'utf8',
    });
    const level = /Overall exposure level for portcullis-sidecar\.service: ([\d.]+) (\w+)/.exec(out.stdout);
    expect(level, out.stdout + out.stderr).not.toBeNull();
    expect(Number(level![1])).toBeLessThan(3);
    expect(level![2]).toBe('OK');
  });

  it.runIf(hasSystemd)('deploy/portcullis-tmpfiles.conf creates /run/ufw.lock as a file (what the container mounts)', () => {
    const root = mkdtempSync(join(tmpdir(), 'pc-tmpfiles-'));
    try {
      execFileSync('systemd-tmpfiles', ['--create', `--root=${root}`, resolve('deploy/portcullis-tmpfiles.conf')]);
      expect(statSync(join(root, 'run/ufw.lock')).isFile()).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
