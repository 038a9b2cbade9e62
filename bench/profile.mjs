#!/usr/bin/env node
// Profiles one gateway process under load: node --cpu-prof, then prints the
// top functions by self time and the share per package.
//   node bench/profile.mjs [clean|login|fail] [bare|portcullis] [seconds]
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
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
  mode, upstream: upstream.url, agent: 'keepalive',
  config: benchConfig(redis.url, { maxretry: 1_000_000 }),
  execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
});
await round({ url: gw.url, kind, seconds: 2, connections: 64, nextIp: ipPool(50_000) });
const r = await round({ url: gw.url, kind, seconds: Number(secs), connections: 64, nextIp: ipPool(50_000, 60_000) });
console.log(`${mode} ${kind}: ${Math.round(r.rps)} req/s p99 ${r.p99} ms`);
await gw.stop();
await upstream.stop();
await redis.stop();

const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
const prof = JSON.parse(readFileSync(join(dir, file), 'utf8'));
const dt = new Map();
for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
const total = [...dt.values()].reduce((a, b) => a + b, 0);
const byFn = new Map();
const byPkg = new Map();
for (const n of prof.nodes) {
  const t = dt.get(n.id) ?? 0;
  if (!t) continue;
  const cf = n.callFrame;
  const url = cf.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.includes('/packages/') ? 'portcullis:' + /packages\/([^/]+)/.exec(url)[1] : url.startsWith('node:') ? 'node-core' : url || `(${cf.functionName || 'program'})`);
  const key = `${cf.functionName || '(anon)'} ${url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + t);
}
const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
console.log('\nself time by package:');
for (const [k, t] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(pct(t), k);
console.log('\ntop functions (self):');
for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(pct(t), k);
console.log(`\nprofile: ${join(dir, file)}`);
