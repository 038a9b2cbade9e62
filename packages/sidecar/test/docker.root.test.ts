import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_V4, CONTAINER_V4, firewallSkipReason, OTHER_V4, TestNet, waitFor } from '@portcullis/testkit';
import { nsBackend } from '@portcullis/testkit/fixtures';
import type { Ban, FirewallBackend } from '@portcullis/sidecar';

const skip = firewallSkipReason('nft', 'ufw', 'iptables');
if (skip) console.warn(`[skipped] Docker-published port tests: ${skip}`);

const PUBLISHED = 8080;
const CONTAINER_PORT = 80;

/**
 * `docker run -p 8080:80` as Docker writes it (iptables, Docker 20+): DNAT in
 * nat PREROUTING, FORWARD policy DROP, and on top of FORWARD the jump to
 * DOCKER-USER, then Docker's ACCEPT rules (before any ufw chain).
 */
function publish(net: TestNet): void {
  const br = net.bridgeIf;
  const ipt = (...args: string[]) => net.inServer(['iptables', '-w', ...args]);
  ipt('-t', 'nat', '-N', 'DOCKER');
  ipt('-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER');
  ipt(
    '-t',
    'nat',
    '-A',
    'DOCKER',
    '!',
    '-i',
    br,
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    String(PUBLISHED),
    '-j',
    'DNAT',
    '--to-destination',
    `${CONTAINER_V4}:${CONTAINER_PORT}`,
  );
  ipt('-P', 'FORWARD', 'DROP');
  ipt('-N', 'DOCKER');
  ipt('-N', 'DOCKER-USER');
  ipt('-A', 'DOCKER-USER', '-j', 'RETURN');
  ipt(
    '-A',
    'DOCKER',
    '-d',
    `${CONTAINER_V4}/32`,
    '!',
    '-i',
    br,
    '-o',
    br,
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    String(CONTAINER_PORT),
    '-j',
    'ACCEPT',
  );
  // inserted in reverse: DOCKER-USER, established, DOCKER, outbound
  ipt('-I', 'FORWARD', '1', '-i', br, '!', '-o', br, '-j', 'ACCEPT');
  ipt('-I', 'FORWARD', '1', '-o', br, '-j', 'DOCKER');
  ipt('-I', 'FORWARD', '1', '-o', br, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
  ipt('-I', 'FORWARD', '1', '-j', 'DOCKER-USER');
}

describe.runIf(skip === null)("Docker-published ports (8080 → a container's 80) are closed to a banned address", () => {
  let net: TestNet;

  beforeEach(async () => {
    net = TestNet.create();
    net.addContainer();
    net.startContainerServer(CONTAINER_PORT);
  });
  afterEach(() => net?.destroy());

  const reaches = (from: string) => net.canConnect(from, PUBLISHED);
  const ban = (): Ban => ({ ip: CLIENT_V4, jail: 'j', until: Date.now() + 3_600_000 });

  async function bansHold(open: (docker: boolean) => Promise<FirewallBackend>): Promise<FirewallBackend> {
    // without docker: true the ban only guards input: the published port stays open (the fault)
    const leaky = await open(false);
    await leaky.apply({ add: [ban()], remove: [] });
    await waitFor('CLIENT_V4 reaches 8080', () => reaches(CLIENT_V4));
    await leaky.apply({ add: [], remove: [ban()] });

    const backend = await open(true);
    await backend.apply({ add: [ban()], remove: [] });
    expect(reaches(CLIENT_V4)).toBe(false);
    await waitFor('OTHER_V4 reaches 8080', () => reaches(OTHER_V4));
    expect((await backend.check()).intact).toBe(true);
    await backend.apply({ add: [], remove: [ban()] });
    await waitFor('CLIENT_V4 reaches 8080', () => reaches(CLIENT_V4));
    return backend;
  }

  it('nftables: matched in forward on the port asked for before the DNAT (ct original proto-dst)', async () => {
    publish(net);
    await waitFor('published port reachable', () => reaches(CLIENT_V4));
    await bansHold((docker) => nsBackend(net, { backend: 'nftables', ports: [PUBLISHED], docker }));
  });

  it("ufw: bans go to DOCKER-USER, before Docker's own ACCEPT rules; restored when that chain is flushed", async () => {
    net.enableUfw(PUBLISHED);
    publish(net);
    await waitFor('published port reachable', () => reaches(CLIENT_V4));
    const backend = await bansHold((docker) => nsBackend(net, { backend: 'ufw', ports: [PUBLISHED], docker }));

    await backend.apply({ add: [ban()], remove: [] });
    net.inServer(['iptables', '-F', 'DOCKER-USER']);
    await waitFor('CLIENT_V4 reaches 8080', () => reaches(CLIENT_V4));
    expect((await backend.check()).intact).toBe(false);
    await backend.restore!(new Map([[CLIENT_V4, { ...ban(), current: true }]]));
    expect((await backend.check()).intact).toBe(true);
    expect(reaches(CLIENT_V4)).toBe(false);
  });
});
