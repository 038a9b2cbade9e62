// Gateway CPU per clean request, the gateways loaded at the same time at a
// fixed rate each (autocannon overallRate), so whatever else the shared
// machine does hits every side alike: the example gateway without
// Portcullis, with it, and optionally with the Portcullis of another built
// checkout (before/after a change). CPU per request is higher than at full
// load (less batching); compare the differences, not the absolute figures.
// After npm run build.
//   node bench/experiments/clean-cpu.mjs [rounds] [seconds] [req/s each] [other checkout]
import autocannon from 'autocannon';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { startRedis } from '../lib/redis.mjs';
import { ipPool, KINDS } from '../lib/load.mjs';

const [roundsArg = '6', secsArg = '8', rateArg = '400', other] = process.argv.slice(2);
const rounds = Number(roundsArg);
const redis = await startRedis();
const upstream = await startUpstream();

const sides = {
  without: await startGateway({ mode: 'bare', upstream: upstream.url }),
  with: await startGateway({
    mode: 'portcullis',
    upstream: upstream.url,
    config: benchConfig(redis.url, { prefix: 'with', maxretry: 1e6 }),
  }),
};
if (other) {
  // the other checkout's own bench gateway (its dist, its node_modules)
  const procs = await import(pathToFileURL(join(other, 'bench/lib/procs.mjs')).href);
  sides.other = await procs.startGateway({
    mode: 'portcullis',
    upstream: upstream.url,
    config: benchConfig(redis.url, { prefix: 'other', maxretry: 1e6 }),
  });
}
const names = Object.keys(sides);

function load(url, seconds, nextIp) {
  const base = KINDS.clean;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: 16,
        overallRate: Number(rateArg),
        duration: seconds,
        ...base,
        requests: [
          {
            ...base,
            setupRequest(req) {
              req.headers['x-forwarded-for'] = nextIp();
              return req;
            },
          },
        ],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
  });
}

const pools = Object.fromEntries(names.map((n, i) => [n, ipPool(50_000, i * 50_000)]));
await Promise.all(names.map((n) => load(sides[n].url, 3, pools[n])));
const per = Object.fromEntries(names.map((n) => [n, []]));
const loads = [];
for (let i = 0; i < rounds; i++) {
  const before = {};
  for (const n of names) before[n] = (await sides[n].ask('cpu')).micros;
  const results = await Promise.all(names.map((n) => load(sides[n].url, Number(secsArg), pools[n])));
  for (const [k, n] of names.entries()) per[n].push(((await sides[n].ask('cpu')).micros - before[n]) / results[k].requests.total);
  loads.push(loadavg()[0]);
}
for (const s of Object.values(sides)) await s.stop();
await upstream.stop();
await redis.stop();

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log(`${rounds} rounds × ${secsArg} s, ${rateArg} req/s each, load average ${loads.map((l) => l.toFixed(1)).join(' ')}`);
for (const n of names) {
  const d = per[n].map((x, i) => x - per.without[i]);
  const versus = n === 'without' ? '' : `, minus without: median ${med(d).toFixed(1)} µs (rounds ${d.map((x) => x.toFixed(0)).join(' ')})`;
  console.log(`${n.padEnd(8)} ${med(per[n]).toFixed(0).padStart(4)} µs/request${versus}`);
}
if (other) {
  const d = per.with.map((x, i) => x - per.other[i]);
  console.log(`with − other: median ${med(d).toFixed(1)} µs (rounds ${d.map((x) => x.toFixed(0)).join(' ')})`);
}
