import type { FirewallConfig } from '@portcullis/core';
import type { Logger } from 'pino';
import type { Runner } from '../exec.js';
import { ruleKey, type Ban, type FirewallBackend, type FirewallBatch, type FirewallHealth, type OwnedRule } from './firewall.js';
import { checkBan } from './ban-length.js';
import { UfwBackend } from './ufw.js';

/**
 * Runs nothing: logs the exact ufw commands it would run and keeps the
 * "rules" in memory, so reconcile, expiry and metrics behave as for real.
 * Used by the embedded demo and on machines without a firewall.
 */
export class DryRunBackend implements FirewallBackend {
  readonly name = 'dry-run' as const;
  readonly expiresItself = false;
  /** the "kernel": rules by ruleKey (an address alone for firewall.ports, `<ip> <ports>` for a jail's own) */
  readonly rules = new Map<string, Ban>();
  private readonly shape: UfwBackend;

  constructor(
    firewall: FirewallConfig,
    private readonly log?: Logger,
  ) {
    const never: Runner = async () => {
      throw new Error('dry-run runs no command');
    };
    this.shape = new UfwBackend({ firewall, run: never });
  }

  async init(): Promise<void> {}

  async check(): Promise<FirewallHealth> {
    return { ok: true, enforcing: false, intact: true, message: 'dry-run: commands are logged, not run; nothing is enforced' };
  }

  async listOwned(): Promise<OwnedRule[]> {
    return [...this.rules.values()].map((b) => ({ ...b, current: true }));
  }

  describe(batch: FirewallBatch): string[] {
    return this.shape.describe(batch);
  }

  async restore(owned: ReadonlyMap<string, OwnedRule>): Promise<void> {
    this.rules.clear();
    for (const o of owned.values())
      this.rules.set(ruleKey(o), { ip: o.ip, jail: o.jail, until: o.until, ...(o.ports ? { ports: o.ports } : {}) });
  }

  async apply(batch: FirewallBatch): Promise<void> {
    const now = Date.now();
    for (const b of batch.add) checkBan(b, now);
    for (const command of this.describe(batch)) this.log?.info({ backend: 'dry-run', command }, 'dry-run: would run');
    for (const b of batch.remove) this.rules.delete(ruleKey(b));
    for (const b of batch.add) this.rules.set(ruleKey(b), { ...b });
  }
}
