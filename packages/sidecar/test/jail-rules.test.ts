import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DryRunBackend, Sidecar } from '@portcullis/sidecar';
import { redisServerAvailable, waitFor } from '@portcullis/testkit';
import { redisSidecarSuite, store, testConfig } from './harness.js';

const skip = redisServerAvailable() ? null : 'needs redis-server (apt-get install redis-server)';
if (skip) console.warn(`[skipped] per-jail rule tests: ${skip}`);

describe.runIf(skip === null)('the firewall holds one rule per address and jail ports (dry-run backend, real Redis)', () => {
  const suite = redisSidecarSuite();
  const dir = mkdtempSync(join(tmpdir(), 'pc-jail-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = () => {
    writeFileSync(join(dir, 'auth.log'), '');
    return testConfig(suite.server.url, {
      jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd', logpath: join(dir, 'auth.log') } },
      firewall: { ports: [80, 443] },
      sidecar: { stateDir: join(dir, 'state') },
    });
  };
  const rules = (s: Sidecar) => (s.backend as DryRunBackend).rules;
  const HOUR = 3_600_000;

  it('events: each jail its rule and end; one jail re-banned leaves the other; an unban lifts both', async () => {
    const cfg = config();
    const s = await suite.start(cfg, { hostId: 'ev' });
    const bs = await store(cfg);
    const login = await bs.ban('203.0.113.1', { jail: 'login', duration: HOUR });
    const sshd = await bs.ban('203.0.113.1', { jail: 'sshd', duration: 2 * HOUR });
    await waitFor('two rules', () => rules(s).size === 2);
    expect(rules(s).get('203.0.113.1')).toMatchObject({ jail: 'login', until: login.at + HOUR });
    expect(rules(s).get('203.0.113.1 22')).toMatchObject({ jail: 'sshd', until: sshd.at + 2 * HOUR, ports: [22] });
    // a shorter login ban replaces the login rule's end only (the address stays banned until the sshd end)
    const shorter = await bs.ban('203.0.113.1', { jail: 'login', duration: 60_000 });
    expect(shorter.until).toBe(sshd.at + 2 * HOUR);
    await waitFor('login rule shortened', () => rules(s).get('203.0.113.1')?.until === shorter.at + 60_000);
    expect(rules(s).get('203.0.113.1 22')?.until).toBe(sshd.at + 2 * HOUR);
    await bs.unban('203.0.113.1');
    await waitFor('both lifted', () => rules(s).size === 0);
    await bs.close();
  });

  it("reconcile: rules from {p}:jailbans, clamped to the address's end; a ban written before it by its hash's jail; stale entries ignored", async () => {
    const cfg = config();
    const bs = await store(cfg);
    const now = Date.now();
    await bs.ban('203.0.113.2', { jail: 'login', duration: HOUR, now });
    await bs.ban('203.0.113.2', { jail: 'sshd', duration: -1, now });
    // an older writer: {p}:bans and the hash only
    await suite.r.zadd('{pct}:bans', now + HOUR, '203.0.113.3');
    await suite.r.hset('{pct}:ban:203.0.113.3', 'jail', 'sshd', 'until', String(now + HOUR));
    // an older writer replaced this one's ban (shorter, other jail): the jail entry no longer stands past it, the hash's jail has its rule
    await bs.ban('203.0.113.4', { jail: 'sshd', duration: -1, now });
    await suite.r.zadd('{pct}:bans', now + HOUR, '203.0.113.4');
    await suite.r.hset('{pct}:ban:203.0.113.4', 'jail', 'login', 'until', String(now + HOUR));
    // a jail entry whose address is not banned (lifted by hand in redis-cli)
    await suite.r.zadd('{pct}:jailbans', now + HOUR, 'login:203.0.113.5');
    const s = await suite.start(cfg, { hostId: 'rc' });
    const held = Object.fromEntries([...s.owned].map(([key, o]) => [key, [o.jail, o.until]]));
    expect(held).toEqual({
      '203.0.113.2': ['login', now + HOUR],
      '203.0.113.2 22': ['sshd', -1],
      '203.0.113.3 22': ['sshd', now + HOUR],
      '203.0.113.4': ['login', now + HOUR],
      '203.0.113.4 22': ['sshd', now + HOUR],
    });
    expect(await s.reconcile()).toEqual({ added: 0, removed: 0 });
    await bs.close();
  });
});
