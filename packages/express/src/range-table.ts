import { normalizeCidr } from '@portcullis/core';
import { v4Number, v6Words } from './address-words.js';

/**
 * Range (CIDR) bans, for longest-prefix-style lookups: one hash map per
 * prefix length in use, keyed by the masked network. A lookup masks the
 * address once per length in use (at most 33 for IPv4, 129 for IPv6: O(address
 * bits)); adding or removing a range is O(1), so a load is O(n).
 *
 * Keys are numbers where the masked bits fit in 53 (every IPv4 length, IPv6
 * up to /53: blocklists' usual /32 … /48), strings beyond.
 */
export class RangeTable {
  private readonly v4 = new PrefixMaps();
  private readonly v6 = new PrefixMaps();

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** `cidr` must be canonical ("10.0.0.0/8"); false when it is not a range. */
  set(cidr: string, until: number): boolean {
    const at = locate(cidr);
    if (!at) return false;
    (at.v4 ? this.v4 : this.v6).set(at.prefix, at.key, until);
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
      return words ? this.v6.lookup((prefix) => v6Key(words, prefix), now) : 0;
    }
    if (this.v4.size === 0) return 0;
    const n = v4Number(ip);
    return n < 0 ? 0 : this.v4.lookup((prefix) => v4Key(n, prefix), now);
  }
}

type Key = number | string;

/** prefix length → masked network → until */
class PrefixMaps {
  private readonly byPrefix = new Map<number, Map<Key, number>>();
  /** the prefix lengths in use, ascending */
  private prefixes: number[] = [];
  size = 0;

  set(prefix: number, key: Key, until: number): void {
    let m = this.byPrefix.get(prefix);
    if (!m) {
      this.byPrefix.set(prefix, (m = new Map()));
      this.prefixes = [...this.byPrefix.keys()].sort((a, b) => a - b);
    }
    if (!m.has(key)) this.size++;
    m.set(key, until);
  }

  delete(prefix: number, key: Key): void {
    const m = this.byPrefix.get(prefix);
    if (!m?.delete(key)) return;
    this.size--;
    if (m.size === 0) {
      this.byPrefix.delete(prefix);
      this.prefixes = this.prefixes.filter((p) => p !== prefix);
    }
  }

  sweep(now: number): void {
    for (const [prefix, m] of [...this.byPrefix]) {
      for (const [key, until] of m) if (until !== -1 && until <= now) this.delete(prefix, key);
    }
  }

  lookup(keyFor: (prefix: number) => Key, now: number): number {
    let best = 0;
    for (const prefix of this.prefixes) {
      const m = this.byPrefix.get(prefix)!;
      const key = keyFor(prefix);
      const until = m.get(key);
      if (until === undefined) continue;
      if (until === -1) return -1;
      if (until > now) best = Math.max(best, until);
      else this.delete(prefix, key); // expired: forget it on the way
    }
    return best;
  }
}

function locate(cidr: string): { v4: boolean; prefix: number; key: Key } | null {
  const c = normalizeCidr(cidr);
  if (!c || !cidr.includes('/')) return null;
  if (c.kind === 'ipv4') return { v4: true, prefix: c.prefix, key: v4Key(v4Number(c.network), c.prefix) };
  const words = v6Words(c.network);
  return words ? { v4: false, prefix: c.prefix, key: v6Key(words, c.prefix) } : null;
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
