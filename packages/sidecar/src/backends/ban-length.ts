import { normalizeCidr, type Cidr } from '@portcullis/core';
import { FirewallError, type Ban } from './firewall.js';

/**
 * The longest ban Portcullis accepts (10 years).
 * Same name and value as core's duration module (core-scale): import it from
 * '@portcullis/core' once that export has landed.
 */
export const MAX_DURATION_MS = 315_360_000_000;

/**
 * Slack on top of MAX_DURATION_MS for an `until` computed on another host
 * whose clock runs ahead of ours: a 10-year ban written there is still taken.
 */
const CLOCK_SLACK_MS = 86_400_000;

/**
 * Checks a ban before any firewall command sees it: a canonical address or
 * range, and an `until` that is -1 (forever) or a whole ms time no further
 * than the longest ban away. Anything else fails the same way every time, so
 * it is a non-transient FirewallError naming the value (the sidecar parks the
 * event instead of retrying it forever).
 */
export function checkBan(ban: Ban, now: number): Cidr {
  const cidr = normalizeCidr(ban.ip);
  if (!cidr) throw new FirewallError(`not an IP address or range: ${JSON.stringify(ban.ip)}`, { transient: false });
  const { until } = ban;
  if (until === -1) return cidr;
  if (!Number.isSafeInteger(until) || until < 0) {
    throw new FirewallError(`ban of ${cidr.text}: until ${String(until)} is not a time in ms (or -1 for forever)`, { transient: false });
  }
  if (until - now > MAX_DURATION_MS + CLOCK_SLACK_MS) {
    throw new FirewallError(
      `ban of ${cidr.text}: until ${until} (${new Date(Math.min(until, 8.64e15)).toISOString()}) is more than 10 years away, the longest ban Portcullis accepts`,
      { transient: false },
    );
  }
  return cidr;
}
