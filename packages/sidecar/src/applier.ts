import type { Logger } from 'pino';
import { ruleKey, type Ban, type FirewallBackend, type FirewallBatch, type OwnedRule } from './backends/firewall.js';
import { ExpiryHeap } from './expiry.js';
import type { ConnectionKiller } from './kill-connections.js';
import type { SidecarMetrics } from './metrics.js';

/** One ban or removal that failed, with the error of the smallest batch that held it. */
export interface FailedChange {
  ban: Ban;
  /** true: a removal (unban, expiry); false: an add */
  remove: boolean;
  error: unknown;
  /** it failed on its own (false: its batch was not split further: a transient error, or the split budget ran out) */
  alone: boolean;
}

export interface ApplierOptions {
  backend: FirewallBackend;
  log: Logger;
  /** the sidecar's metrics (rules, batch duration, expiries); none in the embedded banner */
  metrics?: SidecarMetrics;
  /** ends live connections of fresh bans once the rule holds; none = connections are left alone */
  killer?: ConnectionKiller;
  /** a failure the firewall, not the batch, is to blame for: not worth splitting the batch */
  isTransient?: (err: unknown) => boolean;
}

/**
 * The one writer of the firewall: every change (events, reconcile, expiry,
 * restore) goes through one exclusive queue, so they never interleave. It
 * knows what it holds (`owned`, one rule per address and port list) and
 * removes each rule at its until with one expiry heap (the backends whose
 * kernel expires elements itself only forget them). Used by the sidecar and
 * by the example gateway's embedded banner.
 */
export class Applier {
  /** what we hold in the firewall, by ruleKey (the address alone for firewall.ports' rules) */
  readonly owned = new Map<string, OwnedRule>();
  /** ruleKeys by address: an unban lifts every rule of its address */
  private readonly byIp = new Map<string, Set<string>>();
  lastAppliedAt = 0;
  private readonly backend: FirewallBackend;
  private readonly log: Logger;
  private readonly metrics?: SidecarMetrics;
  private readonly killer?: ConnectionKiller;
  private readonly isTransient: (err: unknown) => boolean;
  private readonly heap: ExpiryHeap;
  private queue: Promise<unknown> = Promise.resolve();
  private killing: Promise<void> = Promise.resolve();

  constructor(opts: ApplierOptions) {
    this.backend = opts.backend;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.killer = opts.backend.name === 'dry-run' ? undefined : opts.killer;
    this.isTransient = opts.isTransient ?? (() => false);
    this.heap = new ExpiryHeap((keys) => void this.expire(keys));
  }

  /** runs firewall work one piece at a time (events, reconcile, expiry, restore) */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** one try, in the queue; throws when the firewall does not hold the result */
  apply(batch: FirewallBatch): Promise<void> {
    return this.exclusive(() => this.applyLocked(batch));
  }

  /** one try; the caller holds the queue (inside `exclusive`) */
  async applyLocked(batch: FirewallBatch): Promise<void> {
    if (batch.add.length === 0 && batch.remove.length === 0) return;
    const end = this.metrics?.batchDuration.startTimer();
    await this.backend.apply(batch, this.owned);
    end?.();
    this.lastAppliedAt = Date.now();
    for (const b of batch.remove) this.forget(ruleKey(b));
    for (const b of batch.add) this.hold({ ...b, current: true });
    this.metrics?.rules.set(this.owned.size);
    this.killConnections(batch.add);
  }

