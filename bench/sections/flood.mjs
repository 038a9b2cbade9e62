// Figure 8 — the request-flood jail (preset http.flood): local counting per
// address in each gateway, Redis only when a local count reaches flushAt.
// Measured on the FloodCounter + RedisBanStore the gateway uses, fed request
// by request in this process (no HTTP: the figures are about Redis calls and
// how many requests a flooder gets through, not about proxying).
import { parseConfig, RedisBanStore, resolveJail } from '@portcullis/core';
// the guard's internal counter, measured on its own: from the build, not the package's API
import { FloodCounter } from '../../packages/express/dist/flood-counter.js';
import { commandCounter, startRedis } from '../lib/redis.mjs';
import { fmt, fmtInt } from '../lib/stats.mjs';

export const id = 'flood';
export const title = 'Figure 8 — request-flood jail (http.flood)';

const MAXRETRY = 300;
const FINDTIME = '1m';

async function gateways(url, g, prefix) {
  const config = parseConfig({ redis: url, prefix, jails: { flood: { preset: 'http.flood', maxretry: MAXRETRY, findtime: FINDTIME } } });
  const jail = resolveJail('flood', config.jails.flood, config);
  const out = [];
  for (let i = 0; i < g; i++) {
    const store = new RedisBanStore({ config, by: `gw${i}`, commandTimeout: 5000, autoPipelining: true });
    await store.connect();
    const banned = { at: 0 };
    const counter = new FloodCounter({ jail, store, onBanned: () => (banned.at ||= performance.now()) });
    out.push({ store, counter, banned });
  }
  return out;
}

/** visitors of an ordinary minute: most load a few pages, a few are heavy users; static files on top */
function visitorRequests(v) {
  const r = (v * 2654435761) % 1000; // deterministic spread
  const pages = r < 900 ? 1 + (r % 10) : r < 990 ? 10 + (r % 16) : 25 + (r % 36);
  return { pages, statics: pages * 4 };
}

export async function run(ctx) {
  const redis = await startRedis();
  const close = [];
  try {
    // 8a: ordinary traffic through one gateway (the harder case: all of a visitor's requests count in one place)
    const visitors = ctx.quick ? 20_000 : 100_000;
    const gws = await gateways(redis.url, 1, 'f6a');
    close.push(...gws);
    const count = await commandCounter(redis.admin);
    let requests = 0;
    let dynamic = 0;
    for (let v = 0; v < visitors; v++) {
      const ip = `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
      const { pages, statics } = visitorRequests(v);
      for (let i = 0; i < pages; i++) gws[0].counter.hit(ip, 'GET', `/app/page/${i}/`);
      for (let i = 0; i < statics; i++) gws[0].counter.hit(ip, 'GET', `/static/app.${i}.js`);
      requests += pages + statics;
      dynamic += pages;
    }
    await Promise.all(gws.map((g) => g.counter.idle()));
    const cmds = await count();
    const calls = gws.reduce((n, g) => n + g.counter.flushes, 0);
    const perRequest = calls / requests;

    // 8b: a flooder at 1,000 req/s over two gateways, paced in real time
    const fl = await gateways(redis.url, 2, 'f6b');
    close.push(...fl);
    const ip = '203.0.113.66';
    const t0 = performance.now();
    let sent = 0;
    while (!fl.some((g) => g.banned.at) && performance.now() - t0 < 61_000) {
      const due = Math.floor(performance.now() - t0) + 1; // 1 request per ms
      while (sent < due) fl[sent++ % 2].counter.hit(ip, 'GET', '/api/search/');
      await new Promise((r) => setTimeout(r, 1));
    }
    const bannedAfter = fl.some((g) => g.banned.at) ? Math.min(...fl.filter((g) => g.banned.at).map((g) => g.banned.at)) - t0 : null;

    // 8c: the bound, worst case (each flush answered before the next request), G = 1, 2, 4, 8
    const bounds = [];
    for (const g of [1, 2, 4, 8]) {
      const set = await gateways(redis.url, g, `f6c${g}`);
      close.push(...set);
      let n = 0;
      while (!set.some((x) => x.banned.at) && n < 10_000) {
        set[n++ % g].counter.hit('203.0.113.77', 'GET', '/');
        await Promise.all(set.map((x) => x.counter.idle()));
      }
      const flushAt = set[0].counter.flushAt;
      bounds.push({ g, n, bound: MAXRETRY + g * (flushAt - 1), flushAt });
    }

    const rows = [
      {
        key: '8a',
        figure: '8',
        what: 'Redis calls per clean request, flood jail on (1 gateway)',
        value: `${perRequest.toExponential(1)} (${fmtInt(calls)} calls for ${fmtInt(requests)} requests of ${fmtInt(visitors)} visitors, ${fmtInt(dynamic)} of them counted; ${fmtInt(cmds.total)} commands counting those the script runs inside Redis)`,
        aim: '< 0.01',
        verdict: perRequest < 0.01 ? 'meets' : 'MISSES',
      },
      {
        key: '8b',
        figure: '8',
        what: 'Flooder at 1,000 req/s over 2 gateways → banned',
        value: bannedAfter === null ? 'not banned within 61 s' : `after ${fmt(bannedAfter, 0)} ms (${fmtInt(sent)} requests sent)`,
        aim: '< window + 1 s (61 s)',
        verdict: bannedAfter !== null && bannedAfter < 61_000 ? 'meets' : 'MISSES',
      },
      {
        key: '8c',
        figure: '8',
        what: 'Requests before the ban vs the bound maxretry + G·(flushAt − 1)',
        value: bounds.map((b) => `G=${b.g}: ${b.n} ≤ ${b.bound}`).join('; '),
        aim: 'within the bound',
        verdict: bounds.every((b) => b.n <= b.bound) ? 'meets' : 'MISSES',
      },
    ];
    const details = [
      `http.flood with maxretry ${MAXRETRY}, findtime ${FINDTIME}, flushAt = maxretry / 10 = ${bounds[0].flushAt} (the default). ` +
        "Each gateway counts requests per address in memory and sends an address's count to the failure script (one EVALSHA, a weighted entry of the shared sliding window) only when it reaches flushAt.",
      `8a: ${fmtInt(visitors)} visitors of one minute, 90 % loading 1–10 pages, 9 % 10–25, 1 % 25–60, each page with 4 static files (not counted), all through one gateway; commands counted with INFO commandstats.`,
      '8b: one address, one request per millisecond alternating between 2 gateways, paced by the clock; time from the first request to the first gateway learning of the ban.',
      '8c: the worst case of the bound: each flush is answered before the next request (no request is lost in a round trip) and the requests are spread evenly, so every gateway holds back flushAt − 1 at the decision. ' +
        'Bound: with G gateways a flooder is banned by request maxretry + G·(flushAt − 1) at the latest, plus what it sends during one Redis round trip and the pub/sub notice to the other gateways.',
    ];
    return { rows, details: details.join('\n'), raw: { perRequest, calls, cmds, requests, bannedAfter, sent, bounds } };
  } finally {
    for (const g of close) await g.store.close();
    await redis.stop();
  }
}
