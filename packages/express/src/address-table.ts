/**
 * A hash table from fixed-width addresses (1 word for IPv4, 4 for IPv6) to
 * a ban's end (ms, -1 forever), in typed arrays: open addressing with linear
 * probing. A million bans are a few flat arrays, not a million heap objects,
 * so they cost a few tens of bytes each and the garbage collector never
 * walks them (a Map of strings that size made young-generation collections
 * hold the event loop for tens of ms while the cache loaded). The table is
 * split into 64 shards by hash, so growing moves one shard at a time: never
 * more than ~1/64 of the entries in one go.
 */
const EMPTY = 0;
const USED = 1;
const GONE = 2;
const SHARD_BITS = 6;

export class AddressTable {
  private readonly shards: Shard[];
  // kept as the shards change: every lookup of a request asks first whether the table is empty
  private count = 0;

  constructor(width: 1 | 4) {
    this.shards = Array.from({ length: 1 << SHARD_BITS }, () => new Shard(width));
  }

  get size(): number {
    return this.count;
  }

  get(a: number, b = 0, c = 0, d = 0): number | undefined {
    const h = hash(a, b, c, d);
    return this.shards[h >>> (32 - SHARD_BITS)]!.get(h, a, b, c, d);
  }

  set(a: number, until: number, b = 0, c = 0, d = 0): void {
    const h = hash(a, b, c, d);
    const shard = this.shards[h >>> (32 - SHARD_BITS)]!;
    const before = shard.size;
    shard.set(h, a, b, c, d, until);
    this.count += shard.size - before;
  }

  delete(a: number, b = 0, c = 0, d = 0): boolean {
    const h = hash(a, b, c, d);
    const gone = this.shards[h >>> (32 - SHARD_BITS)]!.delete(h, a, b, c, d);
    if (gone) this.count--;
    return gone;
  }

  /**
   * Drops entries that ended before `now`, one shard per call starting at
   * shard `from`; returns the next shard (0 once all were covered).
   */
  sweep(now: number, from: number): number {
    const shard = this.shards[from];
    if (shard) {
      const before = shard.size;
      shard.sweep(now);
      this.count += shard.size - before;
    }
    const next = from + 1;
    return next >= this.shards.length ? 0 : next;
  }
}

class Shard {
  size = 0;
  /** used + tombstones */
  private filled = 0;
  private mask = 7;
  private keys: Uint32Array;
  private untils = new Float64Array(8);
  private state = new Uint8Array(8);

  constructor(private readonly width: 1 | 4) {
    this.keys = new Uint32Array(8 * width);
  }

  get(h: number, a: number, b: number, c: number, d: number): number | undefined {
    const i = this.find(h, a, b, c, d);
    return i < 0 ? undefined : this.untils[i];
  }

  set(h: number, a: number, b: number, c: number, d: number, until: number): void {
    if ((this.filled + 1) * 10 > (this.mask + 1) * 7) this.rehash();
    let i = h & this.mask;
    let free = -1;
    for (;;) {
      const s = this.state[i];
      if (s === EMPTY) break;
      if (s === GONE) {
        if (free < 0) free = i;
      } else if (this.matches(i, a, b, c, d)) {
        this.untils[i] = until;
        return;
      }
      i = (i + 1) & this.mask;
    }
    if (free >= 0) i = free;
    else this.filled++;
    this.state[i] = USED;
    this.untils[i] = until;
    const k = i * this.width;
    this.keys[k] = a;
    if (this.width === 4) {
      this.keys[k + 1] = b;
      this.keys[k + 2] = c;
      this.keys[k + 3] = d;
    }
    this.size++;
  }

  delete(h: number, a: number, b: number, c: number, d: number): boolean {
    const i = this.find(h, a, b, c, d);
    if (i < 0) return false;
    this.state[i] = GONE;
    this.size--;
    return true;
  }

  sweep(now: number): void {
    for (let i = 0; i <= this.mask; i++) {
      if (this.state[i] !== USED) continue;
      const until = this.untils[i]!;
      if (until !== -1 && until <= now) {
        this.state[i] = GONE;
        this.size--;
      }
    }
  }

  private matches(i: number, a: number, b: number, c: number, d: number): boolean {
    const k = i * this.width;
    return this.keys[k] === a && (this.width === 1 || (this.keys[k + 1] === b && this.keys[k + 2] === c && this.keys[k + 3] === d));
  }

  private find(h: number, a: number, b: number, c: number, d: number): number {
    let i = h & this.mask;
    for (;;) {
      const s = this.state[i];
      if (s === EMPTY) return -1;
      if (s === USED && this.matches(i, a, b, c, d)) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** grows (or only clears tombstones) so inserts keep finding empty slots soon */
  private rehash(): void {
    const { keys, untils, state, width } = this;
    const cap = this.size * 10 > (this.mask + 1) * 3 ? (this.mask + 1) * 2 : this.mask + 1;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * width);
    this.untils = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.size = 0;
    this.filled = 0;
    for (let i = 0; i < state.length; i++) {
      if (state[i] !== USED) continue;
      const k = i * width;
      const a = keys[k]!;
      const [b, c, d] = width === 1 ? [0, 0, 0] : [keys[k + 1]!, keys[k + 2]!, keys[k + 3]!];
      this.set(hash(a, b, c, d), a, b, c, d, untils[i]!);
    }
  }
}

/** murmur3's finaliser: every input bit reaches both the shard bits and the slot bits */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function hash(a: number, b: number, c: number, d: number): number {
  if ((b | c | d) === 0) return fmix(a) >>> 0;
  return fmix(fmix(fmix(fmix(a) ^ b) ^ c) ^ d) >>> 0;
}
