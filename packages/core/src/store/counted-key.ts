import { InvalidIpError } from '../errors.js';
import { normalizeCidr, normalizeIp, overlaps } from '../ip.js';
import type { Jail } from '../jail.js';
import type { Protection } from '../protection.js';

/**
 * The canonical key a client is counted under in `jail` (an address, or an
 * IPv6 prefix such as "2001:db8:1:2::/64"), or null when it must never be
 * counted: loopback, a trusted proxy, ignoreIp or the jail's ignoreIp, or a
 * prefix that contains any of them. Throws for anything malformed, so it
 * never reaches a Redis key.
 */
export function countedKey(raw: string, jail: Jail, protection: Protection): string | null {
  // the common case, one address: no masking
  if (!raw.includes('/')) {
    const ip = normalizeIp(raw);
    if (ip === null) throw new InvalidIpError(raw);
    return protection.reasonFor(ip) !== null || jail.ignore?.has(ip) ? null : ip;
  }
  const key = normalizeCidr(raw);
  if (key === null) throw new InvalidIpError(raw, 'IP address or IPv6 prefix');
  if (protection.reasonForKey(key) !== null) return null;
  if (jail.ignore && overlaps(jail.ignore, key)) return null;
  return key.text;
}
