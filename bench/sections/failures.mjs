// Figure 2 — failure recording: failing vs clean requests through one
// Portcullis gateway (A/B interleaved), and the store's own recordFailure rate.
import { parseConfig, RedisBanStore, resolveJails } from '@portcullis/core';
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { commandCounter, monitorCommands, quiesce, startRedis } from '../lib/redis.mjs';
import { ipPool } from '../lib/load.mjs';
import { failLogin, goodLogin, inParallel } from '../lib/http.mjs';

const ipAt = (offset, i) => ipPool(1, offset + i)();
import { abRounds, byText, cpuPerReq } from '../lib/ab.mjs';
import { fmt, fmtInt, fmtSpread, summary } from '../lib/stats.mjs';
import { VARIANTS } from './clean.mjs';

export const id = 'failures';
export const title = 'Figure 2 — failure recording';

// nobody may be banned during the throughput rounds
const MAXRETRY = 1_000_000;

async function throughGateway(ctx, redis, upstream, agent) {
  const gw = await startGateway({
    mode: 'portcullis',
    upstream: upstream.url,
    agent,
    config: benchConfig(redis.url, { maxretry: MAXRETRY }),
  });
  try {
    const { per, cmds } = await abRounds(ctx, {
      clean: { url: gw.url, kind: 'login', nextIp: ipPool(50_000), redis: redis.admin, proc: gw },
      failing: { url: gw.url, kind: 'fail', nextIp: ipPool(50_000, 60_000), redis: redis.admin, proc: gw },
    });
    // round trips, counted apart from the timed rounds (MONITOR slows Redis)
    const N = 2000;
    await quiesce(redis.admin);
    let failed = 0;
    const monFail = await monitorCommands(redis.port, () =>
      inParallel(N, 16, async (i) => {
        if ((await failLogin(gw.url, ipAt(120_000, i))) === 401) failed++;
      }),
    );
    await quiesce(redis.admin);
    const monClean = await monitorCommands(redis.port, () => inParallel(N, 16, (i) => goodLogin(gw.url, ipAt(140_000, i))));
    const C = per.clean;
    const F = per.failing;
    const not401 = F.reduce((s, r) => s + r.total - (r.statusCodes?.['401']?.count ?? 0), 0);
    return {
      ratio: summary(F.map((r, i) => r.rps / C[i].rps)),
      cleanRps: summary(C.map((r) => r.rps)),
      failRps: summary(F.map((r) => r.rps)),
      cleanP99: summary(C.map((r) => r.p99)),
      failP99: summary(F.map((r) => r.p99)),
      cmdsFail: cmds.failing,
      cmdsClean: cmds.clean,
      not401,
      cpuClean: cpuPerReq(C),
      cpuFail: cpuPerReq(F),
      monitored: { requests: failed, sent: N, fail: monFail, clean: monClean },
      per,
    };
  } finally {
    await gw.stop();
  }
}

/** recordFailure with one client and `inFlight` calls outstanding, for `seconds`. */
async function storeRate(store, jail, inFlight, seconds, ipOffset) {
  let n = 0;
  let errors = 0;
  const nextIp = ipPool(1_000_000, ipOffset);
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        await store.recordFailure(jail, nextIp());
        n++;
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { rate: n / ((performance.now() - t0) / 1000), n, errors };
}

