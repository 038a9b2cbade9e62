#!/usr/bin/env node
// Portcullis benchmarks: `npm run bench [-- --only <section>[,<section>]] [--quick] [--no-write]`
// Each section is a module under bench/sections exporting { id, title, run(ctx) }.
// run(ctx) returns { rows, details?, notes?, raw? }; rows carry the figure's key
// (see SKELETON in lib/results.mjs), a measured value, the aim and a verdict.
import { parseArgs } from 'node:util';
import * as clean from './sections/clean.mjs';
import * as failures from './sections/failures.mjs';
import * as propagation from './sections/propagation.mjs';
import * as firewall from './sections/firewall.mjs';
import * as memory from './sections/memory.mjs';
import * as flood from './sections/flood.mjs';
import * as login from './sections/login.mjs';
import * as bans from './sections/bans.mjs';
import { machineInfo } from './lib/machine.mjs';
import { loadResults, saveResults, writeMarkdown, RESULTS_MD } from './lib/results.mjs';

const SECTIONS = [clean, failures, propagation, firewall, memory, login, bans, flood];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    // re-render RESULTS.md from results.json (+ FINDINGS.md) without measuring
    render: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench -- [--only ${SECTIONS.map((s) => s.id).join('|')}[,…]] [--quick] [--no-write]`);
  process.exit(0);
}
const wanted = values.only ? values.only.split(',').map((s) => s.trim()) : SECTIONS.map((s) => s.id);
for (const w of wanted) {
  if (!SECTIONS.some((s) => s.id === w)) {
    console.error(`unknown section "${w}"; sections: ${SECTIONS.map((s) => s.id).join(', ')}`);
    process.exit(2);
  }
}

const quick = values.quick;
const ctxBase = {
  quick,
  load: quick ? { rounds: 2, seconds: 2, warmup: 1, connections: 64 } : { rounds: 5, seconds: 5, warmup: 2, connections: 64 },
};

const all = loadResults();
let failed = 0;
for (const section of values.render ? [] : SECTIONS.filter((s) => wanted.includes(s.id))) {
  const started = Date.now();
  const log = (msg) => console.log(`[${section.id}] ${msg}`);
  log(`${section.title}${quick ? ' (quick)' : ''}`);
  const machine = machineInfo();
  let result;
  try {
    result = await section.run({ ...ctxBase, log });
  } catch (err) {
    failed++;
    console.error(`[${section.id}] failed:`, err);
    result = {
      rows: [],
      error: String(err?.stack ?? err)
        .split('\n')
        .slice(0, 3)
        .join(' '),
    };
  }
  if (result.skipped) {
    log(`skipped: ${result.skipped}`);
    continue;
  }
  for (const r of result.rows ?? []) log(`${r.key} ${r.what}: ${r.value} [aim ${r.aim}] ${r.verdict}`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const { raw, ...kept } = result;
  all.sections[section.id] = { ...kept, raw, at: new Date().toISOString(), quick, machine };
}

if (!values['no-write']) {
  saveResults(all);
  writeMarkdown(all, SECTIONS);
  console.log(`wrote ${RESULTS_MD}`);
}
process.exit(failed ? 1 : 0);
