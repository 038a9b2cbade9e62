// Figure 1 — clean-request cost: the example gateway without and with
// Portcullis, same upstream, same load, A/B interleaved rounds.
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { startRedis } from '../lib/redis.mjs';
import { ipPool } from '../lib/load.mjs';
import { abRounds, byText, cpuPerReq } from '../lib/ab.mjs';
import { fmt, fmtInt, fmtSpread, summary } from '../lib/stats.mjs';

export const id = 'clean';
export const title = 'Figure 1 — clean-request cost';

export const VARIANTS = {
  shipped: 'the example gateway as shipped (keep-alive agent to the upstream)',
};

async function measure(ctx, redis, upstream, agent) {
  const stop = [];
  try {
    const bare = await startGateway({ mode: 'bare', upstream: upstream.url, agent });
    stop.push(bare);
    const guarded = await startGateway({ mode: 'portcullis', upstream: upstream.url, agent, config: benchConfig(redis.url) });
    stop.push(guarded);
    const nextIp = ipPool(50_000);
    const { per, cmds } = await abRounds(ctx, {
      'without portcullis': { url: bare.url, kind: 'clean', nextIp, proc: bare },
      'with portcullis': { url: guarded.url, kind: 'clean', nextIp, redis: redis.admin, proc: guarded },
    });
    const A = per['without portcullis'];
    const B = per['with portcullis'];
    return {
      ratio: summary(B.map((r, i) => r.rps / A[i].rps)),
      addedP99: summary(B.map((r, i) => r.p99 - A[i].p99)),
      bareRps: summary(A.map((r) => r.rps)),
      pcRps: summary(B.map((r) => r.rps)),
      bareP99: summary(A.map((r) => r.p99)),
      pcP99: summary(B.map((r) => r.p99)),
      errors: [...A, ...B].reduce((s, r) => s + r.errors + r.non2xx, 0),
      cmds: cmds['with portcullis'],
      cpuBare: cpuPerReq(A),
      cpuPc: cpuPerReq(B),
      per,
    };
  } finally {
    for (const p of stop.reverse()) await p.stop();
  }
}

export async function run(ctx) {
  // the effect looked for (a few %) is smaller than round-to-round noise on a
  // shared box, so this figure gets twice the rounds of the others
  if (!ctx.quick) ctx = { ...ctx, load: { ...ctx.load, rounds: ctx.load.rounds * 2 } };
  const { rounds, seconds, connections, warmup } = ctx.load;
  const redis = await startRedis();
  const upstream = await startUpstream();
  try {
    const res = {};
    for (const agent of Object.keys(VARIANTS)) {
      ctx.log(`variant: ${VARIANTS[agent]}`);
      res[agent] = await measure(ctx, redis, upstream, agent);
    }
    const rows = [];
    const suffix = { shipped: '' };
    for (const [agent, m] of Object.entries(res)) {
      const label = 'example gateway';
      rows.push({
        key: `1a${suffix[agent]}`,
        figure: '1',
        what: `Clean throughput, with / without Portcullis (same run) — ${label}`,
        value:
          `${fmt(m.ratio.median, 3)} (min ${fmt(m.ratio.min, 3)} – max ${fmt(m.ratio.max, 3)}, IQR ${fmt(m.ratio.q1, 3)}–${fmt(m.ratio.q3, 3)}, ${m.ratio.n} rounds; ${fmtInt(m.pcRps.median)} vs ${fmtInt(m.bareRps.median)} req/s); ` +
          `gateway CPU per request ${fmt(m.cpuPc.gw, 0)} vs ${fmt(m.cpuBare.gw, 0)} µs (${fmt(m.cpuBare.gw / m.cpuPc.gw, 3)})`,
        aim: '≥ 0.97',
        verdict: m.ratio.median < 0.97 ? 'MISSES' : m.ratio.q1 < 0.97 ? 'meets (borderline: IQR crosses the aim)' : 'meets',
      });
      rows.push({
        key: `1b${suffix[agent]}`,
        figure: '1',
        what: `Added p99 latency of a clean request — ${label}`,
        value: `${fmtSpread(m.addedP99, 1, ' ms')}; p99 ${fmt(m.pcP99.median, 1)} vs ${fmt(m.bareP99.median, 1)} ms`,
        aim: '— (report)',
        verdict: '—',
      });
    }
    const cmds = { total: 0, requests: 0, by: {} };
    for (const m of Object.values(res)) {
      cmds.total += m.cmds.total;
      cmds.requests += m.cmds.requests;
      for (const [k, v] of Object.entries(m.cmds.by)) cmds.by[k] = (cmds.by[k] ?? 0) + v;
    }
    const perReq = cmds.requests ? cmds.total / cmds.requests : NaN;
    rows.push({
      key: '1c',
      figure: '1',
      what: 'Redis commands per clean request',
      value: `${cmds.total === 0 ? '0' : perReq.toExponential(1)} (${cmds.total} commands in ${fmtInt(cmds.requests)} requests${cmds.total ? `: ${byText(cmds.by)}` : ''})`,
      aim: '0',
      verdict: cmds.total === 0 ? 'meets' : perReq < 1e-4 ? 'meets (only the periodic resync)' : 'MISSES',
    });
    const details = [
      `Load: autocannon in the bench process, ${connections} keep-alive client connections, GET / with X-Forwarded-For rotating over 50,000 addresses (198.18.0.0/15); ` +
        `${rounds} rounds × ${seconds} s per side, sides alternating (the first side swaps every round), ${warmup} s warm-up per side. ` +
        'Gateways: bench/procs/gateway.mjs, one process per side, pino level "silent" (pino-http still runs on both sides); "without" passes a pass-through `(req, res, next) => next()` where "with" passes `portcullis(config)`. Upstream: bench/procs/upstream.mjs (node:http, 200 `{"ok":true}`).',
      '',
      '| variant | side | req/s median (min – max) | p99 ms median (min – max) |',
      '|---|---|---|---|',
    ];
    for (const [agent, m] of Object.entries(res)) {
      details.push(`| ${VARIANTS[agent]} | without Portcullis | ${fmtSpread(m.bareRps, 0)} | ${fmtSpread(m.bareP99, 1)} |`);
      details.push(`| | with Portcullis | ${fmtSpread(m.pcRps, 0)} | ${fmtSpread(m.pcP99, 1)} |`);
    }
    details.push('');
    for (const [agent, m] of Object.entries(res)) {
      details.push(
        `Per-round throughput ratios (${agent}): ${m.ratio.values.map((v) => v.toFixed(3)).join(', ')}.${m.errors ? ` Errors or non-2xx: ${m.errors}.` : ''} ` +
          `Gateway CPU per request (median of rounds, process.cpuUsage): ${fmt(m.cpuBare.gw, 0)} µs without, ${fmt(m.cpuPc.gw, 0)} µs with Portcullis.`,
      );
    }
    details.push(
      '',
      `Redis commands during the Portcullis rounds: ${byText(cmds.by)} (the middleware's 30 s resync — MULTI/ZREMRANGEBYSCORE/ZRANGE/EXEC — is the only thing expected).`,
    );
    return { rows, details: details.join('\n'), raw: res };
  } finally {
    await upstream.stop();
    await redis.stop();
  }
}
