import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BASE, type Docker, dockerSkipReason, ensureBaseImages, freePort, startDocker } from '@portcullis/testkit';

// The real images from the real Dockerfiles, brought up by docker-compose from
// the real docker-compose.yml, on a private dockerd. What this machine forces
// is changed, and only that (see `forThisMachine`).
const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);
const skip = dockerSkipReason();
const title = skip ? `docker-compose stack (skipped: ${skip})` : 'docker-compose stack, real images on a private dockerd';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  command?: string[] | string;
  ports?: unknown[];
  network_mode?: string;
  environment?: Record<string, string>;
  volumes?: (string | { source: string; target: string })[];
  depends_on?: Record<string, unknown>;
}
interface Compose {
  services: Record<string, Service>;
}

const IMAGE_OF: Record<string, string> = {
  django: 'portcullis-test/django',
  gateway: 'portcullis-test/gateway',
  sidecar: 'portcullis-test/sidecar',
};

/**
 * The compose file as this machine can run it: base images built locally
 * (no Docker Hub), Redis from Debian (which, unlike the hub's image, needs
 * protected mode off and a data dir), the gateway on a free loopback port,
 * and the sidecar with nftables inside its own container network namespace
 * instead of the host's network and ufw (tests never touch the host firewall).
 */
function forThisMachine(compose: Compose, gatewayPort: number): Compose {
  const s = structuredClone(compose.services);
  s.redis = {
    ...s.redis!,
    image: BASE.redis,
    command: ['redis-server', '--appendonly', 'yes', '--dir', '/data', '--protected-mode', 'no'],
  };
  delete s.redis.ports;
  for (const [name, image] of Object.entries(IMAGE_OF)) {
    s[name]!.image = image;
    delete s[name]!.build;
  }
  s.gateway!.ports = [`127.0.0.1:${gatewayPort}:8080`];
  const sidecar = s.sidecar!;
  delete sidecar.network_mode;
  sidecar.command = ['--backend', 'nftables'];
  sidecar.environment = { ...sidecar.environment, REDIS_URL: 'redis://redis:6379' };
  sidecar.volumes = sidecar.volumes!.filter((v) => (typeof v === 'string' ? v : v.target).includes('/etc/portcullis/'));
  return { ...compose, services: s };
}

