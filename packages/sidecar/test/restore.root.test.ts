import { describe, expect, it } from 'vitest';
import { CLIENT_V4, CLIENT_V6, firewallSkipReason, OTHER_V4, waitFor } from '@portcullis/testkit';
import { nsBackend, useTestNet } from '@portcullis/testkit/fixtures';
import { FirewallError, type Ban, type FirewallBackend, type OwnedRule } from '@portcullis/sidecar';

const skip = firewallSkipReason('nft', 'ufw', 'iptables', 'ip6tables');
if (skip) console.warn(`[skipped] firewall restore tests: ${skip}`);

const PORT = 8080;

function bans(): Ban[] {
  const now = Date.now();
  return [
    { ip: CLIENT_V4, jail: 'j', until: now + 3_600_000 },
    { ip: CLIENT_V6, jail: 'j', until: -1 },
    { ip: '198.51.100.0/24', jail: 'j', until: now + 7 * 86_400_000 },
    { ip: '2001:db8:77::/48', jail: 'j', until: now + 3_600_000 },
  ];
}
const ownedOf = (list: Ban[]): Map<string, OwnedRule> => new Map(list.map((b) => [b.ip, { ...b, current: true }]));

describe.runIf(skip === null)('a firewall flushed under the sidecar: check() says so, restore() brings every ban back', () => {
  const fw = useTestNet({ port: PORT });

  /** the kernel no longer blocks CLIENT_V4 (ufw: its rule is gone; the allow rule went with it, so no packet test) */
  const lost = (backend: FirewallBackend) =>
    backend.name === 'ufw' ? !fw.net.inServer(['iptables', '-S']).includes(`-s ${CLIENT_V4}/32`) : fw.net.canConnect(CLIENT_V4, PORT);

  async function expectRestored(backend: FirewallBackend, list: Ban[]): Promise<void> {
    const health = await backend.check();
    expect(health.intact, health.message).toBe(false);
    expect(lost(backend)).toBe(true);
    await backend.restore!(ownedOf(list));
    const after = await backend.check();
    expect(after.intact, after.message).toBe(true);
    expect(after.enforcing).toBe(true);
    expect((await backend.listOwned()).map((o) => o.ip).sort()).toEqual(list.map((b) => b.ip).sort());
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    expect(fw.net.canConnect(CLIENT_V6, PORT)).toBe(false);
    await waitFor('others connect', () => fw.net.canConnect(OTHER_V4, PORT));
  }

  it('nftables: `nft flush ruleset`, then a flushed chain', async () => {
    const backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT], docker: true });
    const list = bans();
    await backend.apply({ add: list, remove: [] });
    expect((await backend.check()).intact).toBe(true);

    fw.net.inServer(['nft', 'flush', 'ruleset']);
    // meanwhile a batch fails as worth retrying (the table comes back), not as a poison event
    const err = await backend.apply({ add: [{ ip: '203.0.113.9', jail: 'j', until: -1 }], remove: [] }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FirewallError);
    expect((err as FirewallError).transient).toBe(true);
    await expectRestored(backend, list);

    fw.net.inServer(['nft', 'flush', 'chain', 'inet', 'portcullis', 'input']);
    await expectRestored(backend, list);
    fw.net.inServer(['nft', 'delete', 'table', 'inet', 'portcullis']);
  });

  it('ufw: its kernel chains flushed while user.rules is intact, then the whole ruleset flushed', async () => {
    fw.net.enableUfw(PORT);
    try {
      const backend = await nsBackend(fw.net, { backend: 'ufw', ports: [PORT] });
      const list = bans();
      await backend.apply({ add: list, remove: [] });
      expect((await backend.check()).intact).toBe(true);
      expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);

      fw.net.inServer(['iptables', '-F', 'ufw-user-input']);
      fw.net.inServer(['ip6tables', '-F', 'ufw6-user-input']);
      await expectRestored(backend, list);

      fw.net.inServer(['nft', 'flush', 'ruleset']);
      await expectRestored(backend, list);

      // a kernel rule user.rules no longer holds (e.g. a crash between the two writes of a lift)
      fw.net.inServer(['iptables', '-I', 'ufw-user-input', '-s', '203.0.113.77', '-j', 'DROP']);
      expect((await backend.check()).intact).toBe(false);
      await backend.restore!(ownedOf(list));
      expect((await backend.check()).intact).toBe(true);
      expect(fw.net.inServer(['iptables', '-S', 'ufw-user-input'])).not.toContain('203.0.113.77');
    } finally {
      fw.net.inServer(['ufw', '--force', 'reset']);
    }
  });
});
