// Figure 5 — memory: Redis bytes per address in a failure window and per
// active ban; gateway heap per cached ban with 100,000 bans cached.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfig, RedisBanStore, resolveJails } from '@portcullis/core';
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { startRedis, usedMemory } from '../lib/redis.mjs';
import { fmt, fmtInt, summary } from '../lib/stats.mjs';

export const id = 'memory';
export const title = 'Figure 5 — memory';

const ip = (i) => `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function recordMany(store, jail, n, inFlight = 500) {
  let next = 0;
  const worker = async () => {
    while (next < n) await store.recordFailure(jail, ip(next++));
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

async function settledMemory(admin) {
  await new Promise((r) => setTimeout(r, 200));
  return usedMemory(admin);
}

async function keyBytes(admin, keys) {
  let sum = 0;
  for (const k of keys) sum += Number((await admin.memory('USAGE', k, 'SAMPLES', '0')) ?? 0);
  return sum;
}

function heapChild(n) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('../procs/heap.mjs', import.meta.url)), [], {
      execArgv: ['--expose-gc'],
      env: { ...process.env, PC_N: String(n) },
    });
    child.once('message', resolve);
    child.once('exit', (code) => code && reject(new Error(`heap.mjs exited ${code}`)));
  });
}

export async function run(ctx) {
  const N = 100_000;
  const redis = await startRedis();
  const stop = [];
  try {
    const admin = redis.admin;
    const byFlag = 'bench';

    // 1. one failure each for N addresses (no bans: maxretry high)
    await admin.flushall();
    const cfgFail = parseConfig(benchConfig(redis.url, { maxretry: 1_000_000 }));
    const storeFail = new RedisBanStore({ config: cfgFail, by: byFlag });
    await storeFail.connect();
    const base1 = await settledMemory(admin);
    await recordMany(storeFail, resolveJails(cfgFail).get('django-login'), N);
    const after1 = await settledMemory(admin);
    const failKeys = Array.from({ length: 200 }, (_, i) => storeFail.keys.fail('django-login', ip(i * 37)));
    const failKeyBytes = (await keyBytes(admin, failKeys)) / failKeys.length;
    await storeFail.close();
    const perFailIp = (after1 - base1) / N;
    ctx.log(`failure window: ${fmt(perFailIp, 0)} B/address (used_memory), MEMORY USAGE of a fail key ${fmt(failKeyBytes, 0)} B`);

    // 2. N active bans, through the same Lua path a real ban takes (maxretry 1)
    await admin.flushall();
    const cfgBan = parseConfig(benchConfig(redis.url, { maxretry: 1 }));
    const storeBan = new RedisBanStore({ config: cfgBan, by: byFlag });
    await storeBan.connect();
    const base2 = await settledMemory(admin);
    await recordMany(storeBan, resolveJails(cfgBan).get('django-login'), N);
    const after2 = await settledMemory(admin);
    const k = storeBan.keys;
    const sample = Array.from({ length: 200 }, (_, i) => ip(i * 37));
    const banHash =
      (await keyBytes(
        admin,
        sample.map((x) => k.ban(x)),
      )) / sample.length;
    const offenses =
      (await keyBytes(
        admin,
        sample.map((x) => k.offenses(x)),
      )) / sample.length;
    const bansZset = (await keyBytes(admin, [k.bans])) / N;
    const events = (await keyBytes(admin, [k.events])) / N;
    const active = await admin.zcard(k.bans);
    await storeBan.close();
    const perBan = (after2 - base2) / N;
    ctx.log(`active bans: ${active}, ${fmt(perBan, 0)} B/ban (used_memory)`);

    // 3a. gateway heap per cached ban: BanCache alone, fresh process, 3 runs
    const heapRuns = [];
    for (let i = 0; i < 3; i++) heapRuns.push(await heapChild(N));
    const cacheHeap = summary(heapRuns.map((h) => h.perBan));
    ctx.log(`BanCache: ${fmt(cacheHeap.median, 1)} B/ban`);

    // 3b. a whole gateway that loaded the N bans from Redis vs one with none
    const upstream = await startUpstream();
    stop.push(upstream);
    const gwFull = await startGateway({
      mode: 'portcullis',
      upstream: upstream.url,
      config: benchConfig(redis.url, { maxretry: 1 }),
      execArgv: ['--expose-gc'],
    });
    stop.push(gwFull);
    const gwEmpty = await startGateway({
      mode: 'portcullis',
      upstream: upstream.url,
      config: benchConfig(redis.url, { maxretry: 1, prefix: 'pcempty' }),
      execArgv: ['--expose-gc'],
    });
    stop.push(gwEmpty);
    const hFull = await gwFull.ask('heap');
    const hEmpty = await gwEmpty.ask('heap');
    const gwPerBan = (hFull.heapUsed + hFull.arrayBuffers - hEmpty.heapUsed - hEmpty.arrayBuffers) / hFull.cacheSize;
    ctx.log(`gateway: ${hFull.cacheSize} bans cached, ${fmt(gwPerBan, 1)} B/ban`);

    const rows = [
      {
        key: '5a',
        figure: '5',
        what: 'Redis bytes per IP in a failure window (1 failure)',
        value: `${fmtInt(perFailIp)} B (used_memory delta over ${fmtInt(N)} addresses; MEMORY USAGE of one fail key: ${fmtInt(failKeyBytes)} B)`,
        aim: '— (report)',
        verdict: '—',
      },
      {
        key: '5b',
        figure: '5',
        what: 'Redis bytes per active ban',
        value: `${fmtInt(perBan)} B (used_memory delta over ${fmtInt(active)} bans)`,
        aim: '— (report)',
        verdict: '—',
      },
      {
        key: '5c',
        figure: '5',
        what: 'Gateway heap per cached ban (100,000 cached)',
        value: `${fmt(cacheHeap.median, 0)} B in BanCache (min ${fmt(cacheHeap.min, 0)} – max ${fmt(cacheHeap.max, 0)}, 3 runs); whole gateway: ${fmt(gwPerBan, 0)} B (${fmtInt(hFull.cacheSize)} bans loaded from Redis)`,
        aim: '— (report)',
        verdict: '—',
      },
    ];
    const details = [
      `Redis: a private redis-server ${''}(no persistence), FLUSHALL, then ${fmtInt(N)} distinct addresses through RedisBanStore.recordFailure (500 in flight, one client). ` +
        'Bytes are the INFO memory used_memory delta divided by the count (includes dict/allocator overhead; the fixed-size stats hash is negligible).',
      '',
      `- failure window: one {p}:fail:<jail>:<ip> ZSET with one member (score + "now:token"), with a PEXPIRE of findtime.`,
      `- active ban, through the real Lua path (maxretry 1): ban HASH ≈ ${fmtInt(banHash)} B, offenses counter ≈ ${fmtInt(offenses)} B, share of the {p}:bans ZSET ≈ ${fmtInt(bansZset)} B, share of the events stream ≈ ${fmtInt(events)} B (MEMORY USAGE). ` +
        'The events stream is capped (streamMaxLen, default 100,000) so that part stops growing; the offenses counter outlives the ban by `increment.memory`.',
      '',
      `Gateway heap: (1) bench/procs/heap.mjs: a fresh node --expose-gc process, heapUsed + arrayBuffers after forced GC before and after BanCache.replace() of ${fmtInt(N)} bans with freshly built IP strings, the snapshot array dropped (as the middleware does). ` +
        `(2) two gateway processes (--expose-gc) on the same Redis, one whose prefix holds the ${fmtInt(N)} bans and one with an empty prefix; heapUsed + arrayBuffers difference after GC / bans cached (includes the garbage-free remains of loading the snapshot).`,
      `Per-run BanCache figures: ${heapRuns.map((h) => fmt(h.perBan, 1)).join(', ')} B; gateway heapUsed ${fmtInt(hFull.heapUsed)} vs ${fmtInt(hEmpty.heapUsed)} B.`,
    ];
    return {
      rows,
      details: details.join('\n'),
      raw: { perFailIp, perBan, failKeyBytes, banHash, offenses, bansZset, events, heapRuns, hFull, hEmpty },
    };
  } finally {
    for (const p of stop.reverse()) await p.stop();
    await redis.stop();
  }
}
