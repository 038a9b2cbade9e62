import type { Cidr } from '@portcullis/core';
import type { Logger } from 'pino';
import type { Applier, FailedChange } from './applier.js';
import type { FirewallBackend, FirewallBatch } from './backends/firewall.js';
import { mergeEntries, type PortsOf, type StreamEntry } from './batch.js';
import type { ParkedEntry, StreamConsumer } from './consumer.js';
import { backoffDelay } from './exec.js';
import { errorText, failureKind } from './failure.js';
import type { SidecarMetrics } from './metrics.js';

export interface EventHandlerOptions {
  consumer: StreamConsumer;
  applier: Applier;
  backend: FirewallBackend;
  refuse: (cidr: Cidr, until: number) => string | null;
  /** the ports a jail's rule closes (undefined: firewall.ports) */
  portsOf?: PortsOf;
  /** attempts before a change failing for a reason not known to be transient is parked */
  maxAttempts: number;
  log: Logger;
  metrics: SidecarMetrics;
  /** waits (woken early by stop) */
  sleep: (ms: number) => Promise<void>;
  stopping: () => boolean;
}

/** Thrown out of a wait when the sidecar stops: the batch stays pending, the next start re-reads it. */
export class Stopped extends Error {}

/**
 * One batch of stream entries, start to end: validate (the malformed and the
 * refused are parked), apply as one firewall batch, split it when it fails
 * so every good change lands, park a change that will never apply, retry the
 * transient ones with backoff, then XACK everything. One event never stops
 * the others; the exclusive queue is free between tries, so expiry, reconcile
 * and restore go on meanwhile.
 */
export class EventHandler {
  /** since when a change has been failing (retrying), or null */
  failingSince: number | null = null;
  failingWhy: string | null = null;
  /** a batch is being handled (the consumer is not waiting on Redis meanwhile) */
  busy = false;
  private readonly o: EventHandlerOptions;

  constructor(opts: EventHandlerOptions) {
    this.o = opts;
  }

  async handle(entries: StreamEntry[]): Promise<void> {
    this.busy = true;
    try {
      await this.handleBatch(entries);
    } finally {
      this.busy = false;
    }
  }

  private async handleBatch(entries: StreamEntry[]): Promise<void> {
    const { backend, consumer, log, metrics } = this.o;
    const gone = entries.filter(([, fields]) => fields === null || fields === undefined).map(([id]) => id);
    const live = entries.filter(([, fields]) => Array.isArray(fields));
    // merged against what the firewall holds: an unban lifts the address's rules of every jail
    const merged = await this.o.applier.exclusive(async () =>
      mergeEntries(live, Date.now(), this.o.refuse, this.o.portsOf, this.o.applier),
    );
    await consumer.park(merged.malformed);
    for (const m of merged.malformed) {
      metrics.malformed.inc();
      log.warn({ id: m.id, error: m.error, parkedIn: 'events:dead' }, 'malformed event parked');
    }
    const t0 = Date.now();
    const poison = await this.applyAll(merged.firewall);
    const applied = Date.now();
    if (poison.length > 0) {
      const fieldsOf = new Map(live);
      const winner = new Map(merged.events.map((e) => [e.event.ip, e.id]));
      const parked: ParkedEntry[] = poison.map((f) => {
        const id = winner.get(f.ban.ip)!;
        return { id, fields: fieldsOf.get(id) ?? [], error: `firewall refused it: ${errorText(f.error)}` };
      });
      await consumer.park(parked);
      for (const p of parked) {
        metrics.poison.inc();
        log.error(
          { id: p.id, error: p.error, parkedIn: 'events:dead', backend: backend.name },
          'event failed for good: parked, the others go on',
        );
      }
    }
    const parkedIps = new Set(poison.map((f) => f.ban.ip));
    for (const { id, event } of merged.events) {
      if (parkedIps.has(event.ip)) continue;
      const latencyMs = Math.max(0, applied - event.at);
      metrics.applyLatency.observe(latencyMs / 1000);
      const type = event.type === 'ban' && event.until !== -1 && event.until <= t0 ? 'expired' : event.type;
      if (type !== 'expired') metrics.eventsApplied.inc({ type });
      log.info(
        {
          id,
          type,
          ip: event.ip,
          jail: event.jail,
          backend: backend.name,
          latencyMs,
          ...(event.type === 'ban' ? { until: event.until } : {}),
        },
        type === 'ban' ? 'ban applied' : type === 'unban' ? 'unban applied' : 'ban already over: no rule',
      );
    }
    await consumer.ack([...merged.ids, ...gone]);
  }

  /**
   * Applies a batch until every change either holds or is known never to
   * hold; returns the latter (to be parked).
   */
  private async applyAll(batch: FirewallBatch): Promise<FailedChange[]> {
    const { applier, backend, log, maxAttempts, metrics } = this.o;
    const attempts = new Map<string, number>();
    const poison: FailedChange[] = [];
    let todo = batch;
    for (let round = 0; todo.add.length + todo.remove.length > 0; round++) {
      if (round > 0) {
        const delay = backoffDelay(round - 1);
        log.error(
          { err: this.failingWhy, failing: todo.add.length + todo.remove.length, retryInMs: delay, backend: backend.name },
          'firewall apply failed; retrying',
        );
        await this.o.sleep(delay);
        if (this.o.stopping()) throw new Stopped();
      }
      const failed = await applier.applySplitting(todo);
      const retry: FailedChange[] = [];
      for (const f of failed) {
        metrics.errors.inc({ kind: 'firewall' });
        const kind = failureKind(f.error);
        // not isolated yet (the split budget ran out) or the firewall's fault: try again as is
        if (!f.alone || kind === 'transient') {
          retry.push(f);
          continue;
        }
        const n = (attempts.get(f.ban.ip) ?? 0) + 1;
        attempts.set(f.ban.ip, n);
        // an unknown failure is parked only while the firewall itself checks fine; a ban parked by
        // mistake is not lost: it stays in {p}:bans and the periodic reconcile adds it again
        if (kind === 'permanent' || (n >= maxAttempts && (await this.firewallWorks()))) poison.push(f);
        else retry.push(f);
      }
      if (retry.length > 0) {
        this.failingSince ??= Date.now();
        this.failingWhy = errorText(retry[0]!.error);
      } else if (this.failingSince !== null) {
        log.info({ backend: backend.name }, 'firewall apply recovered');
        this.failingSince = null;
        this.failingWhy = null;
      }
      metrics.failing.set(retry.length);
      todo = { add: retry.filter((f) => !f.remove).map((f) => f.ban), remove: retry.filter((f) => f.remove).map((f) => f.ban) };
    }
    return poison;
  }

  private async firewallWorks(): Promise<boolean> {
    try {
      const h = await this.o.backend.check();
      return h.ok && h.intact !== false;
    } catch {
      return false;
    }
  }
}
