// What one Redis shard holds for one deployment (all keys in the {prefix} slot):
// failures recorded per second, bans per second, and the cost of a snapshot
// (a gateway's full cache load; Redis's own RDB save) as the ban set grows.
// Redis is single-threaded: its CPU per operation gives the ceiling of one
// shard, whatever the number of gateways. Run: npm run build && node bench/shard.mjs
import { RedisBanStore, parseConfig, resolveJails } from '../packages/core/dist/index.js';
import { startRedis } from './lib/redis.mjs';

const SECONDS = Number(process.env.SHARD_SECONDS ?? 3);
const IN_FLIGHT = 256;

/** Redis's own CPU seconds (user + sys) so far */
async function redisCpu(admin) {
  const info = await admin.info('cpu');
  const f = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return f('used_cpu_user') + f('used_cpu_sys');
}

/** runs `op(i)` with IN_FLIGHT calls in flight for SECONDS; ops/s and Redis CPU µs per op */
async function measure(admin, op) {
  let i = 0;
  let done = 0;
  const cpu0 = await redisCpu(admin);
  const t0 = process.hrtime.bigint();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (Date.now() < end) {
        await op(i++);
        done++;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (await redisCpu(admin)) - cpu0;
  return { perSecond: Math.round(done / secs), redisCpuUsPerOp: +((cpu / done) * 1e6).toFixed(1), redisCpuShare: +(cpu / secs).toFixed(2) };
}

const ip = (n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

const redis = await startRedis();
const results = { machine: `${(await import('node:os')).cpus().length} cores`, seconds: SECONDS, inFlight: IN_FLIGHT };
try {
  const config = parseConfig({
    redis: redis.url,
    jails: { counted: { path: '/login/', statuses: [401], maxretry: 1_000_000 }, banning: { path: '/x/', statuses: [401], maxretry: 1 } },
  });
  const jails = resolveJails(config);
  const store = new RedisBanStore({ config, autoPipelining: true });
  await store.connect();

  // 1. failures counted, no ban (the common case under a spray of passwords)
  results.failures = await measure(redis.admin, (i) => store.recordFailure(jails.get('counted'), ip(i % 1_000_000)));
  await redis.admin.flushall();
  await store.connect();

  // 2. every failure a ban (maxretry 1): the script also writes the hash, the index, the stream and the notice
  results.bans = await measure(redis.admin, (i) => store.recordFailure(jails.get('banning'), ip(i)));
  const banned = await redis.admin.zcard('{portcullis}:bans');
  results.bans.totalBanned = banned;

  // 3. snapshot cost at 100,000 bans: a gateway's full load (paged ZSCAN) and Redis's own save
  await redis.admin.flushall();
  await store.connect();
  const N = 100_000;
  for (let i = 0; i < N; i += 1000)
    await store.banMany(
      Array.from({ length: 1000 }, (_, j) => ip(2_000_000 + i + j)),
      { duration: 3_600_000 },
    );
  let t = performance.now();
  let cursor = '0';
  let loaded = 0;
  do {
    const page = await store.activeBansPage(cursor, { count: 2000 });
    loaded += page.bans.length;
    cursor = page.cursor;
  } while (cursor !== '0');
  const loadMs = performance.now() - t;
  t = performance.now();
  await redis.admin.save();
  const saveMs = performance.now() - t;
  const mem = await redis.admin.info('memory');
  results.snapshot = {
    bans: N,
    gatewayFullLoadMs: Math.round(loadMs),
    loadedAtLeastOnce: loaded >= N,
    redisSaveMs: Math.round(saveMs),
    usedMemoryMB: +(Number(/used_memory:(\d+)/.exec(mem)[1]) / 1048576).toFixed(1),
  };
  // the ceiling: one Redis core fully busy with this work
  results.ceiling = {
    failuresPerSecondAtFullCore: Math.round(1e6 / results.failures.redisCpuUsPerOp),
    bansPerSecondAtFullCore: Math.round(1e6 / results.bans.redisCpuUsPerOp),
  };
  await store.close();
} finally {
  await redis.stop();
}
console.log(JSON.stringify(results, null, 2));
