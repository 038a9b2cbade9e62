import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { resolveJails, type RedisBanStore } from '@portcullis/core';
import type { Sidecar } from '@portcullis/sidecar';
import { CLIENT_V4, CLIENT_V6, OTHER_V4, RedisServer, TestNet, firewallSkipReason, waitFor } from '@portcullis/testkit';
import { nsBackend, nsSidecar } from '@portcullis/testkit/fixtures';
import { store, testConfig } from './harness.js';

/**
 * A ban's firewall rule closes the ports of its jail: with the guide's
 * firewall.ports [80, 443] and the sshd jail (22), a login-jail ban closes
 * 80/443 and leaves 22 open; an sshd ban closes 22 and leaves the web open;
 * an address banned in both has both rules, each ending on its own. Real
 * packets from the client namespace, on ufw and on nftables.
 */

const WEB = [80, 443];
const SSH = 22;
const HOUR = 3_600_000;
/** each refused connection attempt waits out its 1.5 s timeout, and one ban here runs 15 s */
const SLOW = 180_000;

const BACKENDS = [
  { backend: 'nftables', skip: firewallSkipReason('nft', 'ss') },
  { backend: 'ufw', skip: firewallSkipReason('ufw', 'iptables', 'ip6tables', 'ss') },
] as const;

