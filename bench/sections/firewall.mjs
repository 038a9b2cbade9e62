// Figure 4 — firewall: ban event → rule live (ufw, nftables), mass bans.
// Built as a standalone script by another engineer (bench/firewall.mjs; needs
// root and network namespaces). This section only plugs it in. It accepts
//
//   (a) export async function run(ctx) → { rows, details?, notes?, raw? } | { skipped }
//       (or a default export with run), rows keyed 4a … 4e as in lib/results.mjs; or
//   (b) export async function benchFirewall({ backend, samples, mass, maxSeconds, log })
//       → { backend, samples, mass, latencyMs: { p50, p95, max }, massMs, massApplied,
//           massWrittenMs?, kernelCount? } — the shape of the sidecar engineer's
//       script as of 2026-11-25; this section runs it per backend and maps
//       the results onto rows 4a … 4e.
//
// Without the script (or without root), RESULTS.md keeps "measured by
// bench/firewall section" for figure 4, and never a number.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, fmtInt } from '../lib/stats.mjs';

export const id = 'firewall';
export const title = 'Figure 4 — firewall (bench/firewall section)';

const SCRIPT = fileURLToPath(new URL('../firewall.mjs', import.meta.url));

function massText(r) {
  if (!r) return 'not run';
  const s = r.massMs !== undefined ? `${fmt(r.massMs / 1000, 2)} s` : 'n/a';
  // the time runs from the first ban written to the last rule live; writing the
  // events themselves (one ban script each) is part of it and shown apart
  const written = r.massWrittenMs !== undefined ? `; the events alone took ${fmt(r.massWrittenMs / 1000, 2)} s to write` : '';
  return `${fmtInt(r.massApplied ?? 0)}/${fmtInt(r.mass)} applied in ${s}${written}${r.kernelCount !== undefined ? ` (kernel holds ${fmtInt(r.kernelCount)})` : ''}`;
}
const complete = (r) => r && r.massApplied === r.mass;

/** Maps benchFirewall() results onto the figure-4 rows. */
export function rowsFrom({ ufw, nft10k, nft100k, ufw100k }) {
  const lat = (r) => (r?.latencyMs ? `p50 ${fmt(r.latencyMs.p50, 1)} ms, p95 ${fmt(r.latencyMs.p95, 1)} ms, max ${fmt(r.latencyMs.max, 1)} ms (${r.samples} bans)` : 'not run');
  return [
    { key: '4a', figure: '4', what: 'ufw: ban event → rule live', value: lat(ufw), aim: 'p95 < 500 ms', verdict: ufw?.latencyMs ? (ufw.latencyMs.p95 < 500 ? 'meets' : 'MISSES') : '—' },
    { key: '4b', figure: '4', what: 'nftables: ban event → rule live', value: lat(nft10k), aim: 'p95 < 50 ms', verdict: nft10k?.latencyMs ? (nft10k.latencyMs.p95 < 50 ? 'meets' : 'MISSES') : '—' },
    { key: '4c', figure: '4', what: 'nftables: 10,000 bans applied', value: massText(nft10k), aim: '— (report)', verdict: '—' },
    {
      key: '4d', figure: '4', what: 'nftables: 100,000 bans applied', value: massText(nft100k), aim: '< 5 s',
      verdict: nft100k ? (complete(nft100k) && nft100k.massMs < 5000 ? 'meets' : 'MISSES') : '—',
    },
    {
      key: '4d′', figure: '4', what: 'nftables: 100,000 bans restored by one reconcile (the kernel lost them: a reboot)',
      value: nft100k?.reconcileMs !== undefined ? `${fmtInt(nft100k.reconcileAdded)} added in ${fmt(nft100k.reconcileMs / 1000, 2)} s` : 'not run',
      aim: '< 5 s', verdict: nft100k?.reconcileMs !== undefined ? (nft100k.reconcileAdded >= nft100k.mass && nft100k.reconcileMs < 5000 ? 'meets' : 'MISSES') : '—',
    },
    { key: '4e', figure: '4', what: 'ufw: 10,000 / 100,000 bans applied (what ufw manages)', value: `10k: ${massText(ufw)}; 100k: ${massText(ufw100k)}`, aim: '— (report)', verdict: '—' },
  ];
}

export async function run(ctx) {
  if (!existsSync(SCRIPT)) return { skipped: 'bench/firewall.mjs is not there yet; figure 4 stays "measured by bench/firewall section"' };
  if (process.getuid?.() !== 0) return { skipped: 'needs root (network namespaces); figure 4 keeps its previous result' };
  const mod = await import(pathToFileURL(SCRIPT).href);
  const fn = mod.run ?? mod.default?.run ?? (typeof mod.default === 'function' ? mod.default : null);
  if (fn) return fn(ctx);
  if (typeof mod.benchFirewall !== 'function') return { skipped: 'bench/firewall.mjs exports neither run(ctx) nor benchFirewall()' };
  const samples = ctx.quick ? 10 : 50;
  const bf = (backend, mass, maxSeconds) => mod.benchFirewall({ backend, samples, mass, maxSeconds, log: ctx.log });
  const res = {};
  res.nft10k = await bf('nftables', ctx.quick ? 1_000 : 10_000, 300);
  if (!ctx.quick) res.nft100k = await bf('nftables', 100_000, 600);
  res.ufw = await bf('ufw', ctx.quick ? 1_000 : 10_000, 600);
  // ufw at 100,000: only when 10,000 went through, and bounded in time
  if (!ctx.quick && complete(res.ufw)) res.ufw100k = await bf('ufw', 100_000, 900);
  return {
    rows: rowsFrom(res),
    details: 'Run through bench/firewall.mjs `benchFirewall()` (sidecar in a private network namespace, private redis-server); latency = RedisBanStore.ban() → the sidecar logs "ban applied". See that script for its method.',
    raw: res,
  };
}
