import type { Logger } from 'pino';
import type { BanEvent, FirewallConfig, MemoryBanStore } from '@portcullis/core';
import { Applier, DryRunBackend } from '@portcullis/sidecar';

/**
 * The embedded default's stand-in for the sidecar: the in-memory store's
 * ban/unban events go straight to the sidecar's Applier over a dry-run
 * firewall, which logs the ufw commands it would run and lifts "rules" at
 * their until (the applier's expiry heap).
 */
export class EmbeddedBanner {
  readonly backend: DryRunBackend;
  private readonly applier: Applier;
  private readonly off: () => void;
  private readonly log: Logger;

  constructor(store: MemoryBanStore, firewall: FirewallConfig, log: Logger) {
    this.log = log;
    this.backend = new DryRunBackend(firewall, log);
    this.applier = new Applier({ backend: this.backend, log });
    this.off = store.onEvent((event) => this.apply(event));
  }

  private apply(event: BanEvent): void {
    if (event.type === 'unban' && !this.applier.holds(event.ip)) return;
    const batch =
      event.type === 'ban'
        ? { add: [{ ip: event.ip, jail: event.jail, until: event.jailUntil ?? event.until }], remove: [] }
        : { add: [], remove: this.applier.rulesOf(event.ip) };
    this.applier
      .apply(batch)
      .catch((err: unknown) => this.log.error({ err: (err as Error).message, ip: event.ip }, 'dry-run banner failed'));
  }

  stop(): Promise<void> {
    this.off();
    return this.applier.stop();
  }
}
