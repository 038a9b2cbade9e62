import type { PortcullisConfig } from './config/schema.js';
import { IpSet, LOOPBACK, type Cidr } from './ip.js';

/**
 * Addresses that are never banned: loopback, trusted proxies (banning one
 * would ban everybody behind it) and ignoreIp.
 */
export class Protection {
  private readonly lists: Array<[IpSet, string]>;

  constructor(config: Pick<PortcullisConfig, 'trustProxy' | 'ignoreIp'>) {
    this.lists = [
      [LOOPBACK, 'loopback is never banned'],
      [new IpSet(config.trustProxy), 'it is a trusted proxy (trustProxy)'],
      [new IpSet(config.ignoreIp), 'it is in ignoreIp'],
    ];
  }

  /** Why this canonical address must not be banned, or null. */
  reasonFor(ip: string): string | null {
    for (const [set, why] of this.lists) if (set.has(ip)) return why;
    return null;
  }

  /** Same for a CIDR: refused when it overlaps any protected range. */
  reasonForCidr(cidr: Cidr): string | null {
    const own = new IpSet([cidr]);
    for (const [set, why] of this.lists) {
      if (set.has(cidr.network)) return why;
      for (const p of set.cidrs) if (p.kind === cidr.kind && own.has(p.network)) return `it covers ${p.text}: ${why}`;
    }
    return null;
  }

  /**
   * For a counting key (an address, or an IPv6 prefix from clientPrefix):
   * why it must never be counted or banned, or null.
   */
  reasonForKey(key: Cidr): string | null {
    return key.prefix === (key.kind === 'ipv4' ? 32 : 128) ? this.reasonFor(key.text) : this.reasonForCidr(key);
  }
}
