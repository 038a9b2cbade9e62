import { normalizeCidr, parseJailBanMember, type Cidr, type DataMarker, type Keys, type RedisClient } from '@portcullis/core';
import type { Logger } from 'pino';
import type { Applier } from './applier.js';
import { ruleKey, type Ban, type FirewallBackend } from './backends/firewall.js';
import { diffReconcile, type PortsOf } from './batch.js';
import type { SidecarMetrics } from './metrics.js';

export interface ReconcilerOptions {
  cmd: RedisClient;
  keys: Keys;
  backend: FirewallBackend;
  applier: Applier;
  /** why a ban must never reach the firewall (protected, too wide, absurd until), or null */
  refuse: (cidr: Cidr, until: number) => string | null;
  /** the ports a jail's rule closes (undefined: firewall.ports) */
  portsOf?: PortsOf;
  log: Logger;
  metrics: SidecarMetrics;
  /** the {p}:meta marker: while Redis looks wiped, reconcile adds but removes nothing */
  marker?: DataMarker;
}

const JAIL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Makes the firewall match {p}:bans, changing only the difference (never a
 * flush): missing bans are added, stale or expired rules removed, a changed
 * until refreshed, a rule of an old shape (other ports, action, protocol)
 * replaced. Runs at start, periodically, after a Redis reconnect and after
 * the firewall was restored.
 *
 * What the firewall should hold is one rule per address and port list: each
 * jail banning an address ({p}:jailbans) gives a rule closing that jail's
 * ports until that jail's end (never past the address's end in {p}:bans);
 * jails of one port list share a rule until the later end. A ban {p}:jailbans
 * does not explain (written by an older version) gives a rule for the jail
 * its hash names, until the address's end.
 */
export class Reconciler {
  lastAt = 0;
  private running: Promise<unknown> | null = null;
  private readonly o: ReconcilerOptions;
  /** the jail of bans written before {p}:jailbans, by address: read once per ban (address → its until and jail) */
  private readonly olderBans = new Map<string, { until: number; jail: string }>();

  constructor(opts: ReconcilerOptions) {
    this.o = opts;
  }

