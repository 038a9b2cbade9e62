import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

// redis-servers still running, killed if the bench process exits or is interrupted
const live = new Set();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function redisServerVersion() {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return /v=(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim();
}

/**
 * A private redis-server on a free loopback port (no persistence), never
 * the user's own Redis. Same settings as the test helper.
 */
export async function startRedis({ port: wanted } = {}) {
  if (redisServerVersion() === null) throw new Error('redis-server is not installed (apt-get install redis-server)');
  // a given port: for a Redis that comes after its clients (start-order figures)
  const port = wanted ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'pc-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const admin = new Redis(port, '127.0.0.1');
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    admin,
    client: () => new Redis(port, '127.0.0.1'),
    async stop() {
      admin.disconnect();
      if (child.exitCode === null) {
        await new Promise((r) => {
          child.once('exit', r);
          child.kill('SIGKILL');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Parses INFO commandstats into { cmd: calls }. */
export function parseCommandStats(info) {
  const out = {};
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Commands other than our own measuring (INFO, CONFIG) — what the system under test sent. */
export function countCommands(stats) {
  let total = 0;
  const by = {};
  for (const [cmd, calls] of Object.entries(stats)) {
    if (cmd === 'info' || cmd.startsWith('config')) continue;
    total += calls;
    by[cmd] = calls;
  }
  return { total, by };
}

/** CONFIG RESETSTAT now; the returned function reads INFO commandstats and counts since. */
export async function commandCounter(admin) {
  await admin.config('RESETSTAT');
  return async () => countCommands(parseCommandStats(await admin.info('commandstats')));
}

export async function usedMemory(admin) {
  const info = await admin.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

/**
 * Counts the commands clients send while fn() runs, with MONITOR: commands a
 * Lua script runs inside Redis (source "lua") are counted apart, so
 * `client` is the number of round-trip commands. MONITOR slows Redis down,
 * so this is only used in short counting passes, never in timed rounds.
 */
export async function monitorCommands(port, fn) {
  const base = new Redis(port, '127.0.0.1');
  const m = await base.monitor();
  const client = {};
  const lua = {};
  m.on('monitor', (_time, args, source) => {
    const cmd = String(args[0]).toLowerCase();
    const into = source === 'lua' ? lua : client;
    into[cmd] = (into[cmd] ?? 0) + 1;
  });
  await new Promise((r) => setTimeout(r, 50));
  try {
    await fn();
    // let the last commands arrive: wait until nothing new for 300 ms
    let seen = -1;
    for (let i = 0; i < 50; i++) {
      const now = Object.values(client).reduce((a, b) => a + b, 0);
      if (now === seen) break;
      seen = now;
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    m.disconnect();
    base.disconnect();
  }
  const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
  return { client, lua, clientTotal: sum(client), luaTotal: sum(lua) };
}

/** redis-server CPU time so far (user + sys), in microseconds. */
export async function redisCpuMicros(admin) {
  const info = await admin.info('cpu');
  const get = (k) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1e6;
}

/** Waits until Redis has run no new command for `quietMs` (leftover requests drained). */
export async function quiesce(admin, quietMs = 500, maxMs = 10_000) {
  const total = async () => Object.values(parseCommandStats(await admin.info('commandstats'))).reduce((a, b) => a + b, 0);
  const end = Date.now() + maxMs;
  let last = await total();
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = (await total()) - 1; // our own INFO
    if (now <= last) return;
    last = now + 1;
  }
}
