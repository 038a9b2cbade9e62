import { describe, expect, it } from 'vitest';
import { startSidecar, type Sidecar } from '@portcullis/sidecar';
import { useTopologies } from '@portcullis/testkit/fixtures';
import { getJson, quiet, store, testConfig } from './harness.js';
import { waitFor } from '@portcullis/testkit';

const sets = useTopologies();

async function sidecar(url: string, hostId: string): Promise<Sidecar> {
  const s = await startSidecar(testConfig(url), { hostId, healthPort: 0, logger: quiet, blockMs: 500 });
  await s.ready;
  return s;
}

describe('the sidecar on Sentinel and Cluster: every ban applied, through a failover', () => {
  it.each([
    [
      'Cluster',
      () => sets.cluster.url,
      async () => {
        const { replicas } = await sets.cluster.ownerOf('{pct}:events');
        await sets.cluster.failover(replicas[0]!);
        // then the new master killed outright
        await sets.cluster.kill(replicas[0]!);
        await sets.cluster.waitHealthy();
        return () => sets.cluster.restart(replicas[0]!).then(() => sets.cluster.waitHealthy());
      },
    ],
    [
      'Sentinel',
      () => sets.sentinel.url,
      async () => {
        const { old } = await sets.sentinel.killMaster();
        return () => sets.sentinel.restart(old).then(() => sets.sentinel.waitStable());
      },
    ],
  ] as const)(
    '%s',
    async (_name, url, failover) => {
      const config = testConfig(url());
      const [a, b] = [await sidecar(url(), 'topo-a'), await sidecar(url(), 'topo-b')];
      const bs = await store(config);
      try {
        await bs.ban('203.0.113.60', { duration: 3_600_000 });
        await waitFor('both hosts apply the ban', () => a.owned.has('203.0.113.60') && b.owned.has('203.0.113.60'));
        const reconciledAt = (x: Sidecar) => Date.parse(String(x.healthReport().lastReconcileAt));
        const before = [reconciledAt(a), reconciledAt(b)];
        const heal = await failover();
        // a reconcile follows the failover on every host (the periodic one is 1 h away)
        await waitFor(
          'a reconcile after the failover on both hosts',
          () => reconciledAt(a) > before[0]! && reconciledAt(b) > before[1]!,
          30_000,
        );
        // a ban made after the failover reaches every sidecar (at least once: applying twice is harmless)
        await waitFor(
          'a ban after the failover on both hosts',
          async () => {
            await bs.ban('203.0.113.61', { duration: 3_600_000 }).catch(() => {});
            return a.owned.has('203.0.113.61') && b.owned.has('203.0.113.61');
          },
          30_000,
          250,
        );
        // nothing lifted; each host reads its stream again and says so
        for (const s of [a, b]) {
          await s.reconcile();
          expect(s.owned.has('203.0.113.60')).toBe(true);
          await waitFor('healthy after the failover', async () => (await getJson(s.healthPort, '/healthz')).status === 200, 30_000);
        }
        await heal();
      } finally {
        await bs.close();
        await a.stop();
        await b.stop();
      }
    },
    180_000,
  );
});

describe('the sidecar pointed at the wrong node', () => {
  it('a non-owner cluster node as one server or a replica: /healthz fails and says which, in one line', async () => {
    const master = await sets.sentinel.masterPort();
    const replicaPort = sets.sentinel.data.map((n) => n.port).find((p) => p !== master)!;
    for (const [url, why] of [
      [`redis://127.0.0.1:${await sets.cluster.nonOwnerOf('{pct}:events')}`, /is a Redis Cluster node: use redis\+cluster:\/\//],
      [`redis://127.0.0.1:${replicaPort}`, /is a read-only replica of 127\.0\.0\.1:\d+/],
    ] as const) {
      const s = await startSidecar(testConfig(url), { hostId: 'wrong-node', healthPort: 0, logger: quiet, blockMs: 500 });
      s.ready.catch(() => {});
      try {
        await waitFor(
          `/healthz names the wrong node (${url})`,
          async () => {
            const res = await getJson(s.healthPort, '/healthz');
            return res.status !== 200 && why.test(JSON.stringify(res.body));
          },
          20_000,
        );
      } finally {
        await s.stop();
      }
    }
  }, 60_000);
});
