import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firewallSkipReason, hasCommand, OTHER_V4, OTHER_V6, RedisServer, TestNet, TestSshd, waitFor } from '@portcullis/testkit';
import type { Sidecar } from '@portcullis/sidecar';
import { store, testConfig } from './harness.js';
import { nsSidecar } from '@portcullis/testkit/fixtures';

const skip =
  firewallSkipReason('nft', 'ss') ??
  (['sshd', 'ssh', 'sshpass', 'ssh-keygen'].find((c) => !hasCommand(c))
    ? 'needs openssh-server, openssh-client and sshpass (apt-get install openssh-server sshpass)'
    : null);
if (skip) console.warn(`[skipped] sshd jail tests: ${skip}`);

// 192.0.2.2 may be this machine's own address (ignoreself would spare it): the guesser uses .3
const GUESSER = OTHER_V4;
const ADMIN = OTHER_V6;

describe.runIf(skip === null)('sshd jail: a real sshd, failures read from its log, bans on every host', () => {
  let redis: RedisServer;
  let hostA: TestNet;
  let hostB: TestNet;
  let sshd: TestSshd;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    hostA = TestNet.create();
    hostB = TestNet.create();
    sshd = TestSshd.start(hostA);
    hostB.startServer(22); // the second host's port 22 (an echo server stands in for its sshd)
    hostA.startServer(8080);
    await waitFor('sshd on host A', () => hostA.canConnect(GUESSER, 22) && hostA.canConnect(ADMIN, 22), 20_000);
    await waitFor('port 22 on host B', () => hostB.canConnect(GUESSER, 22));
  });
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    hostA?.destroy();
    hostB?.destroy();
    await redis?.stop();
  });

  it('maxretry password failures close port 22 to the guesser on both hosts; a logged-in admin is never banned', async () => {
    // each host's sidecar follows its own sshd log (host B's stays quiet here)
    const hostConfig = (log: string, net: TestNet) =>
      testConfig(redis.url, {
        jails: { sshd: { preset: 'sshd', maxretry: 3, logpath: log } },
        // the guide's firewall closes only the web ports: the sshd jail adds its 22
        firewall: { backend: 'nftables', ports: [8080] },
        sidecar: { stateDir: join(net.dir, 'state') },
      });
    const config = hostConfig(sshd.log, hostA);
    const quietLog = join(hostB.dir, 'auth.log');
    writeFileSync(quietLog, '');
    const sidecarA: Sidecar = await nsSidecar(hostA, config, { hostId: 'host-a' });
    stops.push(() => sidecarA.stop());
    const sidecarB: Sidecar = await nsSidecar(hostB, hostConfig(quietLog, hostB), { hostId: 'host-b' });
    stops.push(() => sidecarB.stop());
    const jail = sidecarA.logJails[0]!;

    // an admin logged in from ADMIN mistypes a password in another terminal, many times
    sshd.holdSession(ADMIN);
    await waitFor('the session is seen in the log', () => jail.loggedIn().includes(ADMIN), 20_000);
    for (let i = 0; i < 4; i++) expect(sshd.failPassword(ADMIN)).toBe(true);

    // the guesser: two wrong passwords, one as an invalid user ("Invalid user" + "Failed password": two lines)
    expect(sshd.failPassword(GUESSER)).toBe(true);
    expect(sshd.failPassword(GUESSER, 'no-such-user')).toBe(true);
    await waitFor('banned on host A: port 22 closed', () => !hostA.canConnect(GUESSER, 22), 20_000);
    await waitFor('banned on host B too', () => !hostB.canConnect(GUESSER, 22), 20_000);

    const s = await store(config);
    const ban = await s.isBanned(GUESSER);
    expect(ban).toMatchObject({ jail: 'sshd', by: 'sidecar@host-a', reason: '3 failures within 600s' });
    // the admin's failures came before the guesser's in the log, so they were read: none counted
    expect(await s.isBanned(ADMIN)).toBeNull();
    expect(hostA.canConnect(ADMIN, 22)).toBe(true);
    const log = readFileSync(sshd.log, 'utf8');
    expect(log.match(/Failed password for root from 2001:db8:5c::3 /g)).toHaveLength(4);
    // the alert's "last failing requests" are sshd's own lines (kept when alerts are on: not here)
    await s.close();
  });
});
