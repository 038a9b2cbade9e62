// Gateway heap per cached ban: BanCache.replace() of N bans in a fresh
// process run with --expose-gc. The IP strings are built fresh (as ioredis
// would hand them over from ZRANGE) and the snapshot array is dropped after
// replace(), as the middleware does, so the delta is what the cache keeps.
import { BanCache } from '@portcullis/express';

const N = Number(process.env.PC_N ?? 100_000);
const settle = () => {
  for (let i = 0; i < 4; i++) globalThis.gc();
  // BanCache keeps addresses in typed arrays: their bytes count under arrayBuffers
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const cache = new BanCache();
const before = settle();
let bans = [];
const until = Date.now() + 3_600_000;
for (let i = 0; i < N; i++) bans.push({ ip: `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, until: until + i });
cache.replace(bans);
bans = null;
const after = settle();
process.send({ type: 'heap', n: N, size: cache.size, before, after, perBan: (after - before) / N });
