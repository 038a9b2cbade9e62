import { commandCounter, redisCpuMicros } from './redis.mjs';
import { round } from './load.mjs';
import { fmtInt } from './stats.mjs';

/**
 * A/B interleaved autocannon rounds. sides: { name: { url, kind, nextIp, redis? } }
 * (exactly two). Each round runs both sides back to back; the side that goes
 * first swaps every round. When a side has `redis` (an ioredis admin client),
 * commands are counted around its rounds (CONFIG RESETSTAT … INFO commandstats).
 */
export async function abRounds(ctx, sides) {
  const { rounds, seconds, connections, warmup } = ctx.load;
  const names = Object.keys(sides);
  if (warmup > 0) {
    ctx.log(`  warm-up ${warmup} s each side`);
    for (const n of names) await round({ ...sides[n], seconds: warmup, connections });
  }
  const per = Object.fromEntries(names.map((n) => [n, []]));
  const cmds = Object.fromEntries(names.map((n) => [n, { total: 0, requests: 0, by: {} }]));
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? names : [...names].reverse();
    for (const n of order) {
      const side = sides[n];
      // let the requests a previous round left in flight drain first
      await new Promise((res) => setTimeout(res, ctx.quick ? 300 : 1000));
      const counted = side.redis ? await commandCounter(side.redis) : null;
      const cpu0 = side.proc ? (await side.proc.ask('cpu')).micros : 0;
      const rcpu0 = side.redis ? await redisCpuMicros(side.redis) : 0;
      const r = await round({ ...side, seconds, connections });
      // CPU per completed request: the gateway process, and redis-server
      if (side.proc) r.gwCpuPerReq = ((await side.proc.ask('cpu')).micros - cpu0) / r.total;
      if (side.redis) r.redisCpuPerReq = ((await redisCpuMicros(side.redis)) - rcpu0) / r.total;
      if (counted) {
        const c = await counted();
        cmds[n].total += c.total;
        cmds[n].requests += r.total;
        for (const [k, v] of Object.entries(c.by)) cmds[n].by[k] = (cmds[n].by[k] ?? 0) + v;
      }
      per[n].push(r);
      const codes = Object.entries(r.statusCodes ?? {})
        .map(([c, v]) => `${c}×${v.count}`)
        .join(' ');
      const cpu = side.proc
        ? `  cpu/req gw ${r.gwCpuPerReq.toFixed(0)} µs${side.redis ? ` redis ${r.redisCpuPerReq.toFixed(1)} µs` : ''}`
        : '';
      ctx.log(
        `  round ${i + 1} ${n.padEnd(18)} ${fmtInt(r.rps).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms${cpu}  [${codes}${r.errors ? ` errors ${r.errors}` : ''}]`,
      );
    }
  }
  return { per, cmds };
}

/** median gateway / redis CPU µs per request of a side's rounds */
export function cpuPerReq(rounds) {
  const med = (xs) => {
    const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
    return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
  };
  return { gw: med(rounds.map((r) => r.gwCpuPerReq)), redis: med(rounds.map((r) => r.redisCpuPerReq)) };
}

export const byText = (by) =>
  Object.entries(by)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';
