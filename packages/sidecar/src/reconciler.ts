import { normalizeCidr, type Cidr, type DataMarker, type Keys, type RedisClient } from '@portcullis/core';
import type { Logger } from 'pino';
import type { Applier } from './applier.js';
import type { Ban, FirewallBackend } from './backends/firewall.js';
import { diffReconcile } from './batch.js';
import type { SidecarMetrics } from './metrics.js';

export interface ReconcilerOptions {
  cmd: RedisClient;
  keys: Keys;
  backend: FirewallBackend;
  applier: Applier;
  /** why a ban must never reach the firewall (protected, too wide, absurd until), or null */
  refuse: (cidr: Cidr, until: number) => string | null;
  log: Logger;
  metrics: SidecarMetrics;
  /** the {p}:meta marker: while Redis looks wiped, reconcile adds but removes nothing */
  marker?: DataMarker;
}

const JAIL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Makes the firewall match {p}:bans, changing only the difference (never a
 * flush): missing bans are added, stale or expired rules removed, a changed
 * until refreshed. Runs at start, periodically, after a Redis reconnect and
 * after the firewall was restored.
 */
export class Reconciler {
  lastAt = 0;
  private running: Promise<unknown> | null = null;
  private readonly o: ReconcilerOptions;

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
    const { applier, backend, cmd, keys, log, metrics } = this.o;
    return applier.exclusive(async () => {
      const owned = await backend.listOwned();
      await this.o.marker?.verify();
      const wiped = this.o.marker?.wiped ?? null;
      const now = Date.now();
      const flat = await cmd.zrangebyscore(keys.bans, `(${now}`, '+inf', 'WITHSCORES');
      const active: Ban[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const cidr = normalizeCidr(flat[i]);
        if (!cidr) continue; // never let a bad member reach a command
        const score = flat[i + 1]!;
        const until = score === 'inf' ? -1 : Number(score);
        const why = this.o.refuse(cidr, until);
        if (why) {
          log.warn({ ip: cidr.text, until, why }, 'refusing to enforce a ban from {p}:bans');
          continue;
        }
        active.push({ ip: cidr.text, jail: '', until });
      }
      let diff = diffReconcile(owned, active, now);
      if (wiped && diff.remove.length > 0) {
        // an empty Redis is no reason to open the firewall: keep every rule until an operator acts
        log.error({ kept: diff.remove.length, err: wiped.message }, 'Redis looks wiped: reconcile removes no rule');
        diff = { ...diff, remove: [] };
      }
      if (diff.add.length > 0) {
        const p = cmd.pipeline();
        for (const b of diff.add) p.hget(keys.ban(b.ip), 'jail');
        const rows = (await p.exec()) ?? [];
        diff.add.forEach((b, i) => {
          const jail = rows[i]?.[1];
          b.jail = typeof jail === 'string' && JAIL.test(jail) ? jail : 'manual';
        });
      }
      applier.adopt(owned);
      const failed = await applier.applySplitting(diff, true);
      for (const f of failed) {
        log.error({ ip: f.ban.ip, err: (f.error as Error).message, backend: backend.name }, 'reconcile: the firewall refused this change; the next reconcile tries again');
      }
      const added = diff.add.length - failed.filter((f) => !f.remove).length;
      const removed = diff.remove.length - failed.filter((f) => f.remove).length;
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
}
