import { v4Number, v6Words } from './address-words.js';

/**
 * Range (CIDR) bans, for longest-prefix-style lookups: one hash map per
 * prefix length in use, keyed by the masked network. A lookup masks the
 * address once per length in use (at most 33 for IPv4, 129 for IPv6: O(address
 * bits)); adding or removing a range is O(1), so a load is O(n).
 *
 * Keys are numbers where the masked bits fit in 53 (every IPv4 length, IPv6
 * up to /53: blocklists' usual /32 … /48), strings beyond. Each length of 16
 * bits or more also keeps a 65,536-bit filter of its networks' first 16 bits,
 * so a clean address skips most lengths without computing a key.
 */
export class RangeTable {
  private readonly v4 = new PrefixMaps();
  private readonly v6 = new PrefixMaps();

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** `cidr` as the store writes it ("10.0.0.0/8"); false when it is not a range. */
  set(cidr: string, until: number): boolean {
    const at = locate(cidr);
    if (!at) return false;
    (at.v4 ? this.v4 : this.v6).set(at.prefix, at.key, at.top16, until);
    return true;
  }

  delete(cidr: string): void {
    const at = locate(cidr);
    if (at) (at.v4 ? this.v4 : this.v6).delete(at.prefix, at.key);
  }

  /** Forgets every range that ended before `now`. */
  sweep(now: number): void {
    this.v4.sweep(now);
    this.v6.sweep(now);
  }

  /** The latest `until` of the live ranges covering `ip` (-1 forever), else 0. */
  bannedUntil(ip: string, now: number): number {
    if (ip.includes(':')) {
      if (this.v6.size === 0) return 0;
      const words = v6Words(ip);
      return words ? this.v6.lookup(words[0] >>> 16, (prefix) => v6Key(words, prefix), now) : 0;
    }
    if (this.v4.size === 0) return 0;
    const n = v4Number(ip);
    return n < 0 ? 0 : this.v4.lookup(n >>> 16, (prefix) => v4Key(n, prefix), now);
  }
}

type Key = number | string;

/** prefix length → masked network → until */
class PrefixMaps {
  private readonly byPrefix = new Map<number, Map<Key, number>>();
  /** the prefix lengths in use, ascending, with their maps and first-16-bit filters (null under /16) */
  private prefixes: number[] = [];
  private maps: Array<Map<Key, number>> = [];
  private filters: Array<Uint8Array | null> = [];
  private readonly filterOf = new Map<number, Uint8Array>();
  size = 0;

  set(prefix: number, key: Key, top16: number, until: number): void {
    let m = this.byPrefix.get(prefix);
    if (!m) {
      m = new Map();
      this.byPrefix.set(prefix, m);
      if (prefix >= 16) this.filterOf.set(prefix, new Uint8Array(8192));
      this.index();
    }
    if (!m.has(key)) this.size++;
    m.set(key, until);
    // bits are never cleared: a stale one only costs a map probe
    const filter = this.filterOf.get(prefix);
    if (filter) filter[top16 >>> 3]! |= 1 << (top16 & 7);
  }

  delete(prefix: number, key: Key): void {
    const m = this.byPrefix.get(prefix);
    if (!m?.delete(key)) return;
    this.size--;
    if (m.size === 0) {
      this.byPrefix.delete(prefix);
      this.filterOf.delete(prefix);
      this.index();
    }
  }

  sweep(now: number): void {
    for (const [prefix, m] of [...this.byPrefix]) {
      for (const [key, until] of m) if (until !== -1 && until <= now) this.delete(prefix, key);
    }
  }

  lookup(top16: number, keyFor: (prefix: number) => Key, now: number): number {
    let best = 0;
    const { prefixes, maps, filters } = this;
    const byte = top16 >>> 3;
    const bit = 1 << (top16 & 7);
    for (let i = 0; i < prefixes.length; i++) {
      const filter = filters[i];
      if (filter && (filter[byte]! & bit) === 0) continue;
      const key = keyFor(prefixes[i]!);
      const until = maps[i]!.get(key);
      if (until === undefined) continue;
      if (until === -1) return -1;
      if (until > now) best = Math.max(best, until);
      else this.delete(prefixes[i]!, key); // expired: forget it on the way
    }
    return best;
  }

  private index(): void {
    this.prefixes = [...this.byPrefix.keys()].sort((a, b) => a - b);
    this.maps = this.prefixes.map((p) => this.byPrefix.get(p)!);
    this.filters = this.prefixes.map((p) => this.filterOf.get(p) ?? null);
  }
}

/**
 * Where a range goes: its family, length, masked key and first 16 bits.
 * Ranges reach the cache validated and canonical (the store and the change
 * notices normalise them), so this only splits and reads words: the key's
 * computation drops any host bits anyway.
 */
function locate(cidr: string): { v4: boolean; prefix: number; key: Key; top16: number } | null {
  const slash = cidr.indexOf('/');
  if (slash < 0) return null;
  const prefix = Number(cidr.slice(slash + 1));
  const address = cidr.slice(0, slash);
  if (!address.includes(':')) {
    const n = v4Number(address);
    if (n < 0 || !(Number.isInteger(prefix) && prefix >= 0 && prefix <= 32)) return null;
    return { v4: true, prefix, key: v4Key(n, prefix), top16: n >>> 16 };
  }
  const words = v6Words(address);
  if (!words || !(Number.isInteger(prefix) && prefix >= 0 && prefix <= 128)) return null;
  return { v4: false, prefix, key: v6Key(words, prefix), top16: words[0] >>> 16 };
}

function v4Key(n: number, prefix: number): number {
  return prefix === 0 ? 0 : Math.floor(n / 2 ** (32 - prefix));
}

function v6Key(w: readonly [number, number, number, number], prefix: number): Key {
  if (prefix <= 32) return prefix === 0 ? 0 : Math.floor(w[0] / 2 ** (32 - prefix));
  // up to 53 bits fit a number exactly
  if (prefix <= 53) return w[0] * 2 ** (prefix - 32) + Math.floor(w[1] / 2 ** (64 - prefix));
  const full = Math.floor(prefix / 32);
  const parts: number[] = w.slice(0, full);
  const rest = prefix % 32;
  if (rest > 0) parts.push(Math.floor(w[full]! / 2 ** (32 - rest)));
  return parts.join(':');
}
