import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PortcullisConfigInput } from '@portcullis/core';
import { startStandInDjango, type StandInDjango } from '../examples/gateway/src/stand-in-django.js';
import { nodeClient, RedisServer, waitFor } from '@portcullis/testkit';
import { send, startGateway, type TestGateway, useTopologies } from '@portcullis/testkit/fixtures';

const sets = useTopologies();
let single: RedisServer;
let django: StandInDjango;
const open: TestGateway[] = [];

beforeAll(async () => {
  [single, django] = await Promise.all([RedisServer.start(), startStandInDjango()]);
});
afterAll(async () => {
  await django?.close();
  await single?.stop();
});
afterEach(async () => {
  for (const g of open.splice(0)) await g.close();
});

const config = (redis: string): PortcullisConfigInput => ({
  redis,
  trustProxy: ['127.0.0.1'],
  defaults: { bantime: 3600, findtime: 600, maxretry: 3 },
  jails: { 'django-login': { preset: 'django.login' } },
  gateway: { resyncInterval: '1s' },
});

async function gateways(redis: string): Promise<[TestGateway, TestGateway]> {
  const a = await startGateway(config(redis), django.url);
  const b = await startGateway(config(redis), django.url);
  open.push(a, b);
  return [a, b];
}

const blocked = async (g: TestGateway, ip: string) => (await send(g.url, '/ok/', { method: 'GET', ip })).status === 403;

/** bans `ip` through gateway `a` by failed logins, retrying while Redis fails over; true once both gateways block it */
async function banThrough(a: TestGateway, b: TestGateway, ip: string): Promise<void> {
  await waitFor(
    `${ip} banned through the gateway and blocked at both`,
    async () => {
      if (!(await blocked(a, ip))) await send(a.url, '/auth/login/', { ip });
      return (await blocked(a, ip)) && (await blocked(b, ip));
    },
    30_000,
  );
}

/**
 * Requests from many addresses while `disrupt` runs: every one must be
 * answered (the gateway fails open), none with a 5xx or a dropped socket.
 */
async function answeredThroughout(g: TestGateway[], disrupt: () => Promise<void>): Promise<number> {
  let stop = false;
  const statuses: number[] = [];
  const errors: unknown[] = [];
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      const ip = `198.51.100.${(i % 200) + 1}`;
      const path = i % 2 ? '/ok/' : '/auth/login/';
      const res = await Promise.allSettled(g.map((x) => send(x.url, path, { ip, method: i % 2 ? 'GET' : 'POST' })));
      for (const r of res) {
        if (r.status === 'fulfilled') statuses.push(r.value.status);
        else errors.push(r.reason);
      }
    }
  })();
  try {
    await disrupt();
  } finally {
    stop = true;
    await load;
  }
  expect(errors).toEqual([]);
  expect(statuses.filter((s) => s >= 500)).toEqual([]);
  return statuses.length;
}

describe.each([
  ['one server', () => single.url],
  ['Sentinel', () => sets.sentinel.url],
  ['Cluster', () => sets.cluster.url],
])('gateways on %s', (_name, url) => {
  it('a ban made at gateway A blocks at gateway B; an unban lifts it at both', async () => {
    const [a, b] = await gateways(url());
    const ip = '203.0.113.40';
    await banThrough(a, b, ip);
    await b.guard.store.unban(ip);
    await waitFor('the unban at both gateways', async () => !(await blocked(a, ip)) && !(await blocked(b, ip)), 30_000);
  }, 60_000);
});

describe('failover: requests answered, recording resumes, bans hold', () => {
  it('CLUSTER FAILOVER, then the {p} master killed by PID', async () => {
    const [a, b] = await gateways(sets.cluster.url);
    await banThrough(a, b, '203.0.113.101');
    const { replicas } = await sets.cluster.ownerOf('{portcullis}:bans');
    const served = await answeredThroughout([a, b], () => sets.cluster.failover(replicas[0]!));
    expect(served).toBeGreaterThan(0);
    await banThrough(a, b, '203.0.113.102');
    await answeredThroughout([a, b], async () => {
      await sets.cluster.kill(replicas[0]!);
      await sets.cluster.waitHealthy();
    });
    await banThrough(a, b, '203.0.113.103');
    // no ban lifted by any of it, at either gateway
    for (const g of [a, b]) {
      await g.guard.resync();
      for (const ip of ['203.0.113.101', '203.0.113.102', '203.0.113.103']) expect(await blocked(g, ip)).toBe(true);
    }
    await sets.cluster.restart(replicas[0]!);
    await sets.cluster.waitHealthy();
  }, 180_000);

  it("Sentinel's master killed: the replica takes over, the gateways follow", async () => {
    const [a, b] = await gateways(sets.sentinel.url);
    await banThrough(a, b, '203.0.113.111');
    let old = 0;
    await answeredThroughout([a, b], async () => {
      ({ old } = await sets.sentinel.killMaster());
    });
    await banThrough(a, b, '203.0.113.112');
    for (const g of [a, b]) {
      await g.guard.resync();
      expect(await blocked(g, '203.0.113.111')).toBe(true);
    }
    await sets.sentinel.restart(old);
    await sets.sentinel.waitStable();
  }, 180_000);

  it('an empty former master coming back wipes Redis: no gateway drops a ban until an operator accepts', async () => {
    const [a, b] = await gateways(sets.sentinel.url);
    await banThrough(a, b, '203.0.113.121');
    // the master dies and comes back at once, empty (no persistence), before any failover: its replica resyncs to nothing
    const master = await sets.sentinel.masterPort();
    await sets.sentinel.kill(master);
    await sets.sentinel.restart(master);
    await waitFor(
      'Redis to be empty',
      async () => {
        const c = nodeClient(await sets.sentinel.masterPort());
        try {
          return (await c.exists('{portcullis}:bans')) === 0 && (await c.ping()) === 'PONG';
        } finally {
          c.disconnect();
        }
      },
      30_000,
    );
    await waitFor('both gateways to reconnect', () => a.guard.store.state === 'up' && b.guard.store.state === 'up', 30_000);
    for (const g of [a, b]) {
      await waitFor(
        'the marker check after the reconnect',
        async () => {
          await g.guard.resync();
          return (g.guard.store as { marker?: { wiped: unknown } }).marker?.wiped != null;
        },
        30_000,
      );
      expect(await blocked(g, '203.0.113.121')).toBe(true);
    }
    // recording goes on meanwhile: a new offender is banned everywhere
    await banThrough(a, b, '203.0.113.122');
    // the operator accepts the Redis as it is: the next reload takes it
    const c = nodeClient(await sets.sentinel.masterPort());
    await c.hset('{portcullis}:meta', 'accepted', String(Date.now()));
    c.disconnect();
    await waitFor(
      'the gateways to take the accepted Redis',
      async () => {
        for (const g of [a, b]) await g.guard.resync();
        return !(await blocked(a, '203.0.113.121')) && !(await blocked(b, '203.0.113.121'));
      },
      30_000,
    );
    expect(await blocked(a, '203.0.113.122')).toBe(true);
    await sets.sentinel.waitStable();
  }, 180_000);
});
