import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveJail } from '@portcullis/core';
import { LogJail, ownAddresses } from '../src/logs/log-jail.js';
import { journalWrite, RedisServer, waitFor } from '@portcullis/testkit';
import { quiet, store, testConfig } from './harness.js';

let redis: RedisServer;
let dir: string;
beforeAll(async () => {
  redis = await RedisServer.start();
  dir = mkdtempSync(join(tmpdir(), 'pc-logjail-'));
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const line = (ip: string, port: number) => `Nov 25 08:00:01 web1 sshd[812]: Failed password for root from ${ip} port ${port} ssh2\n`;

describe('LogJail: sshd lines into the shared store', () => {
  it("never counts the host's own addresses; keeps the failing lines for the alert; a Redis outage loses no failure", async () => {
    const log = join(dir, 'auth.log');
    writeFileSync(log, '');
    const config = testConfig(redis.url, {
      jails: { sshd: { preset: 'sshd', maxretry: 3, logpath: log } },
      alerts: { webhook: { url: 'http://127.0.0.1:9/unused' } },
    });
    const jail = resolveJail('sshd', config.jails.sshd!, config);
    expect(jail.ports).toEqual([22]);
    expect(jail.log).toEqual({ filter: 'sshd', source: { kind: 'file', path: log }, banLoggedIn: false });
    const s = await store(config);
    const lj = new LogJail({
      jail,
      source: jail.log!.source,
      store: s,
      stateDir: join(dir, 'state'),
      banLoggedIn: false,
      logger: quiet,
      pollMs: 20,
      ownAddresses: () => new Set(['198.51.100.77']),
    });
    await lj.start();
    for (let i = 0; i < 5; i++) appendFileSync(log, line('198.51.100.77', 1000 + i));
    appendFileSync(log, line('203.0.113.5', 2000));
    await waitFor('the first failure of 203.0.113.5', () => lj.counted === 1);

    // (this Redis keeps nothing across a restart: the three failures written during the outage make the ban)
    await redis.kill();
    appendFileSync(log, line('203.0.113.5', 2001) + line('203.0.113.5', 2002) + line('203.0.113.5', 2003));
    await waitFor('the jail is retrying', () => lj.counted === 1 && lj.retrying);
    await redis.restart();
    // this Redis came back empty: the store waits for an operator to accept it (core's wipe guard)
    const admin = redis.client();
    await admin.hset('{pct}:meta', 'accepted', String(Math.floor(Date.now() / 1000)));
    admin.disconnect();
    await waitFor('banned after Redis came back', async () => (await s.isBanned('203.0.113.5')) !== null);
    expect(await s.isBanned('198.51.100.77')).toBeNull();
    expect(lj.counted).toBe(4);
    const recent = await s.redis.lrange('{pct}:recent:sshd:203.0.113.5', 0, -1);
    expect(recent.map((r) => JSON.parse(r).line)).toEqual(
      [2003, 2002, 2001].map((p) => `Failed password for root from 203.0.113.5 port ${p} ssh2`),
    );
    await lj.stop();
    await s.close();
  });

  it('an open SSH session spares its address, also across a restart; after its logout the address counts', async () => {
    const log = join(dir, 'auth2.log');
    writeFileSync(log, '');
    const config = testConfig(redis.url, { jails: { sshd: { preset: 'sshd', maxretry: 2, logpath: log } } });
    const jail = resolveJail('sshd', config.jails.sshd!, config);
    const s = await store(config);
    const start = async () => {
      const lj = new LogJail({
        jail,
        source: jail.log!.source,
        store: s,
        stateDir: join(dir, 'state2'),
        banLoggedIn: false,
        logger: quiet,
        pollMs: 20,
      });
      await lj.start();
      return lj;
    };
    const a = await start();
    appendFileSync(log, 'Nov 25 08:00:01 web1 sshd[9]: Accepted publickey for root from 203.0.113.30 port 5000 ssh2: ED25519 SHA256:x\n');
    await waitFor('the session', () => a.loggedIn().includes('203.0.113.30'));
    await a.stop();
    const b = await start();
    expect(b.loggedIn()).toEqual(['203.0.113.30']);
    appendFileSync(log, line('203.0.113.30', 6000) + line('203.0.113.30', 6001) + line('203.0.113.31', 7000));
    await waitFor('the line after them', () => b.counted === 1);
    expect(await s.isBanned('203.0.113.30')).toBeNull();
    appendFileSync(log, `Disconnected from user root 203.0.113.30 port 5000\n${line('203.0.113.30', 6002)}${line('203.0.113.30', 6003)}`);
    await waitFor('banned once logged out', async () => (await s.isBanned('203.0.113.30')) !== null);
    expect(b.loggedIn()).toEqual([]);
    await b.stop();
    await s.close();
  });

  it("from journald: the sshd unit's entries ban, another unit's identical text does not count", async () => {
    const file = join(dir, 'system.journal');
    const config = testConfig(redis.url, { jails: { sshd: { preset: 'sshd', maxretry: 2, journal: { file } } } });
    const jail = resolveJail('sshd', config.jails.sshd!, config);
    const s = await store(config);
    journalWrite(file, ['Server listening on 0.0.0.0 port 22.']);
    const lj = new LogJail({ jail, source: jail.log!.source, store: s, stateDir: join(dir, 'state3'), banLoggedIn: false, logger: quiet });
    await lj.start();
    // journalctl starts at the end (-n 0): write until it has seen one
    await waitFor('the first failure read', () => {
      if (lj.counted === 0) journalWrite(file, ['Failed password for root from 203.0.113.40 port 1 ssh2']);
      return lj.counted >= 1;
    });
    journalWrite(
      file,
      ['Failed password for root from 203.0.113.41 port 2 ssh2', 'Failed password for root from 203.0.113.41 port 3 ssh2'],
      'cron.service',
    );
    journalWrite(file, ['Failed password for root from 203.0.113.40 port 4 ssh2']);
    await waitFor('banned from the journal', async () => (await s.isBanned('203.0.113.40')) !== null);
    expect(await s.isBanned('203.0.113.41')).toBeNull();
    await lj.stop();
    await s.close();
  });

  it("reads the machine's own addresses from its interfaces", () => {
    expect(ownAddresses().has('127.0.0.1')).toBe(true);
  });

  it('log sources belong to log-fed jails; a jail with journal reads journald', () => {
    expect(() => testConfig(redis.url, { jails: { web: { preset: 'django.login', logpath: '/var/log/auth.log' } } })).toThrow(
      /jails\.web\.logpath: logpath belongs to a log-fed jail/,
    );
    const config = testConfig(redis.url, { jails: { sshd: { preset: 'sshd', journal: {} } } });
    expect(resolveJail('sshd', config.jails.sshd!, config).log!.source).toEqual({ kind: 'journal', units: ['ssh', 'sshd'] });
  });
});
