import { normalizeCidr } from '@portcullis/core';

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

/** dotted quad → unsigned 32-bit number; -1 when malformed */
function v4Number(ip: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return n * 256 + part;
}

function v4Key(n: number, prefix: number): number {
  return prefix === 0 ? 0 : Math.floor(n / 2 ** (32 - prefix));
}

/** canonical IPv6 text → four 32-bit words; null for forms we do not expect (dotted tails) */
function v6Words(ip: string): [number, number, number, number] | null {
  if (ip.includes('.')) return null;
  const gap = ip.indexOf('::');
  const head = gap === -1 ? ip.split(':') : ip.slice(0, gap) === '' ? [] : ip.slice(0, gap).split(':');
  const tail = gap === -1 ? [] : ip.slice(gap + 2) === '' ? [] : ip.slice(gap + 2).split(':');
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (gap === -1 && fill !== 0)) return null;
  const g: number[] = [];
  for (const h of head) g.push(parseInt(h, 16));
  for (let i = 0; i < fill; i++) g.push(0);
  for (const t of tail) g.push(parseInt(t, 16));
  if (g.some((x) => !(x >= 0 && x <= 0xffff))) return null;
  return [g[0]! * 65536 + g[1]!, g[2]! * 65536 + g[3]!, g[4]! * 65536 + g[5]!, g[6]! * 65536 + g[7]!];
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
