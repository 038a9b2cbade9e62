import { describe, expect, it } from 'vitest';
import { parseConfig } from '@portcullis/core';
import { Applier, DryRunBackend, FirewallError, type FirewallBatch } from '@portcullis/sidecar';
import { isTransient } from '../src/failure.js';
import { quiet } from './harness.js';

/** dry-run refusing any batch that holds an address `bad` names */
class Refusing extends DryRunBackend {
  tries = 0;
  constructor(private readonly bad: (ip: string) => Error | null) {
    super(parseConfig({}).firewall);
  }
  override async apply(batch: FirewallBatch): Promise<void> {
    this.tries++;
    for (const b of [...batch.add, ...batch.remove]) {
      const err = this.bad(b.ip);
      if (err) throw err;
    }
    await super.apply(batch);
  }
}

const bans = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, jail: 'j', until: -1 }));

describe('Applier.applySplitting: one bad change never holds back the others', () => {
  it('one poison among 1,000: every other change lands in about 2·log2(n) tries; the poison comes back alone', async () => {
    const backend = new Refusing((ip) => (ip === '10.0.1.244' ? new Error('value too large') : null));
    const applier = new Applier({ backend, log: quiet, isTransient });
    const failed = await applier.applySplitting({ add: bans(1000), remove: [] });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ ban: { ip: '10.0.1.244' }, alone: true });
    expect(backend.rules.size).toBe(999);
    expect(applier.owned.size).toBe(999);
    expect(backend.tries).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(1000)) + 1);
    await applier.stop();
  });

  it('a firewall refusing everything costs at most the budget, not 2n tries; a transient error is not split at all', async () => {
    const broken = new Refusing(() => new Error('nft: something odd'));
    const applier = new Applier({ backend: broken, log: quiet, isTransient });
    const failed = await applier.applySplitting({ add: bans(1000), remove: [] }, false, 64);
    expect(broken.tries).toBe(64);
    expect(failed).toHaveLength(1000);
    expect(failed.filter((f) => !f.alone).length).toBeGreaterThan(900);

    const locked = new Refusing(() => new FirewallError('xtables lock held', { transient: true }));
    const a2 = new Applier({ backend: locked, log: quiet, isTransient });
    const f2 = await a2.applySplitting({ add: bans(1000), remove: [] });
    expect(locked.tries).toBe(1);
    expect(f2.every((f) => !f.alone)).toBe(true);
    await applier.stop();
    await a2.stop();
  });
});
