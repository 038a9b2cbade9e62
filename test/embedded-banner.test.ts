import { describe, expect, it } from 'vitest';
import { MemoryBanStore, parseConfig } from '@portcullis/core';
import { pino } from 'pino';
import { waitFor } from '@portcullis/testkit';
import { EmbeddedBanner } from '../examples/gateway/src/embedded-banner.js';

describe("the example gateway's embedded banner (the sidecar's Applier over a dry-run firewall)", () => {
  it('applies the bans of the in-memory store, lifts them at their until, and removes them on unban', async () => {
    const config = parseConfig({});
    const store = new MemoryBanStore({ config });
    const banner = new EmbeddedBanner(store, config.firewall, pino({ level: 'silent' }));
    try {
      await store.ban('203.0.113.5', { duration: 1500 });
      await store.ban('203.0.113.6', { duration: -1 });
      await waitFor('both rules', () => banner.backend.rules.size === 2);
      await waitFor('the short ban lifted at its until', () => !banner.backend.rules.has('203.0.113.5'));
      expect(banner.backend.rules.has('203.0.113.6')).toBe(true);
      await store.unban('203.0.113.6');
      await waitFor('unban', () => banner.backend.rules.size === 0);
    } finally {
      await banner.stop();
    }
  });
});