  /**
   * Applies what can be applied: a batch that fails is split in halves until
   * each failure stands alone, so one bad change never holds back the others
   * (a few bad changes among n cost about 2·log2(n) tries each). A transient
   * failure (the firewall, not the batch) is not split, and at most
   * `budget` tries are spent (a firewall refusing everything must not cost
   * 2n commands). Each try takes the queue on its own (expiry and reconcile
   * run in between), unless `locked` (the caller holds it).
   */
  async applySplitting(batch: FirewallBatch, locked = false, budget = 64): Promise<FailedChange[]> {
    const changes = [...batch.remove.map((ban) => ({ ban, remove: true })), ...batch.add.map((ban) => ({ ban, remove: false }))];
    const attempt = (b: FirewallBatch) => (locked ? this.applyLocked(b) : this.apply(b));
    let tries = 0;
    const split = async (part: Array<{ ban: Ban; remove: boolean }>, lastError?: unknown): Promise<FailedChange[]> => {
      if (part.length === 0) return [];
      if (tries >= budget) return part.map((c) => ({ ...c, error: lastError, alone: false }));
      tries++;
      try {
        await attempt({ add: part.filter((c) => !c.remove).map((c) => c.ban), remove: part.filter((c) => c.remove).map((c) => c.ban) });
        return [];
      } catch (error) {
        if (part.length === 1 || this.isTransient(error)) return part.map((c) => ({ ...c, error, alone: part.length === 1 }));
        const mid = part.length >> 1;
        return [...(await split(part.slice(0, mid), error)), ...(await split(part.slice(mid), error))];
      }
    };
    return split(changes);
  }

  /** replaces what we think we hold by what the firewall lists (reconcile; the caller holds the queue) */
  adopt(rules: readonly OwnedRule[]): void {
    this.owned.clear();
    this.byIp.clear();
    this.heap.clear();
    for (const o of rules) this.hold(o);
    this.metrics?.rules.set(this.owned.size);
  }

  /** does the firewall hold a rule of this address (for any jail's ports)? */
  holds(ip: string): boolean {
    return this.byIp.has(ip);
  }

  /** the rules held for an address, one per port list */
  rulesOf(ip: string): OwnedRule[] {
    return [...(this.byIp.get(ip) ?? [])].map((key) => this.owned.get(key)!);
  }

  private hold(rule: OwnedRule): void {
    const key = ruleKey(rule);
    this.owned.set(key, rule);
    const keys = this.byIp.get(rule.ip) ?? new Set<string>();
    keys.add(key);
    this.byIp.set(rule.ip, keys);
    this.heap.set(key, rule.until);
  }

  private forget(key: string): void {
    const rule = this.owned.get(key);
    this.owned.delete(key);
    this.heap.delete(key);
    if (!rule) return;
    const keys = this.byIp.get(rule.ip);
    keys?.delete(key);
    if (keys?.size === 0) this.byIp.delete(rule.ip);
  }

  /** the rules due at their until (by ruleKey): removed (ufw, dry-run) or forgotten (nftables expires them itself) */
  async expire(keys: readonly string[]): Promise<void> {
    try {
      await this.exclusive(async () => {
        const now = Date.now();
        const due = keys
          .map((key) => this.owned.get(key))
          .filter((o): o is OwnedRule => o !== undefined && o.until !== -1 && o.until <= now);
        if (due.length === 0) return;
        if (this.backend.expiresItself) {
          for (const o of due) this.forget(ruleKey(o));
          this.metrics?.rules.set(this.owned.size);
        } else {
          await this.applyLocked({ add: [], remove: due });
        }
        this.metrics?.expired.inc(due.length);
        for (const o of due)
          this.log.info(
            { ip: o.ip, jail: o.jail, ...(o.ports ? { ports: o.ports } : {}), backend: this.backend.name, until: o.until },
            'ban expired: rule removed',
          );
      });
    } catch (err) {
      this.metrics?.errors.inc({ kind: 'expiry' });
      this.log.error({ err: (err as Error).message }, 'expiry failed; reconcile will retry');
    }
  }

  /**
   * Ends live connections of freshly banned addresses, after the rule holds.
   * Runs beside the queue (its own chain) so ss/conntrack never delay the
   * next batch; failures are only logged.
   */
  private killConnections(bans: readonly Ban[]): void {
    const killer = this.killer;
    if (!killer || bans.length === 0) return;
    const ips = [...new Set(bans.map((b) => b.ip))];
    this.killing = this.killing
      .then(() => killer.kill(ips))
      .catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'ending live connections failed');
      });
  }

  /** no more expiries; waits for the work in flight */
  async stop(): Promise<void> {
    this.heap.stop();
    await this.queue.catch(() => {});
    await this.killing;
  }
}
