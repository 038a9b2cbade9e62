import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Prints self time by package and the top functions of the .cpuprofile in `dir`. */
export function summarize(dir, top = 30, requests = 0) {
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
    const pkg =
      /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
      (url.includes('/packages/')
        ? `portcullis:${/packages\/([^/]+)/.exec(url)[1]}`
        : url.startsWith('node:')
          ? 'node-core'
          : url || `(${cf.functionName || 'program'})`);
    const key = `${cf.functionName || '(anon)'} ${url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + t);
  }
  const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)}%${requests ? ` ${(t / requests).toFixed(1).padStart(6)} µs/req` : ''}`;
  console.log('\nself time by package:');
  for (const [k, t] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(pct(t), k);
  console.log('\ntop functions (self):');
  for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(t), k);
  console.log(`\nprofile: ${join(dir, file)}`);
}
