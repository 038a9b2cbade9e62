import { normalizeCidr } from '@portcullis/core';
import type { Logger } from 'pino';
import { CommandNotFoundError, commandExists, type Runner } from './exec.js';

/**
 * Ends the live connections of freshly banned addresses: ufw (and the usual
 * before.rules) accept ESTABLISHED traffic before any user rule, so a ban
 * alone would leave an open session running.
 *
 *   ss -K dst <a> or dst <b> …   closes local sockets (one call per 100 addresses)
 *   conntrack -D -s <ip>         drops tracked flows (forwarded / Docker), when installed
 */
export class ConnectionKiller {
  private conntrack: boolean | undefined;

  constructor(private readonly run: Runner, private readonly log?: Logger) {}

  async kill(ips: readonly string[]): Promise<void> {
    const valid = ips.map((ip) => normalizeCidr(ip)).filter((c) => c !== null);
    if (valid.length === 0) return;
    for (let i = 0; i < valid.length; i += 100) {
      const filter: string[] = [];
      for (const c of valid.slice(i, i + 100)) {
        if (filter.length) filter.push('or');
        filter.push('dst', c.text);
      }
      try {
        await this.run('ss', ['-K', '-n', ...filter], { timeoutMs: 10_000 });
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'ss -K failed: established connections of banned addresses may live on');
        if (err instanceof CommandNotFoundError) break;
      }
    }
    if (this.conntrack === undefined) this.conntrack = await commandExists('conntrack', this.run);
    if (!this.conntrack) return;
    // one flow table walk per address: only for small batches (floods rely on ss -K and the rule)
    const singles = valid.filter((c) => c.prefix === (c.kind === 'ipv4' ? 32 : 128));
    if (singles.length > 64) return;
    for (const c of singles) {
      try {
        await this.run('conntrack', ['-D', '-f', c.kind, '-s', c.text], { okExitCodes: [0, 1], timeoutMs: 10_000 });
      } catch (err) {
        this.log?.debug({ err: (err as Error).message, ip: c.text }, 'conntrack -D failed');
      }
    }
  }
}
