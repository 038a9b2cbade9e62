// Figure 3 — propagation: the maxretry-th failure on gateway A → a 403 on
// gateway B (another process, same Redis; the ban reaches B's cache via
// pub/sub {p}:changes).
import { setTimeout as sleep } from 'node:timers/promises';
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { startRedis } from '../lib/redis.mjs';
import { failLogin, send } from '../lib/http.mjs';
import { fmt, quantile, summary } from '../lib/stats.mjs';

export const id = 'propagation';
export const title = 'Figure 3 — propagation between gateways';

const MAXRETRY = 5;

export async function run(ctx) {
  const trials = ctx.quick ? 30 : 300;
  const redis = await startRedis();
  const upstream = await startUpstream();
  const stop = [];
  try {
    const config = benchConfig(redis.url, { maxretry: MAXRETRY });
    const A = await startGateway({ mode: 'portcullis', upstream: upstream.url, config });
    stop.push(A);
    const B = await startGateway({ mode: 'portcullis', upstream: upstream.url, config });
    stop.push(B);

    const lat = [];
    const fromResponse = [];
    let polls = 0;
    let aNext = 0;
    let timeouts = 0;
    for (let t = 0; t < trials; t++) {
      const ip = `198.19.${(t >> 8) & 255}.${t & 255}`;
      for (let i = 0; i < MAXRETRY - 1; i++) {
        const s = await failLogin(A.url, ip);
        if (s !== 401) throw new Error(`trial ${t}: failure ${i + 1} at A answered ${s}`);
      }
      // B must not block it yet
      if ((await send(B.url, { ip })) !== 200) throw new Error(`trial ${t}: B blocked ${ip} before the ban`);
      const t0 = performance.now();
      let tResp = 0;
      const last = failLogin(A.url, ip).then((s) => {
        tResp = performance.now();
        return s;
      });
      let t1 = 0;
      const deadline = t0 + 2000;
      while (performance.now() < deadline) {
        polls++;
        const s = await send(B.url, { ip });
        if (s === 403) {
          t1 = performance.now();
          break;
        }
        await sleep(1);
      }
      const lastStatus = await last;
      if (lastStatus !== 401) throw new Error(`trial ${t}: the ${MAXRETRY}th failure at A answered ${lastStatus}`);
      if (!t1) {
        timeouts++;
        continue;
      }
      lat.push(t1 - t0);
      fromResponse.push(t1 - tResp);
      if ((await send(A.url, { ip })) === 403) aNext++;
    }
    const s = summary(lat);
    const p99 = quantile(lat, 0.99);
    const p50 = quantile(lat, 0.5);
    const r = summary(fromResponse);
    const rows = [
      {
        key: '3a',
        figure: '3',
        what: 'maxretry-th failure on gateway A → 403 on gateway B',
        value: `p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(s.max, 1)} ms (${lat.length} trials${timeouts ? `, ${timeouts} never blocked within 2 s` : ''})`,
        aim: 'p99 < 50 ms',
        verdict: p99 < 50 && timeouts === 0 ? 'meets' : 'MISSES',
      },
      {
        key: '3b',
        figure: '3',
        what: 'Gateway A blocks the next request after the ban',
        value: `${aNext} / ${lat.length} trials`,
        aim: 'next request',
        verdict: aNext === lat.length ? 'meets' : 'MISSES',
      },
    ];
    const details = [
      `Two Portcullis gateway processes A and B (keep-alive variant) on one Redis, django-login jail, maxretry ${MAXRETRY}. ` +
        `Per trial a fresh address fails ${MAXRETRY - 1} times at A (each awaited, 401), B is checked to still answer 200, then the clock starts as the ${MAXRETRY}th failing POST leaves for A ` +
        'and a poller sends GET / to B for that address, one request at a time with ~1 ms between, until B answers 403. ' +
        "The clock therefore includes A's proxy round trip to the upstream and the poller's own resolution (one request ≈ 1 ms), so it is an upper bound. " +
        `${trials} trials, ${polls} polls in all.`,
      '',
      `Measured from the moment A's 401 response reached the client instead: p50 ${fmt(quantile(fromResponse, 0.5), 1)} ms, p99 ${fmt(quantile(fromResponse, 0.99), 1)} ms (negative = B already blocked before A's answer arrived). ` +
        `Spread of the main figure: min ${fmt(s.min, 1)}, q1 ${fmt(s.q1, 1)}, q3 ${fmt(s.q3, 1)}, max ${fmt(s.max, 1)} ms. (min of the from-response figure ${fmt(r.min, 1)} ms.)`,
    ];
    return { rows, details: details.join('\n'), raw: { lat, fromResponse, aNext, timeouts } };
  } finally {
    for (const p of stop.reverse()) await p.stop();
    await upstream.stop();
    await redis.stop();
  }
}
