import type { Logger } from 'pino';
import type { BanEvent, FirewallConfig, MemoryBanStore } from '@portcullis/core';
import { DryRunBackend, ExpiryWheel } from '@portcullis/sidecar';

/**
 * The embedded default's stand-in for the sidecar: the in-memory store's
 * ban/unban events go straight to a dry-run firewall that logs the ufw
 * commands it would run, and lifts "rules" at their until.
 */
export class EmbeddedBanner {
  private readonly backend: DryRunBackend;
  private readonly wheel: ExpiryWheel;
  private readonly off: () => void;

  constructor(store: MemoryBanStore, firewall: FirewallConfig, log: Logger) {
    this.backend = new DryRunBackend(firewall, log);
    this.wheel = new ExpiryWheel((ips) => {
      const remove = ips.flatMap((ip) => {
        const rule = this.backend.rules.get(ip);
        return rule ? [rule] : [];
      });
      if (remove.length > 0) void this.backend.apply({ add: [], remove });
    });
    this.off = store.onEvent((event) => this.apply(event));
  }

  private apply(event: BanEvent): void {
    if (event.type === 'ban') {
      this.wheel.set(event.ip, event.until);
      void this.backend.apply({ add: [{ ip: event.ip, jail: event.jail, until: event.until }], remove: [] });
    } else {
      const rule = this.backend.rules.get(event.ip);
      this.wheel.delete(event.ip);
      if (rule) void this.backend.apply({ add: [], remove: [rule] });
    }
  }

  stop(): void {
    this.off();
    this.wheel.stop();
  }
}
