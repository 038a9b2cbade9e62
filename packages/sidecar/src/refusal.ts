import { Protection, formatDuration, type Cidr, type PortcullisConfig } from '@portcullis/core';

/** The longest ban the config can ask for (10 years; core's duration bound). Beyond it an until is a mistake or an attack. */
const MAX_DURATION_MS = 315_360_000_000;

/**
 * Why a ban must never reach the firewall, or null: loopback, trusted proxies
 * and ignoreIp (Protection), a range wider than sidecar.maxRangePrefix (one
 * event must not block half the Internet: `128.0.0.0/1`, `2000::/3`), an
 * until further away than the longest ban allowed.
 */
export function banRefusal(config: Pick<PortcullisConfig, 'trustProxy' | 'ignoreIp' | 'sidecar'>, now: () => number = Date.now): (cidr: Cidr, until: number) => string | null {
  const protection = new Protection(config);
  const widest = config.sidecar.maxRangePrefix;
  return (cidr, until) => {
    const protectedWhy = protection.reasonForCidr(cidr);
    if (protectedWhy) return protectedWhy;
    const min = widest[cidr.kind];
    if (cidr.prefix < min) return `the range is wider than /${min} (sidecar.maxRangePrefix.${cidr.kind})`;
    if (until !== -1 && until > now() + MAX_DURATION_MS) {
      return `until ${until} is further away than the longest ban allowed (${formatDuration(MAX_DURATION_MS)})`;
    }
    return null;
  };
}
