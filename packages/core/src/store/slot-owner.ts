import type { Cluster, Redis } from 'ioredis';

type SlotRange = [number, number, ...Array<[string, number, ...unknown[]]>];

const slotOfKey = new WeakMap<Cluster, Map<string, number>>();

/** The slot of a key (CLUSTER KEYSLOT, asked once per key and cluster). */
async function keySlot(cluster: Cluster, key: string): Promise<number> {
  let known = slotOfKey.get(cluster);
  if (!known) {
    known = new Map();
    slotOfKey.set(cluster, known);
  }
  let slot = known.get(key);
  if (slot === undefined) {
    slot = Number(await cluster.cluster('KEYSLOT', key));
    known.set(key, slot);
  }
  return slot;
}

/**
 * "host:port" of the master owning `key`'s slot, as the cluster says now
 * (CLUSTER SLOTS, not the client's cached map, which lags a failover).
 */
export async function slotOwner(cluster: Cluster, key: string): Promise<string> {
  const slot = await keySlot(cluster, key);
  const ranges = (await cluster.cluster('SLOTS')) as SlotRange[];
  const range = ranges.find(([from, to]) => from <= slot && slot <= to);
  if (!range) throw new Error(`no master serves slot ${slot} of ${key}`);
  const [host, port] = range[2]!;
  return `${host}:${port}`;
}

/**
 * The cluster client's own connection to that master: no new client is
 * made (its options, password and TLS included, are the cluster's). When
 * the client does not know the node yet, its slot map is refreshed and
 * undefined returned: ask again shortly.
 */
export function nodeClient(cluster: Cluster, nodeKey: string): Redis | undefined {
  const node = cluster.nodes('all').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
  if (!node) cluster.refreshSlotsCache();
  return node;
}

/**
 * Calls `onChange` when another master takes over `key`'s slot (a
 * failover): a Cluster client stays 'ready' through one, so this is the
 * moment to look at the data again (marker) and, for a sidecar, reconcile.
 * Judged on the client's own slot map, refreshed on MOVED and every few
 * seconds. Returns a function that stops watching.
 */
export function watchSlotOwner(cluster: Cluster, key: string, onChange: (owner: string) => void): () => void {
  let owner: string | undefined;
  const look = async () => {
    const now = cluster.slots[await keySlot(cluster, key)]?.[0];
    if (now === undefined) return;
    const changed = owner !== undefined && now !== owner;
    owner = now;
    if (changed) onChange(now);
  };
  const onRefresh = () => void look().catch(() => {});
  cluster.on('refresh', onRefresh);
  cluster.on('ready', onRefresh);
  return () => {
    cluster.off('refresh', onRefresh);
    cluster.off('ready', onRefresh);
  };
}
