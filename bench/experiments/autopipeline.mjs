// A/B: two Portcullis gateways whose store client has ioredis auto-pipelining
// off / on, same run, interleaved. node bench/experiments/autopipeline.mjs [fail|login|clean]
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { startRedis } from '../lib/redis.mjs';
import { ipPool } from '../lib/load.mjs';
import { abRounds } from '../lib/ab.mjs';
const redis = await startRedis();
const up = await startUpstream();
const config = benchConfig(redis.url, { maxretry: 1e6 });
const a = await startGateway({ mode: 'portcullis', upstream: up.url, config, env: { PC_AUTOPIPELINE: '0' } });
const b = await startGateway({ mode: 'portcullis', upstream: up.url, config, env: { PC_AUTOPIPELINE: '1' } });
const kind = process.argv[2] ?? 'fail';
const { per } = await abRounds(
  { quick: false, log: console.log, load: { rounds: 4, seconds: 5, warmup: 2, connections: 64 } },
  {
    plain: { url: a.url, kind, nextIp: ipPool(50000), redis: redis.admin, proc: a },
    autopipe: { url: b.url, kind, nextIp: ipPool(50000, 60000), redis: redis.admin, proc: b },
  },
);
console.log('ratios auto/plain', per.autopipe.map((r, i) => (r.rps / per.plain[i].rps).toFixed(3)).join(' '));
await a.stop();
await b.stop();
await up.stop();
await redis.stop();
