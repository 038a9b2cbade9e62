import { normalizeCidr, type Cidr } from '@portcullis/core';
import type { Logger } from 'pino';
import { CommandNotFoundError, commandExists, type Runner } from './exec.js';

/**
 * Ends the live connections of freshly banned addresses: ufw (and the usual
 * before.rules) accept ESTABLISHED traffic before any user rule, so a ban
 * alone would leave an open session running.
 *
 *   ss -K dst <a> or dst <b> …   closes local sockets (one call per family and 100 targets)
 *   conntrack -D -s <ip>         drops tracked flows (forwarded / Docker), when installed
 */
export class ConnectionKiller {
  private conntrack: boolean | undefined;

  constructor(
    private readonly run: Runner,
    private readonly log?: Logger,
  ) {}

  async kill(ips: readonly string[]): Promise<void> {
    const valid = ips.map((ip) => normalizeCidr(ip)).filter((c) => c !== null);
    if (valid.length === 0) return;
    // one call per family: a filter ss cannot parse fails its whole call, never the other family's
    for (const kind of ['ipv4', 'ipv6'] as const) {
      const family = valid.filter((c) => c.kind === kind);
      for (let i = 0; i < family.length; i += 100) {
        try {
          await this.run('ss', ['-K', '-n', ...ssFilter(family.slice(i, i + 100))], { timeoutMs: 10_000 });
        } catch (err) {
          this.log?.warn({ err: (err as Error).message }, 'ss -K failed: established connections of banned addresses may live on');
          if (err instanceof CommandNotFoundError) break;
        }
      }
    }
    if (this.conntrack === undefined) this.conntrack = await commandExists('conntrack', this.run);
    if (!this.conntrack) return;
    // one flow table walk per target: only for small batches (floods rely on ss -K and the rule)
    if (valid.length > 64) return;
    for (const c of valid) {
      try {
        await this.run('conntrack', ['-D', '-f', c.kind, '-s', c.text], { okExitCodes: [0, 1], timeoutMs: 10_000 });
      } catch (err) {
        this.log?.debug({ err: (err as Error).message, ip: c.text }, 'conntrack -D failed');
      }
    }
  }
}

/**
 * ss's filter for a list of targets of one family: `dst 192.0.2.7`,
 * `dst 198.51.100.0/24`, `dst [2001:db8::7]`, `dst 2001:db8::/64`. A bare IPv6
 * address must be bracketed (ss reads `…::7` as host `…:` port 7: "an inet
 * prefix is expected"); a prefix must not be (`[…]/64` is read as a port).
 */
export function ssFilter(targets: readonly Cidr[]): string[] {
  const filter: string[] = [];
  for (const c of targets) {
    if (filter.length) filter.push('or');
    const single = c.prefix === (c.kind === 'ipv4' ? 32 : 128);
    filter.push('dst', c.kind === 'ipv6' && single ? `[${c.text}]` : c.text);
  }
  return filter;
}
