import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RESULTS_JSON = fileURLToPath(new URL('../results.json', import.meta.url));
export const RESULTS_MD = fileURLToPath(new URL('../RESULTS.md', import.meta.url));

/** The rows every RESULTS.md shows, in order, before any section has run. */
export const SKELETON = [
  { key: '1a', figure: '1', section: 'clean', what: 'Clean throughput, with / without Portcullis (same run)', aim: '≥ 0.97' },
  { key: '1b', figure: '1', section: 'clean', what: 'Added p99 latency of a clean request', aim: '— (report)' },
  { key: '1c', figure: '1', section: 'clean', what: 'Redis commands per clean request', aim: '0' },
  { key: '2a', figure: '2', section: 'failures', what: 'Failing req/s ÷ clean req/s, one gateway (same run)', aim: '≥ 0.9' },
  { key: '2b', figure: '2', section: 'failures', what: 'p99 of a failing request', aim: '— (report)' },
  {
    key: '2c',
    figure: '2',
    section: 'failures',
    what: 'Redis commands per failure',
    aim: '2 (reserve at arrival + record at the verdict: the least an exact request-time bound allows)',
  },
  { key: '2d', figure: '2', section: 'failures', what: 'RedisBanStore.recordFailure, one client', aim: '≥ 50,000/s' },
  { key: '3a', figure: '3', section: 'propagation', what: 'maxretry-th failure on gateway A → 403 on gateway B', aim: 'p99 < 50 ms' },
  { key: '3b', figure: '3', section: 'propagation', what: 'Gateway A blocks the next request after the ban', aim: 'next request' },
  { key: '4a', figure: '4', section: 'firewall', what: 'ufw: ban event → rule live', aim: 'p95 < 500 ms' },
  { key: '4b', figure: '4', section: 'firewall', what: 'nftables: ban event → rule live', aim: 'p95 < 50 ms' },
  { key: '4c', figure: '4', section: 'firewall', what: 'nftables: 10,000 bans applied', aim: '— (report)' },
  { key: '4d', figure: '4', section: 'firewall', what: 'nftables: 100,000 bans applied', aim: '< 5 s' },
  { key: '4d′', figure: '4', section: 'firewall', what: 'nftables: 100,000 bans restored by one reconcile', aim: '< 5 s' },
  { key: '4e', figure: '4', section: 'firewall', what: 'ufw: 10,000 / 100,000 bans applied (what ufw manages)', aim: '— (report)' },
  { key: '5a', figure: '5', section: 'memory', what: 'Redis bytes per IP in a failure window (1 failure)', aim: '— (report)' },
  { key: '5b', figure: '5', section: 'memory', what: 'Redis bytes per active ban', aim: '— (report)' },
  { key: '5c', figure: '5', section: 'memory', what: 'Gateway heap per cached ban (100,000 cached)', aim: '— (report)' },
  {
    key: '6a',
    figure: '6',
    section: 'login',
    what: 'Extra latency of a legitimate login: one wrong password, then the right one (pair)',
    aim: '— (report)',
  },
  {
    key: '6b',
    figure: '6',
    section: 'login',
    what: 'Redis round trips of that pair',
    aim: '— (report: reserve + record, reserve + release)',
  },
  { key: '6c', figure: '6', section: 'login', what: 'Requests answered while Redis is dead', aim: 'max < 100 ms' },
  {
    key: '7a',
    figure: '7',
    section: 'bans',
    what: 'A fresh gateway enforces 1,000,000 existing bans',
    aim: 'all enforced; loop held ≤ ~20 ms (over the idle gateway)',
  },
  { key: '7b', figure: '7', section: 'bans', what: 'Gateway heap per cached ban (1,000,000 cached)', aim: '≤ 100 B' },
  {
    key: '7c',
    figure: '7',
    section: 'bans',
    what: 'Redis commands during 2,000 requests at a gateway holding 1,000,000 bans',
    aim: '0 per clean request',
  },
  { key: '7d', figure: '7', section: 'bans', what: '100,000 range bans (v4 + v6): cache load', aim: '< 1 s' },
  { key: '7e', figure: '7', section: 'bans', what: 'Added per clean request by 100,000 range bans', aim: '< 5 µs' },
  {
    key: '7f',
    figure: '7',
    section: 'bans',
    what: 'Gateway started 5 s before Redis: ban at another gateway → 403 here',
    aim: 'p99 < 50 ms',
  },
  { key: '8a', figure: '8', section: 'flood', what: 'Redis calls per clean request, flood jail on (1 gateway)', aim: '< 0.01' },
  { key: '8b', figure: '8', section: 'flood', what: 'Flooder at 1,000 req/s over 2 gateways → banned', aim: '< window + 1 s (61 s)' },
  {
    key: '8c',
    figure: '8',
    section: 'flood',
    what: 'Requests before the ban vs the bound maxretry + G·(flushAt − 1)',
    aim: 'within the bound',
  },
];

