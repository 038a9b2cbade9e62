import { beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_V6, firewallSkipReason, waitFor } from '@portcullis/testkit';
import { nsBackend, useTestNet } from '@portcullis/testkit/fixtures';
import type { Ban, FirewallBackend } from '@portcullis/sidecar';

const skip = firewallSkipReason('nft');
if (skip) console.warn(`[skipped] nftables overlapping range tests: ${skip}`);

const PORT = 8080;
// client sources: one inside the narrow ranges, one inside the wide ones only
const INNER_V4 = '192.0.2.21';
const WIDE_ONLY_V4 = '192.0.2.17';
const INNER_V6 = '2001:db8:5c::11';
const WIDE_ONLY_V6 = CLIENT_V6; // 2001:db8:5c::2
const ban = (ip: string): Ban => ({ ip, jail: 'j', until: Date.now() + 3_600_000 });
const NARROW = ['192.0.2.20/30', '2001:db8:5c::10/124'].map(ban);
const WIDE = ['192.0.2.16/28', '2001:db8:5c::/64'].map(ban);

describe.runIf(skip === null)('nftables: overlapping range bans are each enforced', () => {
  const fw = useTestNet({ port: PORT, clientAddresses: [INNER_V4, WIDE_ONLY_V4, INNER_V6] });
  let backend: FirewallBackend;

  beforeAll(async () => {
    await waitFor('echo server from INNER_V6', () => fw.net.canConnect(INNER_V6, PORT));
  });

  const blocked = (...from: string[]) => from.every((a) => !fw.net.canConnect(a, PORT));
  const open = (...from: string[]) => from.every((a) => fw.net.canConnect(a, PORT));
  const ownedIps = async () => (await backend.listOwned()).map((o) => o.ip).sort();

  it('narrow, then wide, then the wide lifted: the narrow ranges are still enforced', async () => {
    backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT] });
    await backend.apply({ add: NARROW, remove: [] });
    expect(blocked(INNER_V4, INNER_V6)).toBe(true);
    await waitFor('WIDE_ONLY_V4, WIDE_ONLY_V6 open', () => open(WIDE_ONLY_V4, WIDE_ONLY_V6));
    await backend.apply({ add: WIDE, remove: [] });
    // the wide ranges reach the kernel although narrower ones are inside them
    expect(blocked(INNER_V4, INNER_V6, WIDE_ONLY_V4, WIDE_ONLY_V6)).toBe(true);
    expect(await ownedIps()).toEqual([...NARROW, ...WIDE].map((b) => b.ip).sort());
    await backend.apply({ add: [], remove: WIDE });
    expect(blocked(INNER_V4, INNER_V6)).toBe(true);
    await waitFor('WIDE_ONLY_V4, WIDE_ONLY_V6 open', () => open(WIDE_ONLY_V4, WIDE_ONLY_V6));
    expect(await ownedIps()).toEqual(NARROW.map((b) => b.ip).sort());
    await backend.apply({ add: [], remove: NARROW });
    await waitFor('INNER_V4, INNER_V6 open', () => open(INNER_V4, INNER_V6));
    expect(await ownedIps()).toEqual([]);
  });

  it('wide first, then narrow inside it, then the wide lifted: each keeps its own timeout and the narrow stays', async () => {
    backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT] });
    await backend.apply({ add: WIDE, remove: [] });
    await backend.apply({ add: NARROW.map((b) => ({ ...b, until: b.until + 3_600_000 })), remove: [] });
    const owned = new Map((await backend.listOwned()).map((o) => [o.ip, o.until]));
    expect(owned.get('192.0.2.20/30')! - owned.get('192.0.2.16/28')!).toBeGreaterThan(3_500_000);
    await backend.apply({ add: [], remove: WIDE });
    expect(blocked(INNER_V4, INNER_V6)).toBe(true);
    await waitFor('WIDE_ONLY_V4, WIDE_ONLY_V6 open', () => open(WIDE_ONLY_V4, WIDE_ONLY_V6));
    await backend.apply({ add: [], remove: NARROW });
    await waitFor('INNER_V4, INNER_V6, WIDE_ONLY_V4, WIDE_ONLY_V6 open', () => open(INNER_V4, INNER_V6, WIDE_ONLY_V4, WIDE_ONLY_V6));
  });

  it('the kernel expires a narrow range inside a live wide one on its own', async () => {
    backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT] });
    await backend.apply({ add: [...WIDE, ...NARROW.map((b) => ({ ...b, until: Date.now() + 1500 }))], remove: [] });
    await waitFor('narrow expired', async () => (await ownedIps()).length === 2, 10_000);
    expect(await ownedIps()).toEqual(WIDE.map((b) => b.ip).sort());
    expect(blocked(INNER_V4, INNER_V6)).toBe(true);
    await backend.apply({ add: [], remove: WIDE });
    await waitFor('INNER_V4, WIDE_ONLY_V6 open', () => open(INNER_V4, WIDE_ONLY_V6));
  });
});
