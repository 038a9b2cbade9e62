import type { Logger } from 'pino';
import type { Applier } from './applier.js';
import type { FirewallBackend, FirewallHealth } from './backends/firewall.js';
import type { SidecarMetrics } from './metrics.js';

export interface FirewallWatchOptions {
  backend: FirewallBackend;
  applier: Applier;
  log: Logger;
  metrics: SidecarMetrics;
  /** after a restore: make the firewall match Redis again */
  reconcile: () => Promise<unknown>;
}

/**
 * Keeps an eye on the firewall while the sidecar runs: a cheap check every few
 * seconds; when the kernel lost our table or chains (`nft flush ruleset`, a
 * firewall service restart, `ufw` chains flushed) the structure is rebuilt
 * with every rule we hold, then a reconcile adds what Redis knows beyond that.
 */
export class FirewallWatch {
  health: FirewallHealth = { ok: false, enforcing: false, message: 'starting' };
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private readonly o: FirewallWatchOptions;

  constructor(opts: FirewallWatchOptions) {
    this.o = opts;
  }

  /** does the kernel hold what we think it holds? */
  get intact(): boolean {
    return this.health.ok && this.health.intact !== false;
  }

  /** checks once; logs the transitions (loud: also the steady state, at start) */
  async check(loud = false): Promise<FirewallHealth> {
    const { backend, log, metrics } = this.o;
    const before = this.health;
    this.health = await backend.check();
    metrics.enforcing.set(this.health.enforcing ? 1 : 0);
    metrics.firewallIntact.set(this.intact ? 1 : 0);
    if (!this.health.ok) {
      if (loud || before.ok) log.error({ backend: backend.name }, `firewall check failed: ${this.health.message}`);
    } else if (!this.health.enforcing && backend.name !== 'dry-run' && (loud || before.enforcing)) {
      log.error({ backend: backend.name }, `BANS ARE NOT ENFORCED: ${this.health.message}`);
    } else if (loud || (!before.ok && before.message !== 'starting')) {
      log.info({ backend: backend.name }, this.health.message);
    }
    return this.health;
  }

  /** one check; restores the firewall when it lost our rules */
  tick(): Promise<void> {
    this.ticking ??= this.checkAndRestore().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async checkAndRestore(): Promise<void> {
    const { applier, backend, log, metrics } = this.o;
    try {
      await this.check();
      if (this.intact) return;
      log.error(
        { backend: backend.name, rules: applier.owned.size, why: this.health.message },
        'FIREWALL LOST OUR RULES (flushed or reloaded under us): restoring every ban',
      );
      await applier.exclusive(async () => {
        // a backend that cannot rebuild from what we hold sets up its structure; reconcile refills it
        if (backend.restore) await backend.restore(applier.owned);
        else await backend.init();
      });
      metrics.firewallRestores.inc();
      await this.o.reconcile();
      await this.check();
      if (this.intact) log.warn({ backend: backend.name, rules: applier.owned.size }, 'firewall restored');
    } catch (err) {
      metrics.errors.inc({ kind: 'firewall' });
      log.error({ err: (err as Error).message, backend: backend.name }, 'firewall check/restore failed; trying again');
    }
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }
}
