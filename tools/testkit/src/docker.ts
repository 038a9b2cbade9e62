import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hasCommand, isRoot } from './netns.js';

const run = promisify(execFile);

/** Why the image tests cannot run here, or null. */
export function dockerSkipReason(): string | null {
  if (!isRoot) return 'needs root (runs its own dockerd)';
  for (const [cmd, pkg] of [
    ['dockerd', 'docker.io'],
    ['docker', 'docker.io'],
    ['docker-compose', 'docker-compose'],
    ['debootstrap', 'debootstrap'],
  ] as const) {
    if (!hasCommand(cmd)) return `${cmd} is not installed (apt-get install ${pkg})`;
  }
  return null;
}

export interface Docker {
  /** environment for docker / docker-compose (DOCKER_HOST of this daemon) */
  env: NodeJS.ProcessEnv;
  docker(args: string[], opts?: { timeout?: number }): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A private dockerd (its own socket, state and exec root, per checkout, so
 * two checkouts never share one): no iptables rules and no default bridge,
 * so the host's firewall and networks stay as they are. Its image store
 * persists between runs (layers are cached).
 */
export async function startDocker(checkout: string): Promise<Docker> {
  const id = createHash('sha256').update(checkout).digest('hex').slice(0, 10);
  const socket = `/run/portcullis-test-docker-${id}.sock`;
  const pidfile = `/run/portcullis-test-docker-${id}.pid`;
  const execRoot = `/run/portcullis-test-docker-${id}`;
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}` };
  await stopLeftover(pidfile);
  const dockerd: ChildProcess = spawn(
    'dockerd',
    [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--host',
      `unix://${socket}`,
      '--pidfile',
      pidfile,
      '--exec-root',
      execRoot,
      '--data-root',
      `/var/lib/portcullis-test-docker-${id}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  dockerd.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const docker = async (args: string[], opts: { timeout?: number } = {}) => {
    try {
      const { stdout } = await run('docker', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeout ?? 0 });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`docker ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (dockerd.exitCode !== null) throw new Error(`dockerd exited with ${dockerd.exitCode}:\n${log}`);
    if (spawnSync('docker', ['version'], { env, stdio: 'ignore' }).status === 0) break;
    if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    env,
    docker,
    stop: async () => {
      if (dockerd.exitCode !== null) return;
      const exited = new Promise((r) => dockerd.once('exit', r));
      dockerd.kill('SIGTERM');
      await exited;
      // dockerd leaves its network namespace handle mounted in the exec root
      spawnSync('umount', [join(execRoot, 'netns', 'default')], { stdio: 'ignore' });
      rmSync(execRoot, { recursive: true, force: true });
    },
  };
}

/** A dockerd of this checkout left by a run that was killed: stopped before a new one starts. */
async function stopLeftover(pidfile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidfile, 'utf8').trim());
  } catch {
    return;
  }
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!(pid > 0) || !alive() || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(pidfile)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (alive()) {
    if (Date.now() > deadline) throw new Error(`a leftover dockerd (pid ${pid}) did not stop`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Base images this machine can make without a registry of images. */
export const BASE = {
  debian: 'portcullis-local/debian:bookworm',
  node: 'portcullis-local/node:20',
  redis: 'portcullis-local/redis:7',
};

const imageExists = (d: Docker, ref: string) =>
  d.docker(['image', 'inspect', ref]).then(
    () => true,
    () => false,
  );

/**
 * Docker Hub is not reachable here: Debian 12 from debootstrap (Debian's own
 * mirror), a Node.js 20 image with the host's node and CA bundle (npm's
 * registry is reached through the host's TLS proxy), Redis from Debian.
 * Built once per daemon; later runs find them.
 */
export async function ensureBaseImages(d: Docker): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pc-base-'));
  try {
    if (!(await imageExists(d, BASE.debian))) {
      const rootfs = join(work, 'rootfs');
      await run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], { maxBuffer: 64 * 1024 * 1024 });
      await run('sh', ['-c', 'tar -C "$1" -c . | docker import - "$2"', 'sh', rootfs, BASE.debian], {
        env: d.env,
        maxBuffer: 16 * 1024 * 1024,
      });
    }
    if (!(await imageExists(d, BASE.node))) {
      const ctx = join(work, 'node');
      mkdirSync(ctx);
      copyFileSync(process.execPath, join(ctx, 'node'));
      cpSync('/usr/lib/node_modules/npm', join(ctx, 'npm'), { recursive: true });
      copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(ctx, 'ca-certificates.crt'));
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          `FROM ${BASE.debian}`,
          'COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt',
          'COPY node /usr/local/bin/node',
          'COPY npm /usr/local/lib/node_modules/npm',
          'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
          'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && useradd -m -u 1000 node',
          '',
        ].join('\n'),
      );
      await d.docker(['build', '-q', '-t', BASE.node, ctx]);
    }
    if (!(await imageExists(d, BASE.redis))) {
      const ctx = join(work, 'redis');
      mkdirSync(ctx);
      writeFileSync(
        join(ctx, 'Dockerfile'),
        `FROM ${BASE.debian}\nRUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*\n`,
      );
      await d.docker(['build', '-q', '--network', 'host', '-t', BASE.redis, ctx]);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
