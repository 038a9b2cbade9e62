// A/B: RedisBanStore.recordFailure with one client whose ioredis
// auto-pipelining is off / on, same run, interleaved; 1 and 256 calls in
// flight.  node bench/experiments/store-autopipeline.mjs
import { Redis } from 'ioredis';
import { parseConfig, RedisBanStore, resolveJails } from '@portcullis/core';
import { startRedis, redisCpuMicros } from '../lib/redis.mjs';
import { benchConfig } from '../lib/procs.mjs';
import { ipPool } from '../lib/load.mjs';

const r = await startRedis();
const config = parseConfig(benchConfig(r.url, { maxretry: 1e6 }));
const jail = resolveJails(config).get('django-login');
const stores = {
  off: new RedisBanStore({ config, redis: new Redis(r.url, { lazyConnect: true }) }),
  autopipe: new RedisBanStore({ config, redis: new Redis(r.url, { enableAutoPipelining: true, lazyConnect: true }) }),
};
for (const s of Object.values(stores)) await s.connect();
let off = 0;
for (const inFlight of [1, 256]) {
  for (let i = 0; i < 4; i++) {
    for (const [name, s] of i % 2 ? Object.entries(stores).reverse() : Object.entries(stores)) {
      off += 100_000;
      const nextIp = ipPool(1e6, off);
      let n = 0;
      const end = performance.now() + 2000;
      const c0 = process.cpuUsage();
      const rc0 = await redisCpuMicros(r.admin);
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (performance.now() < end) {
            await s.recordFailure(jail, nextIp());
            n++;
          }
        }),
      );
      const c = process.cpuUsage(c0);
      const rc = (await redisCpuMicros(r.admin)) - rc0;
      console.log(
        `in flight ${String(inFlight).padStart(3)} ${name.padEnd(8)} ${String(Math.round(n / 2)).padStart(6)}/s  node cpu/rec ${((c.user + c.system) / n).toFixed(1)} µs  redis cpu/rec ${(rc / n).toFixed(1)} µs`,
      );
    }
  }
}
for (const s of Object.values(stores)) s.redis.disconnect();
await r.stop();
