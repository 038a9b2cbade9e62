import { createHash } from 'node:crypto';
import { normalizeIp } from '@portcullis/core';

/**
 * The address a keyGenerator's key is counted and banned under: 64 bits of
 * its SHA-256 in the discard-only block 100::/64 (RFC 6666), which no packet
 * ever comes from. So the key's text (an API key, a tenant id) never reaches
 * a Redis key, a log line or a firewall; the key schema stays addresses-only,
 * and `portcullis list` / `unban` handle keyed bans like any other.
 */
export function keyAddress(key: string): string {
  const hash = createHash('sha256').update(key, 'utf8').digest();
  const words = [0, 2, 4, 6].map((i) => hash.readUInt16BE(i).toString(16));
  // canonical text, as the stores and the cache compare it
  return normalizeIp(`100::${words.join(':')}`)!;
}