for (const { backend, skip } of BACKENDS) {
  if (skip) console.warn(`[skipped] per-jail ports tests (${backend}): ${skip}`);

  describe.runIf(skip === null)(`${backend}: each jail's bans close its own ports`, () => {
    let redis: RedisServer;
    let r: Redis;
    let net: TestNet;
    let sidecar: Sidecar | undefined;
    let bans: RedisBanStore | undefined;

    beforeAll(async () => {
      redis = await RedisServer.start();
      r = redis.client();
      net = TestNet.create();
      if (backend === 'ufw') {
        net.enableUfw(80);
        for (const port of [443, SSH]) net.inServer(['ufw', 'allow', `${port}/tcp`]);
      }
      for (const port of [...WEB, SSH]) net.startServer(port);
      await waitFor('the echo servers', () =>
        [...WEB, SSH].every((port) => net.canConnect(CLIENT_V4, port) && net.canConnect(CLIENT_V6, port)),
      );
    });
    afterEach(async () => {
      await sidecar?.stop();
      await bans?.close();
      sidecar = undefined;
      bans = undefined;
      await r.flushall();
    });
    afterAll(async () => {
      r?.disconnect();
      net?.destroy();
      await redis?.stop();
    });

    const config = () => {
      const quiet = join(net.dir, 'auth.log');
      writeFileSync(quiet, '');
      return testConfig(redis.url, {
        jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd', logpath: quiet } },
        firewall: { backend, ports: WEB },
        sidecar: { stateDir: join(net.dir, 'state') },
      });
    };
    /** this test's sidecar on the namespace, and a store to ban through (both ended after the test) */
    const begin = async (name: string) => {
      const cfg = config();
      sidecar = await nsSidecar(net, cfg, { hostId: `${name}-${backend}` });
      bans = await store(cfg);
      return { cfg, s: bans, sc: sidecar };
    };
    /**
     * Until the sidecar holds these rules (ruleKeys). Its own state, read without blocking: the
     * packet checks below run spawnSync, which holds this process (and the sidecar in it) still,
     * so they come once the rules are in, never in a polling loop the sidecar waits behind.
     */
    const holding = (sc: Sidecar, ...keys: string[]) =>
      waitFor(`the sidecar holds ${keys.join(', ')}`, () => keys.every((k) => sc.owned.has(k)), 60_000);
    const blocked = (from: string, ...ports: number[]) => ports.every((port) => !net.canConnect(from, port));
    const open = (from: string, ...ports: number[]) => ports.every((port) => net.canConnect(from, port));

    it(
      'a login ban closes 80/443 but not 22; an sshd ban closes 22 but not 80; an address in both jails loses both until each ends',
      async () => {
        const { s, sc } = await begin('ports');
        await s.ban(CLIENT_V4, { jail: 'login', duration: HOUR });
        await s.ban(OTHER_V4, { jail: 'sshd', duration: HOUR });
        await holding(sc, CLIENT_V4, `${OTHER_V4} 22`);
        expect(blocked(CLIENT_V4, ...WEB)).toBe(true);
        expect(open(CLIENT_V4, SSH)).toBe(true);
        expect(blocked(OTHER_V4, SSH)).toBe(true);
        expect(open(OTHER_V4, ...WEB)).toBe(true);

        // IPv6, both jails: the login ban ends first, on its own (ufw: the sidecar's expiry; nftables: the kernel's timeout)
        await s.ban(CLIENT_V6, { jail: 'sshd', duration: HOUR });
        await s.ban(CLIENT_V6, { jail: 'login', duration: 15_000 });
        await holding(sc, CLIENT_V6, `${CLIENT_V6} 22`);
        // the web ports are not probed here: on a loaded machine the 15 s login ban may already be
        // ending by now (both rules closing together, on v6, is the restart test's, with bans of an hour)
        expect(blocked(CLIENT_V6, SSH)).toBe(true);
        await waitFor('the login rule ended', () => !sc.owned.has(CLIENT_V6), 60_000);
        await waitFor('the web open again', () => open(CLIENT_V6, ...WEB), 30_000);
        expect(blocked(CLIENT_V6, SSH)).toBe(true);
        expect(await s.isBanned(CLIENT_V6)).toMatchObject({ jail: 'login' });

        // one rule lifted at the firewall leaves the other; reconcile puts it back (Redis still bans it)
        await s.ban(CLIENT_V4, { jail: 'sshd', duration: HOUR });
        await holding(sc, `${CLIENT_V4} 22`);
        expect(blocked(CLIENT_V4, SSH, ...WEB)).toBe(true);
        await sc.applier.apply({ add: [], remove: [{ ip: CLIENT_V4, jail: 'login', until: 0 }] });
        expect(open(CLIENT_V4, ...WEB)).toBe(true);
        expect(blocked(CLIENT_V4, SSH)).toBe(true);
        await sc.applier.apply({ add: [], remove: [{ ip: CLIENT_V4, jail: 'sshd', until: 0, ports: [SSH] }] });
        expect(open(CLIENT_V4, SSH)).toBe(true);
        expect(await sc.reconcile()).toEqual({ added: 2, removed: 0 });
        expect(blocked(CLIENT_V4, SSH, ...WEB)).toBe(true);

        // an unban lifts the address in every jail
        await s.unban(CLIENT_V4);
        await waitFor('CLIENT_V4 lifted in both jails', () => !sc.applier.holds(CLIENT_V4));
        expect(open(CLIENT_V4, SSH, ...WEB)).toBe(true);
        expect(blocked(OTHER_V4, SSH)).toBe(true);
      },
      SLOW,
    );

    it(
      'an sshd failure of an address banned in the login jail still counts: the sshd jail bans it too',
      async () => {
        const { cfg, s, sc } = await begin('count');
        await s.ban(CLIENT_V4, { jail: 'login', duration: HOUR });
        await holding(sc, CLIENT_V4);
        expect(open(CLIENT_V4, SSH)).toBe(true);
        // what the sshd log jail records for each failure line it reads (the same store and script)
        const jail = resolveJails(cfg).get('sshd')!;
        for (let i = 0; i < jail.maxretry; i++) expect((await s.recordFailure(jail, CLIENT_V4)).alreadyBanned).toBe(false);
        await holding(sc, `${CLIENT_V4} 22`);
        expect(blocked(CLIENT_V4, SSH, ...WEB)).toBe(true);
      },
      SLOW,
    );

    it(
      'a restart keeps each rule in its shape: the kernel state is read back per address and ports',
      async () => {
        const { cfg, s, sc } = await begin('restart');
        await s.ban(CLIENT_V4, { jail: 'login', duration: HOUR });
        await s.ban(OTHER_V4, { jail: 'sshd', duration: HOUR });
        await s.ban(CLIENT_V6, { jail: 'login', duration: HOUR });
        await s.ban(CLIENT_V6, { jail: 'sshd', duration: -1 });
        const before = [CLIENT_V4, `${CLIENT_V6} 22`, CLIENT_V6, `${OTHER_V4} 22`].sort();
        await holding(sc, ...before);
        expect([...sc.owned.keys()].sort()).toEqual(before);
        expect(blocked(CLIENT_V4, ...WEB) && blocked(OTHER_V4, SSH) && blocked(CLIENT_V6, SSH, ...WEB)).toBe(true);
        await sc.stop();
        sidecar = await nsSidecar(net, cfg, { hostId: `restart-${backend}` });
        expect([...sidecar.owned.keys()].sort()).toEqual(before);
        expect(await sidecar.reconcile()).toEqual({ added: 0, removed: 0 });
        expect(open(CLIENT_V4, SSH) && open(OTHER_V4, ...WEB)).toBe(true);
        expect(blocked(CLIENT_V6, SSH, ...WEB)).toBe(true);
        await s.unban(CLIENT_V6);
        await waitFor('CLIENT_V6 lifted in both jails', () => !sidecar!.applier.holds(CLIENT_V6));
        expect(open(CLIENT_V6, SSH, ...WEB)).toBe(true);
      },
      SLOW,
    );

    it(
      "a rule of the old union shape (every jail's ports for every ban) is replaced by the jail's own, with no moment unblocked",
      async () => {
        const cfg = config();
        const now = Date.now();
        // a ban of the login jail as the new writers store it; an sshd ban as an older writer did (no {p}:jailbans entry)
        bans = await store(cfg);
        const s = bans;
        await s.ban(CLIENT_V4, { jail: 'login', duration: HOUR });
        await r.zadd('{pct}:bans', now + HOUR, OTHER_V4);
        await r.hset(`{pct}:ban:${OTHER_V4}`, 'jail', 'sshd', 'until', String(now + HOUR));
        // what the previous version left in the firewall: one rule per address closing 22, 80 and 443
        if (backend === 'nftables') {
          const t = 'inet portcullis';
          net.inServer(
            ['nft', '-f', '-'],
            [
              `add table ${t}`,
              `delete table ${t}`,
              `add table ${t}`,
              `add set ${t} v4 { type ipv4_addr; flags timeout; }`,
              `add set ${t} v6 { type ipv6_addr; flags timeout; }`,
              `add chain ${t} input { type filter hook input priority filter - 10; policy accept; }`,
              `add rule ${t} input ip saddr @v4 tcp dport { 22, 80, 443 } counter drop`,
              `add rule ${t} input ip6 saddr @v6 tcp dport { 22, 80, 443 } counter drop`,
              `add element ${t} v4 { ${CLIENT_V4} timeout 1h, ${OTHER_V4} timeout 1h }`,
              '',
            ].join('\n'),
          );
          // the start alone (before any reconcile) never narrows a live rule: the union stays until replaced
          const b = await nsBackend(net, { backend: 'nftables', ports: WEB });
          expect((await b.listOwned()).map((o) => [o.ip, o.ports]).sort()).toEqual([
            [CLIENT_V4, [22, 80, 443]],
            [OTHER_V4, [22, 80, 443]],
          ]);
          expect(blocked(CLIENT_V4, SSH, ...WEB) && blocked(OTHER_V4, SSH, ...WEB)).toBe(true);
        } else {
          for (const ip of [CLIENT_V4, OTHER_V4]) {
            net.inServer([
              'ufw',
              'prepend',
              'deny',
              'from',
              ip,
              'to',
              'any',
              'port',
              '22,80,443',
              'proto',
              'tcp',
              'comment',
              `portcullis login until ${new Date(now + HOUR).toISOString()}`,
            ]);
          }
          expect(blocked(CLIENT_V4, SSH, ...WEB) && blocked(OTHER_V4, SSH, ...WEB)).toBe(true);
        }
        sidecar = await nsSidecar(net, cfg, { hostId: `upgrade-${backend}` });
        // the first reconcile gave each ban its jail's ports: 22 is open to the login-banned address, the web to the sshd-banned one
        expect([...sidecar.owned.keys()].sort()).toEqual([CLIENT_V4, `${OTHER_V4} 22`].sort());
        expect(blocked(CLIENT_V4, ...WEB) && blocked(OTHER_V4, SSH)).toBe(true);
        expect(open(CLIENT_V4, SSH) && open(OTHER_V4, ...WEB)).toBe(true);
        if (backend === 'nftables') {
          const sets = (JSON.parse(net.inServer(['nft', '-j', 'list', 'table', 'inet', 'portcullis'])).nftables as any[])
            .filter((o) => o.set)
            .map((o) => o.set.name)
            .sort();
          // the union's set went once empty; sshd's is in use
          expect(sets).toEqual(['v4', 'v4_22', 'v6']);
        } else {
          const added = net.inServer(['ufw', 'show', 'added']);
          expect(added).not.toContain('22,80,443');
          expect(added).toContain(`ufw deny from ${CLIENT_V4} to any port 80,443 proto tcp comment 'portcullis login until`);
          expect(added).toContain(`ufw deny from ${OTHER_V4} to any port 22 proto tcp comment 'portcullis sshd until`);
        }
        expect(await sidecar.reconcile()).toEqual({ added: 0, removed: 0 });
        await s.unban(CLIENT_V4);
        await s.unban(OTHER_V4);
        await waitFor('lifted', () => !sidecar!.applier.holds(CLIENT_V4) && !sidecar!.applier.holds(OTHER_V4));
        expect(open(CLIENT_V4, SSH, ...WEB) && open(OTHER_V4, SSH, ...WEB)).toBe(true);
      },
      SLOW,
    );
  });
}
