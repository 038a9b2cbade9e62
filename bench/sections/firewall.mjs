// Figure 4 — firewall: ban event → rule live (ufw, nftables), mass bans.
// Runs as root, entirely inside a network namespace it creates (private
// /etc/ufw and /lib/ufw copies), against a private redis-server on a free
// port; imports the built packages (npm run bench builds first).
// Latency = RedisBanStore.ban() called → the sidecar logs "ban applied" (the
// firewall command returned). BENCH_KILL=0 turns off ending live connections.
// Every command pays the `ip netns exec … unshare -m sh` wrapper (a few ms).
//   npm run bench -- --only firewall [--quick]
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfig, RedisBanStore } from '@portcullis/core';
import { startSidecar } from '@portcullis/sidecar';
import { TestNet } from '@portcullis/testkit';
import { startRedis } from '../lib/redis.mjs';
import { fmt, fmtInt } from '../lib/stats.mjs';

export const id = 'firewall';
export const title = 'Figure 4 — firewall (bench/firewall section)';

/** the testkit's network namespaces (private /etc/ufw and /lib/ufw); commands run in the server one */
function makeNamespace() {
  const net = TestNet.create();
  return { etcUfw: net.etcUfw, run: net.runner(), destroy: () => net.destroy() };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ipOf = (i, base = 18) => `198.${base + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;

/** Runs one backend: latency samples, then a mass ban. */
export async function benchFirewall({ backend = 'nftables', samples = 50, mass = 10_000, maxSeconds = 1800, log = console.log } = {}) {
  if (process.getuid?.() !== 0) throw new Error('the firewall bench needs root (network namespaces)');
  const redis = await startRedis();
  const net = makeNamespace();
  const applied = new Map(); // ip → latencyMs (the sidecar's own measure: event "at" → firewall holds it)
  const waiters = new Map();
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('"ban applied"')) continue;
        const o = JSON.parse(line);
        applied.set(o.ip, o.latencyMs);
        waiters.get(o.ip)?.();
      }
      cb();
    },
  });
  const config = parseConfig({
    redis: redis.url,
    prefix: 'bench',
    firewall: { backend, ports: [80, 443], killConnections: process.env.BENCH_KILL !== '0' },
    sidecar: { hostId: 'bench', reconcileInterval: '1h' },
  });
  const result = { backend, samples, mass };
  let sidecar;
  const store = new RedisBanStore({ config, by: 'bench', commandTimeout: 10_000, autoPipelining: true });
  try {
    if (backend === 'ufw') net.run('ufw', ['--force', 'enable']).catch(() => {});
    if (backend === 'ufw') await net.run('ufw', ['--force', 'enable']);
    sidecar = await startSidecar(config, {
      run: net.run,
      ufwRulesDir: net.etcUfw,
      healthPort: false,
      logger: pino({ level: 'info' }, sink),
      blockMs: 1000,
    });
    await sidecar.ready;
    await store.connect();

    // 1. ban→rule latency, one ban at a time
    const lat = [];
    for (let i = 0; i < samples; i++) {
      const ip = ipOf(i, 30);
      const done = new Promise((r) => waiters.set(ip, r));
      const t0 = performance.now();
      await store.ban(ip, { duration: 3_600_000 });
      await done;
      lat.push(performance.now() - t0);
      waiters.delete(ip);
    }
    lat.sort((a, b) => a - b);
    result.latencyMs = { p50: +pct(lat, 50).toFixed(1), p95: +pct(lat, 95).toFixed(1), max: +lat[lat.length - 1].toFixed(1) };
    log(
      `${backend}: ban→rule latency over ${samples} bans: p50 ${result.latencyMs.p50} ms, p95 ${result.latencyMs.p95} ms, max ${result.latencyMs.max} ms`,
    );

    // 2. mass ban: `mass` bans written the way `portcullis ban --file` writes a
    //    blocklist (banMany: one script call per 1,000); time until the firewall holds all
    if (mass > 0) {
      applied.clear();
      const t0 = performance.now();
      await store.banMany(
        Array.from({ length: mass }, (_, i) => ipOf(i)),
        { duration: 3_600_000, reason: 'mass' },
      );
      const written = performance.now() - t0;
      const deadline = Date.now() + maxSeconds * 1000;
      let lastLog = Date.now();
      while (applied.size < mass && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          log(`${backend}: ${applied.size}/${mass} applied after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
        }
      }
      const total = performance.now() - t0;
      result.massWrittenMs = Math.round(written);
      result.massApplied = applied.size;
      result.massMs = Math.round(total);
      // the kernel agrees
      if (backend === 'nftables') {
        const j = JSON.parse((await net.run('nft', ['-j', 'list', 'set', 'inet', 'portcullis', 'v4'])).stdout);
        result.kernelCount = j.nftables.find((o) => o.set)?.set.elem?.length ?? 0;
      } else {
        result.kernelCount = (await net.run('iptables', ['-S', 'ufw-user-input'])).stdout
          .split('\n')
          .filter((l) => l.includes(' -s 198.')).length;
      }
      log(
        `${backend}: ${applied.size}/${mass} bans applied in ${(total / 1000).toFixed(2)} s (events written in ${(written / 1000).toFixed(2)} s; kernel holds ${result.kernelCount} rules of ours)` +
          (applied.size < mass ? ` — stopped at --max-seconds ${maxSeconds}` : ''),
      );

      // 3. the firewall side alone: the kernel lost every element (a reboot),
      //    and one reconcile puts all `mass` bans back from {p}:bans
      if (backend === 'nftables' && applied.size === mass) {
        await net.run('nft', ['flush', 'set', 'inet', 'portcullis', 'v4']);
        const t1 = performance.now();
        const { added } = await sidecar.reconcile();
        result.reconcileMs = Math.round(performance.now() - t1);
        result.reconcileAdded = added;
        log(`${backend}: reconcile put ${added} bans back into an emptied set in ${(result.reconcileMs / 1000).toFixed(2)} s`);
      }
    }
    return result;
  } finally {
    await sidecar?.stop();
    await store.close();
    net.destroy();
    await redis.stop();
  }
}

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
  const lat = (r) =>
    r?.latencyMs
      ? `p50 ${fmt(r.latencyMs.p50, 1)} ms, p95 ${fmt(r.latencyMs.p95, 1)} ms, max ${fmt(r.latencyMs.max, 1)} ms (${r.samples} bans)`
      : 'not run';
  return [
    {
      key: '4a',
      figure: '4',
      what: 'ufw: ban event → rule live',
      value: lat(ufw),
      aim: 'p95 < 500 ms',
      verdict: ufw?.latencyMs ? (ufw.latencyMs.p95 < 500 ? 'meets' : 'MISSES') : '—',
    },
    {
      key: '4b',
      figure: '4',
      what: 'nftables: ban event → rule live',
      value: lat(nft10k),
      aim: 'p95 < 50 ms',
      verdict: nft10k?.latencyMs ? (nft10k.latencyMs.p95 < 50 ? 'meets' : 'MISSES') : '—',
    },
    { key: '4c', figure: '4', what: 'nftables: 10,000 bans applied', value: massText(nft10k), aim: '— (report)', verdict: '—' },
    {
      key: '4d',
      figure: '4',
      what: 'nftables: 100,000 bans applied',
      value: massText(nft100k),
      aim: '< 5 s',
      verdict: nft100k ? (complete(nft100k) && nft100k.massMs < 5000 ? 'meets' : 'MISSES') : '—',
    },
    {
      key: '4d′',
      figure: '4',
      what: 'nftables: 100,000 bans restored by one reconcile (the kernel lost them: a reboot)',
      value:
        nft100k?.reconcileMs !== undefined
          ? `${fmtInt(nft100k.reconcileAdded)} added in ${fmt(nft100k.reconcileMs / 1000, 2)} s`
          : 'not run',
      aim: '< 5 s',
      verdict:
        nft100k?.reconcileMs !== undefined
          ? nft100k.reconcileAdded >= nft100k.mass && nft100k.reconcileMs < 5000
            ? 'meets'
            : 'MISSES'
          : '—',
    },
    {
      key: '4e',
      figure: '4',
      what: 'ufw: 10,000 / 100,000 bans applied (what ufw manages)',
      value: `10k: ${massText(ufw)}; 100k: ${massText(ufw100k)}`,
      aim: '— (report)',
      verdict: '—',
    },
  ];
}

export async function run(ctx) {
  if (process.getuid?.() !== 0) return { skipped: 'needs root (network namespaces); figure 4 keeps its previous result' };
  const samples = ctx.quick ? 10 : 50;
  const bf = (backend, mass, maxSeconds) => benchFirewall({ backend, samples, mass, maxSeconds, log: ctx.log });
  const res = {};
  res.nft10k = await bf('nftables', ctx.quick ? 1_000 : 10_000, 300);
  if (!ctx.quick) res.nft100k = await bf('nftables', 100_000, 600);
  res.ufw = await bf('ufw', ctx.quick ? 1_000 : 10_000, 600);
  // ufw at 100,000: only when 10,000 went through, and bounded in time
  if (!ctx.quick && complete(res.ufw)) res.ufw100k = await bf('ufw', 100_000, 900);
  return {
    rows: rowsFrom(res),
    details:
      'Run by bench/sections/firewall.mjs `benchFirewall()` (sidecar in a private network namespace, private redis-server); latency = RedisBanStore.ban() → the sidecar logs "ban applied". See that section for its method.',
    raw: res,
  };
}