  /** one reconcile, or joins the one running; failures are logged (the next one retries) */
  soon(): Promise<unknown> {
    if (this.running) return this.running;
    this.running = this.reconcile()
      .catch((err: unknown) => {
        this.o.metrics.errors.inc({ kind: 'reconcile' });
        this.o.log.warn({ err: (err as Error).message }, 'reconcile failed; will try again');
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** waits for a reconcile in flight */
  async settled(): Promise<void> {
    await this.running;
  }

  async reconcile(): Promise<{ added: number; removed: number }> {
    const { applier, backend, log, metrics } = this.o;
    return applier.exclusive(async () => {
      const owned = await backend.listOwned();
      await this.o.marker?.verify();
      const wiped = this.o.marker?.wiped ?? null;
      const now = Date.now();
      const active = await this.wanted(now);
      let diff = diffReconcile(owned, active, now);
      if (wiped && diff.remove.length > 0) {
        // an empty Redis is no reason to open the firewall: keep every rule until an operator acts
        log.error({ kept: diff.remove.length, err: wiped.message }, 'Redis looks wiped: reconcile removes no rule');
        diff = { ...diff, remove: [] };
      }
      applier.adopt(owned);
      const failed = await applier.applySplitting(diff, true);
      for (const f of failed) {
        log.error(
          { ip: f.ban.ip, err: (f.error as Error).message, backend: backend.name },
          'reconcile: the firewall refused this change; the next reconcile tries again',
        );
      }
      const added = diff.add.length - failed.filter((f) => !f.remove).length;
      const removed = diff.remove.length - failed.filter((f) => f.remove).length;
      await backend.prune?.(applier.owned);
      metrics.reconcileAdds.inc(added);
      metrics.reconcileRemoves.inc(removed);
      this.lastAt = Date.now();
      if (added || removed) log.info({ added, removed, rules: applier.owned.size, backend: backend.name }, 'reconciled');
      if (failed.length > 0 && added + removed === 0 && failed.length === diff.add.length + diff.remove.length) {
        throw failed[0]!.error;
      }
      return { added, removed };
    });
  }

  /** the rules Redis says the firewall should hold now, one per address and port list */
  private async wanted(now: number): Promise<Ban[]> {
    const { cmd, keys, log } = this.o;
    const portsOf = this.o.portsOf ?? (() => undefined);
    const [[, flat], [, perJail]] = (await cmd
      .multi()
      .zrangebyscore(keys.bans, `(${now}`, '+inf', 'WITHSCORES')
      .zrangebyscore(keys.jailBans, `(${now}`, '+inf', 'WITHSCORES')
      .exec()) as [[Error | null, string[]], [Error | null, string[]]];
    const untilOf = (score: string) => (score === 'inf' ? -1 : Number(score));
    const banned = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const cidr = normalizeCidr(flat[i]);
      if (!cidr) continue; // never let a bad member reach a command
      const until = untilOf(flat[i + 1]!);
      const why = this.o.refuse(cidr, until);
      if (why) {
        log.warn({ ip: cidr.text, until, why }, 'refusing to enforce a ban from {p}:bans');
        continue;
      }
      banned.set(cidr.text, until);
    }
    const rules = new Map<string, Ban>();
    const latest = new Map<string, number>();
    const want = (ban: Ban) => {
      const key = ruleKey(ban);
      const had = rules.get(key);
      if (!had || later(had.until, ban.until) !== had.until) rules.set(key, ban);
    };
    for (let i = 0; i + 1 < perJail.length; i += 2) {
      const member = parseJailBanMember(perJail[i]!);
      const cidr = member && JAIL.test(member.jail) ? normalizeCidr(member.ip) : null;
      const addressUntil = cidr ? banned.get(cidr.text) : undefined;
      // a jail's entry outliving its address's ban (lifted, or rewritten by an older writer) is not a ban
      if (!cidr || addressUntil === undefined) continue;
      const jailUntil = untilOf(perJail[i + 1]!);
      const ports = portsOf(member!.jail);
      want({ ip: cidr.text, jail: member!.jail, until: earlier(jailUntil, addressUntil), ...(ports ? { ports } : {}) });
      latest.set(cidr.text, later(latest.get(cidr.text) ?? 0, jailUntil));
    }
    // the address's end is the latest of its jails' (writeBan): where it is not, an older writer
    // banned it without a jail entry, in the jail its hash names
    const older = [...banned].filter(([ip, until]) => latest.get(ip) !== until);
    const unknown = older.filter(([ip, until]) => this.olderBans.get(ip)?.until !== until);
    if (unknown.length > 0) {
      const p = cmd.pipeline();
      for (const [ip] of unknown) p.hget(keys.ban(ip), 'jail');
      const rows = (await p.exec()) ?? [];
      unknown.forEach(([ip, until], i) => {
        const jail = rows[i]?.[1];
        this.olderBans.set(ip, { until, jail: typeof jail === 'string' && JAIL.test(jail) ? jail : 'manual' });
      });
    }
    const olderIps = new Set(older.map(([ip]) => ip));
    for (const ip of this.olderBans.keys()) if (!olderIps.has(ip)) this.olderBans.delete(ip);
    for (const [ip, until] of older) {
      const { jail } = this.olderBans.get(ip)!;
      const ports = portsOf(jail);
      want({ ip, jail, until, ...(ports ? { ports } : {}) });
    }
    return [...rules.values()];
  }
}

/** the later of two ends (-1 = forever) */
function later(a: number, b: number): number {
  return a === -1 || b === -1 ? -1 : Math.max(a, b);
}

/** the earlier of two ends (-1 = forever) */
function earlier(a: number, b: number): number {
  if (a === -1) return b;
  if (b === -1) return a;
  return Math.min(a, b);
}
