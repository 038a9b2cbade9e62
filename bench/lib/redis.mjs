import { Redis } from 'ioredis';
import { RedisServer, freePort, redisServerVersion } from '@portcullis/testkit';

// the testkit kills the redis-servers it started when this process exits; an
// interrupted bench exits (and so kills them) too
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

export { freePort, redisServerVersion };

/**
 * A private redis-server on a free loopback port (no persistence), never
 * the user's own Redis: the testkit's, as the tests use.
 */
export async function startRedis({ port } = {}) {
  // a given port: for a Redis that comes after its clients (start-order figures)
  const server = await RedisServer.start({ port });
  const admin = server.client();
  return {
    port: server.port,
    url: server.url,
    pid: server.pid,
    admin,
    client: () => new Redis(server.port, '127.0.0.1'),
    async stop() {
      admin.disconnect();
      await server.stop();
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