export async function run(ctx) {
  const { rounds, seconds } = ctx.load;
  const redis = await startRedis();
  const upstream = await startUpstream();
  try {
    const res = {};
    for (const agent of Object.keys(VARIANTS)) {
      ctx.log(`variant: ${VARIANTS[agent]}`);
      res[agent] = await throughGateway(ctx, redis, upstream, agent);
    }

    // store level: one client, distinct addresses, bounded concurrency
    ctx.log('store: RedisBanStore.recordFailure, one client');
    const config = parseConfig(benchConfig(redis.url, { prefix: 'pcstore', maxretry: MAXRETRY }));
    const jail = resolveJails(config).get('django-login');
    const store = new RedisBanStore({ config, by: 'bench' });
    await store.connect();
    const INFLIGHT = 256;
    const storeRuns = { [INFLIGHT]: [], 1: [] };
    let storeCmds = null;
    let offset = 0;
    for (let i = 0; i < rounds; i++) {
      for (const k of i % 2 === 0 ? [INFLIGHT, 1] : [1, INFLIGHT]) {
        const counted = k === INFLIGHT && !storeCmds ? await commandCounter(redis.admin) : null;
        offset += 200_000;
        const r = await storeRate(store, jail, k, Math.min(seconds, 3), offset);
        if (counted) storeCmds = { ...(await counted()), records: r.n };
        storeRuns[k].push(r);
        ctx.log(
          `  round ${i + 1} in flight ${String(k).padStart(3)}: ${fmtInt(r.rate)} records/s${r.errors ? ` (${r.errors} errors)` : ''}`,
        );
      }
    }
    await store.close();
    const pipelined = summary(storeRuns[INFLIGHT].map((r) => r.rate));
    const serial = summary(storeRuns[1].map((r) => r.rate));

    const rows = [];
    const suffix = { shipped: '' };
    for (const [agent, m] of Object.entries(res)) {
      const label = 'example gateway';
      rows.push({
        key: `2a${suffix[agent]}`,
        figure: '2',
        what: `Failing req/s ÷ clean req/s, one gateway (same run) — ${label}`,
        value: `${fmt(m.ratio.median, 3)} (min ${fmt(m.ratio.min, 3)} – max ${fmt(m.ratio.max, 3)}, ${m.ratio.n} rounds; ${fmtInt(m.failRps.median)} vs ${fmtInt(m.cleanRps.median)} req/s)`,
        aim: '≥ 0.9',
        verdict: m.ratio.median >= 0.9 ? 'meets' : 'MISSES',
      });
      rows.push({
        key: `2b${suffix[agent]}`,
        figure: '2',
        what: `p99 of a failing request — ${label}`,
        value: `${fmtSpread(m.failP99, 1, ' ms')} (clean: ${fmt(m.cleanP99.median, 1)} ms)`,
        aim: '— (report)',
        verdict: '—',
      });
    }
    const fail = { total: 0, requests: 0, by: {} };
    const mon = { client: 0, lua: 0, requests: 0, by: {}, cleanClient: 0, cleanRequests: 0 };
    for (const m of Object.values(res)) {
      fail.total += m.cmdsFail.total;
      fail.requests += m.cmdsFail.requests;
      for (const [k, v] of Object.entries(m.cmdsFail.by)) fail.by[k] = (fail.by[k] ?? 0) + v;
      mon.client += m.monitored.fail.clientTotal;
      mon.lua += m.monitored.fail.luaTotal;
      mon.requests += m.monitored.requests;
      mon.cleanClient += m.monitored.clean.clientTotal;
      mon.cleanRequests += m.monitored.sent;
      for (const [k, v] of Object.entries(m.monitored.fail.client)) mon.by[k] = (mon.by[k] ?? 0) + v;
    }
    const perFail = mon.client / mon.requests;
    rows.push({
      key: '2c',
      figure: '2',
      what: 'Redis commands per failure (round trips)',
      value: `${fmt(perFail, 3)} (${fmtInt(mon.client)} commands for ${fmtInt(mon.requests)} failures: ${byText(mon.by)}); inside the script: ${fmt(mon.lua / mon.requests, 1)} per failure; good logins: ${mon.cleanClient} commands`,
      // a budgeted login path: a reservation must happen at arrival and the verdict at the response
      aim: '2 (reserve at arrival + record at the verdict: the least an exact request-time bound allows)',
      verdict: Math.abs(perFail - 2) < 0.001 ? 'meets' : perFail < 2.01 ? 'meets (+ periodic resync)' : 'MISSES',
    });
    rows.push({
      key: '2d',
      figure: '2',
      what: 'RedisBanStore.recordFailure, one client',
      value: `${fmtInt(pipelined.median)}/s with ${INFLIGHT} in flight (min ${fmtInt(pipelined.min)} – max ${fmtInt(pipelined.max)}, ${pipelined.n} rounds); ${fmtInt(serial.median)}/s one at a time`,
      aim: '≥ 50,000/s',
      verdict: pipelined.median < 50_000 ? 'MISSES' : pipelined.min < 50_000 ? 'meets (borderline: some rounds below the aim)' : 'meets',
    });

    const details = [
      `Through the gateway: one Portcullis gateway process (django-login jail, maxretry ${MAXRETRY.toLocaleString('en-US')} so nobody is banned during the rounds, findtime 10 m), ` +
        `A = clean: a good login, POST /auth/login/ with the right password (upstream 200), from 50,000 rotating addresses; B = failing: the same POST with a wrong password of the same length (upstream 401) from 50,000 other rotating addresses. ` +
        'Both sides send the same path and body size, so the difference is the recording alone; ' +
        `${rounds} rounds × ${seconds} s per side, alternating, ${ctx.load.connections} connections. Every failing request reserves a unit of its budget at arrival (one EVALSHA of reserve.lua) and is counted at its verdict (one EVALSHA of recordFailure.lua, which gives the unit back in the same step).`,
      '',
      '| variant | side | req/s median (min – max) | p99 ms median (min – max) |',
      '|---|---|---|---|',
    ];
    for (const [agent, m] of Object.entries(res)) {
      details.push(`| ${VARIANTS[agent]} | clean | ${fmtSpread(m.cleanRps, 0)} | ${fmtSpread(m.cleanP99, 1)} |`);
      details.push(`| | failing | ${fmtSpread(m.failRps, 0)} | ${fmtSpread(m.failP99, 1)} |`);
    }
    details.push('');
    for (const [agent, m] of Object.entries(res)) {
      details.push(
        `${agent}: per-round ratios ${m.ratio.values.map((v) => v.toFixed(3)).join(', ')}; failing responses other than 401: ${m.not401}; ` +
          `CPU per request (median of rounds): gateway ${fmt(m.cpuClean.gw, 0)} µs for a good login, ${fmt(m.cpuFail.gw, 0)} µs for a failure; redis-server ${fmt(m.cpuClean.redis, 1)} vs ${fmt(m.cpuFail.redis, 1)} µs ` +
          `(if throughput were set by gateway + Redis CPU alone the ratio would be ${fmt((m.cpuClean.gw + m.cpuClean.redis) / (m.cpuFail.gw + m.cpuFail.redis), 2)}). ` +
          `INFO commandstats over the failing rounds (counts commands run inside the script too): ${byText(m.cmdsFail.by)} for ${fmtInt(m.cmdsFail.requests)} failures; over the clean rounds: ${byText(m.cmdsClean.by)} for ${fmtInt(m.cmdsClean.requests)} requests.`,
      );
    }
    details.push(
      '',
      `Commands per failure are counted in a separate pass (MONITOR slows Redis, so never during timed rounds): ${fmtInt(mon.requests / 2)} failing requests (answered 401) per variant, 16 at a time over a keep-alive agent, each response awaited; MONITOR tells commands a client sent from those a Lua script ran ("lua" source). INFO commandstats alone cannot: it counts the script's inner HGET/ZADD/… calls as well.`,
      '',
      `Store level: RedisBanStore.recordFailure in the bench process, one ioredis client (it pipelines whatever is outstanding), ${INFLIGHT} calls in flight vs 1 at a time, ` +
        `a fresh address per call, ${Math.min(seconds, 3)} s per run, ${rounds} rounds alternating. ` +
        (storeCmds
          ? `Commands seen in the first ${INFLIGHT}-in-flight run: ${byText(storeCmds.by)} for ${fmtInt(storeCmds.records)} records.`
          : ''),
    );
    return { rows, details: details.join('\n'), raw: { res, storeRuns, storeCmds } };
  } finally {
    await upstream.stop();
    await redis.stop();
  }
}
