import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

/** redis-server's version ("7.0.15"), or null when it is not installed */
export function redisServerVersion(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return /v=(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim();
}

export function redisServerAvailable(): boolean {
  return redisServerVersion() !== null;
}

/** Does a redis-server answer PING on this loopback port? */
export async function redisAnswers(port: number): Promise<boolean> {
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

// redis-servers still running when this process exits (a crashed test file,
// an interrupted bench) are killed with it, never left listening
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** the settings of every redis-server the tests and the bench start: loopback, no persistence */
function redisServerArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
}

/**
 * A private redis-server for one test file (or one bench section), on a free
 * port, never the user's own Redis. It can be killed and restarted on the
 * same port.
 */
export class RedisServer {
  port = 0;
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'pc-redis-'));

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** the running server's process id */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** `port`: a given port (a Redis that comes after its clients); a free one otherwise */
  static async start(opts: { port?: number } = {}): Promise<RedisServer> {
    if (!redisServerAvailable()) {
      throw new Error('redis-server is not installed: apt-get install redis-server (the tests start their own on a free port)');
    }
    const server = new RedisServer();
    server.port = opts.port ?? (await freePort());
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    if (this.child) await this.kill();
    const child = spawn('redis-server', redisServerArgs(this.port, this.dir), { stdio: 'ignore' });
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    await waitFor(`redis-server on port ${this.port}`, () => redisAnswers(this.port), 10_000);
  }

  /** SIGSTOP / SIGCONT: a hung Redis (the port stays open, nothing answers). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.child?.pid) throw new Error('redis-server is not running');
    process.kill(this.child.pid, signal);
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** a plain client for assertions (like redis-cli) */
  client(): Redis {
    const client = new Redis(this.port, '127.0.0.1');
    // the server may be killed on purpose; commands reject, no "Unhandled error event"
    client.on('error', () => {});
    return client;
  }
}