export function loadResults() {
  if (!existsSync(RESULTS_JSON)) return { sections: {} };
  try {
    return JSON.parse(readFileSync(RESULTS_JSON, 'utf8'));
  } catch {
    return { sections: {} };
  }
}

export function saveResults(all) {
  writeFileSync(RESULTS_JSON, `${JSON.stringify(all, null, 2)}\n`);
}

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Renders RESULTS.md from every section's latest stored result. */
export function renderMarkdown(all, sectionsMeta) {
  const out = [];
  out.push('# Portcullis benchmarks — results', '');
  out.push('Written by `npm run bench` (bench/run.mjs). Do not edit by hand; rerun instead. See bench/README.md for the method.', '');
  const runs = Object.entries(all.sections).filter(([, s]) => s?.machine);
  const machines = new Map();
  for (const [id, s] of runs) {
    const m = s.machine;
    const k = JSON.stringify([m.cpu, m.cores, m.node, m.redis, m.os]);
    if (!machines.has(k)) machines.set(k, { m, ids: [] });
    machines.get(k).ids.push(`${id} (${s.at}${s.quick ? ', --quick' : ''}, load avg at start ${s.machine.loadavg?.join(' / ')})`);
  }
  out.push('## Machine', '');
  for (const { m, ids } of machines.values()) {
    out.push(`- CPU: ${m.cpu} × ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}`);
    out.push(`- Node ${m.node}, Redis ${m.redis}`);
    out.push(`- sections measured on it: ${ids.join('; ')}`);
    out.push('');
  }
  if (machines.size === 0) out.push('(no section has run yet)', '');
  out.push(
    'The machine is shared (2 cores, other engineers running test suites at the same time), so absolute numbers are noisy. ' +
      'Every comparison is measured side by side in the same run: A and B alternate round by round (the side that goes first swaps each round), ' +
      'so both sides see the same conditions; each figure is the median over rounds with min – max. ' +
      'Gateways, the upstream and redis-server are separate processes; autocannon runs in the bench process.',
    '',
  );

  out.push('## Figures', '');
  out.push('| # | what | measured | aim | verdict |', '|---|---|---|---|---|');
  const rowsByKey = new Map();
  for (const [, s] of Object.entries(all.sections)) for (const r of s?.rows ?? []) rowsByKey.set(r.key, r);
  for (const sk of SKELETON) {
    const r = rowsByKey.get(sk.key);
    if (r) out.push(`| ${sk.key} | ${esc(r.what ?? sk.what)} | ${esc(r.value)} | ${esc(r.aim ?? sk.aim)} | ${esc(r.verdict ?? '—')} |`);
    else {
      const pending =
        sk.section === 'firewall'
          ? 'measured by bench/firewall section (not yet run)'
          : `not measured yet (run \`npm run bench -- --only ${sk.section}\`)`;
      out.push(`| ${sk.key} | ${esc(sk.what)} | ${pending} | ${esc(sk.aim)} | — |`);
    }
  }
  // rows a section adds beyond the skeleton
  for (const [key, r] of rowsByKey) {
    if (!SKELETON.some((s) => s.key === key))
      out.push(`| ${key} | ${esc(r.what)} | ${esc(r.value)} | ${esc(r.aim ?? '—')} | ${esc(r.verdict ?? '—')} |`);
  }
  out.push('');

  for (const meta of sectionsMeta) {
    const s = all.sections[meta.id];
    out.push(`## ${meta.title}`, '');
    if (!s) {
      out.push(meta.id === 'firewall' ? 'Measured by bench/firewall section; not run yet.' : 'Not run yet.', '');
      continue;
    }
    out.push(`Measured ${s.at}${s.quick ? ' (--quick: short rounds, smoke run only)' : ''}.`, '');
    if (s.error) out.push(`**The section failed:** ${s.error}`, '');
    if (s.details) out.push(s.details, '');
    if (s.notes?.length) for (const n of s.notes) out.push(`- ${n}`, '');
  }
  const findings = fileURLToPath(new URL('../FINDINGS.md', import.meta.url));
  if (existsSync(findings)) out.push(readFileSync(findings, 'utf8').trim(), '');
  if (all.notes?.length) {
    out.push('## Notes', '');
    for (const n of all.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

export function writeMarkdown(all, sectionsMeta) {
  writeFileSync(RESULTS_MD, renderMarkdown(all, sectionsMeta));
}
