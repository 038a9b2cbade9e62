import { MAX_DURATION_MS, Protection, formatDuration, type Cidr, type PortcullisConfig } from '@portcullis/core';

/**
 * Why a ban must never reach the firewall, or null: loopback, trusted proxies
 * and ignoreIp (Protection), a range wider than sidecar.maxRangePrefix (one
 * event must not block half the Internet: `128.0.0.0/1`, `2000::/3`), an
 * until further away than the longest ban allowed (core's MAX_DURATION_MS,
 * 10 years).
 */
export function banRefusal(
  config: Pick<PortcullisConfig, 'trustProxy' | 'ignoreIp' | 'sidecar'>,
  now: () => number = Date.now,
): (cidr: Cidr, until: number) => string | null {
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
