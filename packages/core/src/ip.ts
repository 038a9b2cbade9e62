import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { InvalidIpError } from './errors.js';

export type IpKind = 'ipv4' | 'ipv6';

/**
 * Strictly validates and canonicalises one address: dotted-quad IPv4 or IPv6
 * (no zone ids), IPv4-mapped IPv6 folded to IPv4, IPv6 in RFC 5952 form.
 * Returns null for anything else, so a malformed value never becomes a key
 * or a firewall argument.
 */
export function normalizeIp(value: string | undefined | null): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > 45) return null;
  // what nearly every request carries, checked without a regular expression
  if (isDottedQuad(value)) return value;
  const family = isIP(value);
  if (family === 4) return value;
  // fast path for what dual-stack sockets report: "::ffff:203.0.113.7"
  if (family === 6 && value.startsWith('::ffff:') && isIP(value.slice(7)) === 4) return value.slice(7);
  if (family !== 6 || value.includes('%')) return null;
  const parsed = ipaddr.IPv6.parse(value);
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  return parsed.toString();
}

/**
 * A canonical dotted-quad IPv4 address, exactly as node:net's isIPv4 accepts
 * it (four decimal octets 0-255, no leading zeros), in one scan.
 */
export function isDottedQuad(value: string): boolean {
  const n = value.length;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let part = 0;
  let digits = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return false;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // "0" alone, never "01"
      if (digits === 1 && part === 0) return false;
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return false;
    } else return false;
  }
  return dots === 3 && digits > 0;
}

/**
 * An address as proxies and sockets write it: with a port ("203.0.113.1:40000",
 * "[2001:db8::1]:443"), in brackets ("[2001:db8::1]"), or with an IPv6 zone id
 * ("fe80::1%eth0", dropped: the address is what identifies the client).
 * Canonical like normalizeIp, or null.
 */
export function normalizeHostAddress(value: string | undefined | null): string | null {
  if (typeof value !== 'string') return null;
  // what a proxy's X-Forwarded-For nearly always holds
  if (isDottedQuad(value)) return value;
  let text = value.trim();
  if (text.charCodeAt(0) === 91) {
    // "[v6]" or "[v6]:port"
    const close = text.indexOf(']');
    if (close === -1 || !/^(?::\d{1,5})?$/.test(text.slice(close + 1))) return null;
    text = text.slice(1, close);
  } else {
    const colon = text.indexOf(':');
    // one colon: "v4:port" (IPv6 has at least two)
    if (colon !== -1 && colon === text.lastIndexOf(':')) {
      if (!/^\d{1,5}$/.test(text.slice(colon + 1))) return null;
      text = text.slice(0, colon);
    }
  }
  const zone = text.indexOf('%');
  if (zone !== -1 && text.includes(':')) text = text.slice(0, zone);
  return normalizeIp(text);
}

/** normalizeIp, but throws InvalidIpError. */
export function parseIp(value: string): string {
  const ip = normalizeIp(value);
  if (ip === null) throw new InvalidIpError(value);
  return ip;
}

export function ipKind(ip: string): IpKind {
  return ip.includes(':') ? 'ipv6' : 'ipv4';
}

export interface Cidr {
  /** canonical text: network address / prefix, e.g. "10.0.0.0/8" or "2001:db8::/32" */
  readonly text: string;
  readonly kind: IpKind;
  readonly prefix: number;
  readonly network: string;
}

/**
 * Parses "a.b.c.d/n", "v6/n" or a bare address (a /32 or /128). The network
 * address is masked, so "10.1.2.3/8" becomes "10.0.0.0/8".
 */
export function parseCidr(value: string): Cidr {
  const cidr = normalizeCidr(value);
  if (cidr === null) throw new InvalidIpError(value, 'IP address or CIDR');
  return cidr;
}

export function normalizeCidr(value: string | undefined | null): Cidr | null {
  if (typeof value !== 'string') return null;
  const slash = value.indexOf('/');
  const addrText = slash === -1 ? value : value.slice(0, slash);
  const ip = normalizeIp(addrText);
  if (ip === null) return null;
  const kind = ipKind(ip);
  const max = kind === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
    // "::ffff:1.2.3.4/120" folds to IPv4: shift the prefix with it
    if (kind === 'ipv4' && addrText.includes(':')) {
      if (prefix < 96) return null;
      prefix -= 96;
    }
  }
  const network = maskNetwork(ip, kind, prefix);
  return { text: prefix === max ? network : `${network}/${prefix}`, kind, prefix, network };
}

function maskNetwork(ip: string, kind: IpKind, prefix: number): string {
  const bytes = ipaddr.parse(ip).toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i]! &= (0xff << (8 - bits)) & 0xff;
  }
  const addr = ipaddr.fromByteArray(bytes);
  return kind === 'ipv4' ? addr.toString() : (addr as ipaddr.IPv6).toString();
}

function ipv4ToInt(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return n * 256 + part;
}

/**
 * A set of CIDRs answering "is this (canonical) address inside?" quickly:
 * IPv4 by integer masks, IPv6 through ipaddr.js.
 */
export class IpSet {
  private readonly v4: Array<{ base: number; size: number }> = [];
  private readonly v6: Array<[ipaddr.IPv6, number]> = [];
  readonly cidrs: readonly Cidr[];

  constructor(entries: Iterable<string | Cidr>) {
    const list: Cidr[] = [];
    for (const entry of entries) {
      const cidr = typeof entry === 'string' ? parseCidr(entry) : entry;
      list.push(cidr);
      if (cidr.kind === 'ipv4') {
        const size = 2 ** (32 - cidr.prefix);
        this.v4.push({ base: ipv4ToInt(cidr.network), size });
      } else {
        this.v6.push([ipaddr.IPv6.parse(cidr.network), cidr.prefix]);
      }
    }
    this.cidrs = list;
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** `ip` must already be canonical (from normalizeIp). */
  has(ip: string): boolean {
    if (ip.includes(':')) {
      if (this.v6.length === 0) return false;
      const addr = ipaddr.IPv6.parse(ip);
      for (const [net, prefix] of this.v6) if (addr.match(net, prefix)) return true;
      return false;
    }
    if (this.v4.length === 0) return false;
    const n = ipv4ToInt(ip);
    for (const { base, size } of this.v4) if (n >= base && n < base + size) return true;
    return false;
  }
}

/** Does `cidr` share any address with `set`? (one contains the other's network) */
export function overlaps(set: IpSet, cidr: Cidr): boolean {
  if (set.has(cidr.network)) return true;
  const own = new IpSet([cidr]);
  return set.cidrs.some((p) => p.kind === cidr.kind && own.has(p.network));
}

/**
 * The identity a client is counted and banned under: an IPv4 address as is,
 * an IPv6 address by its network of `v6prefix` bits (a /64 is one
 * subscriber's line: rotating inside it changes nothing). 128 = per address.
 */
export function clientPrefix(ip: string, v6prefix: number): string {
  if (!ip.includes(':') || v6prefix >= 128) return ip;
  return `${maskNetwork(ip, 'ipv6', v6prefix)}/${v6prefix}`;
}

/** Loopback is never banned, whatever the config says. */
export const LOOPBACK = new IpSet(['127.0.0.0/8', '::1']);