describe.runIf(skip === null)(title, () => {
  let docker: Docker;
  let work: string;
  let compose: (args: string[]) => Promise<string>;
  let gatewayPort: number;
  let startedAt: number;
  let config: Compose;

  beforeAll(async () => {
    docker = await startDocker(root);
    await ensureBaseImages(docker);
    work = mkdtempSync(join(tmpdir(), 'pc-compose-'));
    const { stdout } = await run('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config'], {
      env: docker.env,
      encoding: 'utf8',
    });
    config = parse(stdout) as Compose;
    // the three images from their Dockerfiles, with this machine's base images
    for (const [name, image] of Object.entries(IMAGE_OF)) {
      const build = config.services[name]!.build!;
      const args = Object.keys(build.args ?? {}).flatMap((k) => ['--build-arg', `${k}=${k === 'DEBIAN_IMAGE' ? BASE.debian : BASE.node}`]);
      await docker.docker([
        'build',
        '-q',
        '--network',
        'host',
        ...args,
        '-f',
        join(build.context, build.dockerfile),
        '-t',
        image,
        build.context,
      ]);
    }
    gatewayPort = await freePort();
    const file = join(work, 'docker-compose.yml');
    // JSON is YAML whose strings stay strings (docker-compose's YAML 1.1 reads a bare yes as true)
    writeFileSync(file, JSON.stringify(forThisMachine(config, gatewayPort), null, 2));
    const project = `pctest${process.pid}`;
    compose = async (args) => {
      try {
        const out = await run('docker-compose', ['-p', project, '-f', file, ...args], {
          env: docker.env,
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        });
        return out.stdout + out.stderr;
      } catch (err) {
        const e = err as Error & { stdout?: string; stderr?: string };
        throw new Error(`docker-compose ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
    };
    startedAt = Math.floor(Date.now() / 1000) - 1;
    // returns once every service is started, each after what it depends on is healthy
    await compose(['up', '-d']);
  }, 1_200_000);

  afterAll(async () => {
    try {
      if (compose) await compose(['down', '-v', '--remove-orphans']);
    } finally {
      if (docker) await docker.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);

  it('starts in order: the gateway after Redis and Django are healthy, the sidecar after Redis', async () => {
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = (
      await docker.docker([
        'events',
        '--since',
        String(startedAt),
        '--until',
        String(until),
        '--filter',
        'type=container',
        '--format',
        '{{json .}}',
      ])
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: string; timeNano: number; Actor: { Attributes: Record<string, string> } });
    const first = (service: string, status: string) => {
      const e = events.find((ev) => ev.Actor.Attributes['com.docker.compose.service'] === service && ev.status === status);
      expect(e, `${service}: ${status}`).toBeDefined();
      return e!.timeNano;
    };
    expect(first('gateway', 'start')).toBeGreaterThan(first('redis', 'health_status: healthy'));
    expect(first('gateway', 'start')).toBeGreaterThan(first('django', 'health_status: healthy'));
    expect(first('sidecar', 'start')).toBeGreaterThan(first('redis', 'health_status: healthy'));
  });

  it('Django runs the pip-installed portcullis_django, and its system checks pass', async () => {
    const file = await compose([
      'exec',
      '-T',
      'django',
      '/opt/venv/bin/python',
      '-c',
      'import portcullis_django; print(portcullis_django.__file__)',
    ]);
    expect(file.trim()).toMatch(/^\/opt\/venv\/lib\/python3\.\d+\/site-packages\/portcullis_django\/__init__\.py$/);
    const check = await compose(['exec', '-T', 'django', '/opt/venv/bin/python', '/app/manage.py', 'check']);
    expect(check).toContain('System check identified no issues');
  });

  it('five failed logins through the gateway, the sixth is 403, and the sidecar puts the address in its nftables set', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`http://127.0.0.1:${gatewayPort}/auth/login/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'demo', password: 'wrong' }),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 403]);
    // the gateway sees the client as the compose network's gateway address (docker-proxy)
    const project = JSON.parse(await docker.docker(['network', 'inspect', `pctest${process.pid}_default`])) as {
      IPAM: { Config: { Gateway: string }[] };
    }[];
    const client = project[0]!.IPAM.Config[0]!.Gateway;
    const deadline = Date.now() + 60_000;
    let ruleset = '';
    while (!ruleset.includes(client)) {
      if (Date.now() > deadline)
        throw new Error(
          `${client} never reached the sidecar's nftables set:\n${ruleset}\n${await compose(['logs', '--tail', '50', 'sidecar'])}`,
        );
      await new Promise((r) => setTimeout(r, 250));
      ruleset = await compose(['exec', '-T', 'sidecar', 'nft', 'list', 'ruleset']);
    }
    expect(ruleset).toContain(client);
  });

  it('the sidecar reports healthy with the enforcing nftables backend, holding only NET_ADMIN and NET_RAW', async () => {
    const id = (await compose(['ps', '-q', 'sidecar'])).trim();
    const deadline = Date.now() + 60_000;
    let health = '';
    while (health !== 'healthy') {
      if (Date.now() > deadline) throw new Error(`sidecar health: ${health}`);
      health = (await docker.docker(['inspect', '--format', '{{.State.Health.Status}}', id])).trim();
      if (health !== 'healthy') await new Promise((r) => setTimeout(r, 500));
    }
    const caps = JSON.parse(await docker.docker(['inspect', '--format', '{{json .HostConfig}}', id])) as {
      CapAdd: string[];
      CapDrop: string[];
    };
    expect(caps.CapDrop).toEqual(['ALL']);
    expect([...caps.CapAdd].sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(readFileSync(join(root, 'docker-compose.yml'), 'utf8')).toContain('cap_drop: [ALL]');
  });
});
