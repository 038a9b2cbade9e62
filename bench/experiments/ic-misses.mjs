// V8 inline-cache misses per clean request, gateway without and with
// Portcullis: each gateway runs with --log-ic over a fixed number of GET /
// requests (after a warm-up), and the IC events it logs are counted by
// kind, property and function. A count, not a time: it does not move with
// the load of a shared machine, so a change to the clean path can be judged
// by it when figure 1 is noise. After npm run build.
//   node bench/experiments/ic-misses.mjs [requests] [rows]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchConfig, startGateway, startUpstream } from '../lib/procs.mjs';
import { startRedis } from '../lib/redis.mjs';
import { ipPool, round } from '../lib/load.mjs';

const [amountArg = '3000', rowsArg = '15'] = process.argv.slice(2);
const amount = Number(amountArg);
const redis = await startRedis();
const upstream = await startUpstream();

/** IC events per request of one gateway, by "kind .property old->new in function". */
async function icEvents(mode) {
  const dir = mkdtempSync(join(tmpdir(), 'pc-ic-'));
  const gw = await startGateway({
    mode,
    upstream: upstream.url,
    config: benchConfig(redis.url, { maxretry: 1e6 }),
    execArgv: ['--log-ic', `--logfile=${join(dir, 'v8.log')}`, '--no-logfile-per-isolate'],
  });
  await round({ url: gw.url, kind: 'clean', amount: 2000, connections: 32, nextIp: ipPool(50_000) });
  const file = join(dir, readdirSync(dir)[0]);
  const warm = readFileSync(file, 'utf8').split('\n').length;
  await round({ url: gw.url, kind: 'clean', amount, connections: 32, nextIp: ipPool(50_000, 60_000) });
  await gw.stop();
  const lines = readFileSync(file, 'utf8').split('\n');
  rmSync(dir, { recursive: true, force: true });
  // code address ranges → function names, to say where each IC event happened
  const codes = [];
  for (const l of lines) {
    if (!l.startsWith('code-creation,')) continue;
    const f = l.split(',');
    const name = f
      .slice(6)
      .join(',')
      .replace(/"/g, '')
      .replace(/,0x[0-9a-f]+.*$/, '')
      .replace(/\S*\/(node_modules|packages)\//, '$1/');
    codes.push([Number(f[4]), Number(f[5]), name]);
  }
  codes.sort((a, b) => a[0] - b[0]);
  const fnAt = (pc) => {
    let lo = 0;
    let hi = codes.length - 1;
    let best = -1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (codes[m][0] <= pc) {
        best = m;
        lo = m + 1;
      } else hi = m - 1;
    }
    return best >= 0 && pc < codes[best][0] + codes[best][1] ? codes[best][2] : '?';
  };
  const by = new Map();
  for (const l of lines.slice(warm)) {
    // type,pc,time,line,column,old_state,new_state,map,key,modifier,slow_reason
    if (!/^\w*IC,/.test(l)) continue;
    const f = l.split(',');
    const key = `${f[0]} .${f[8].replace(/ hash [0-9a-f]+/, '')} ${f[5]}->${f[6]} in ${fnAt(Number(f[1]))}`;
    by.set(key, (by.get(key) ?? 0) + 1 / amount);
  }
  return by;
}

const bare = await icEvents('bare');
const pc = await icEvents('portcullis');
await upstream.stop();
await redis.stop();

const sum = (m) => [...m.values()].reduce((s, x) => s + x, 0);
console.log(
  `IC events per clean request: without Portcullis ${sum(bare).toFixed(1)}, with ${sum(pc).toFixed(1)} (+${(sum(pc) - sum(bare)).toFixed(1)})`,
);
const rows = [...new Set([...bare.keys(), ...pc.keys()])]
  .map((k) => [k, (pc.get(k) ?? 0) - (bare.get(k) ?? 0)])
  .filter(([, d]) => Math.abs(d) >= 0.3)
  .sort((a, b) => b[1] - a[1]);
console.log('largest differences (with − without; inlining moves some between functions):');
for (const [k, d] of rows.slice(0, Number(rowsArg))) console.log(`${d.toFixed(2).padStart(6)}  ${k}`);
