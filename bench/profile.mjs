#!/usr/bin/env node
// Profiles one gateway process under load: node --cpu-prof, then prints the
// top functions by self time and the share per package.
//   node bench/profile.mjs [clean|login|fail] [bare|portcullis] [seconds]
import { mkdtempSync } from 'node:fs';
import { summarize } from './lib/cpuprofile.mjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchConfig, startGateway, startUpstream } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { ipPool, round } from './lib/load.mjs';

const [kind = 'clean', mode = 'portcullis', secs = '8'] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'pc-prof-'));
const redis = await startRedis();
const upstream = await startUpstream();
const gw = await startGateway({
  mode,
  upstream: upstream.url,
  config: benchConfig(redis.url, { maxretry: 1_000_000 }),
  execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
});
await round({ url: gw.url, kind, seconds: 2, connections: 64, nextIp: ipPool(50_000) });
const r = await round({ url: gw.url, kind, seconds: Number(secs), connections: 64, nextIp: ipPool(50_000, 60_000) });
console.log(`${mode} ${kind}: ${Math.round(r.rps)} req/s p99 ${r.p99} ms`);
await gw.stop();
await upstream.stop();
await redis.stop();

summarize(dir, 30, r.total);
