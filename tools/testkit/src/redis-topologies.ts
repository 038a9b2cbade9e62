import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { redisAnswers, redisServerAvailable } from './redis-server.js';
import { waitFor } from './wait-for.js';

/** a CLUSTER SLOTS row: first slot, last slot, master, replicas… */
type SlotRange = [number, number, ...Array<[string, number, ...unknown[]]>];

/** A port whose cluster bus (port + 10000) is a valid, free port too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 55536 && !taken.has(port) && !taken.has(port + 10000) && !taken.has(port - 10000)) {
      taken.add(port);
      return port;
    }
  }
}

/** One redis-server process of a topology; SIGKILLed and restarted by its port. */
class Node {
  child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    /** the command line; `first` is false on a restart */
    private readonly args: (first: boolean) => string[],
  ) {}
  private started = false;

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    this.child = spawn('redis-server', this.args(!this.started), { stdio: 'ignore' });
    this.started = true;
    await waitFor(`redis-server on port ${this.port}`, () => redisAnswers(this.port), 10_000);
  }

  /** SIGKILL by PID, as a crash would */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      process.kill(child.pid!, 'SIGKILL');
    });
  }
}

/** a plain client on one node (like redis-cli -p), errors swallowed: nodes are killed on purpose */
export function nodeClient(port: number): Redis {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  return client;
}

async function onNode<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = nodeClient(port);
  try {
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

/** runs `start`; a set that fails to start is stopped (its processes killed) before the error goes on */
async function startedOrStopped<T extends { stop(): Promise<void> }>(set: T, start: () => Promise<void>): Promise<T> {
  try {
    await start();
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}

const COMMON = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];

/**
 * A real Redis Cluster of 3 masters + 3 replicas on loopback (Debian's
 * redis-server), free ports below 55536 (bus = port + 10000), no persistence:
 * a killed node comes back empty, as a lost disk would. Fast failover
 * (node timeout 1 s) so tests wait seconds, not minutes.
 */
export class RedisClusterSet {
  readonly nodes: Node[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'pc-cluster-'));

  static async start(): Promise<RedisClusterSet> {
    if (!redisServerAvailable()) throw new Error('redis-server is not installed: apt-get install redis-server');
    const set = new RedisClusterSet();
    const taken = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const port = await clusterPort(taken);
      set.nodes.push(
        new Node(port, () => [
          '--port',
          String(port),
          ...COMMON,
          '--dir',
          set.dir,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '1000',
          '--cluster-replica-validity-factor',
          '0',
          '--dbfilename',
          `dump-${port}.rdb`,
        ]),
      );
    }
    return startedOrStopped(set, async () => {
      await Promise.all(set.nodes.map((n) => n.start()));
      await execa('redis-cli', [
        '--cluster',
        'create',
        ...set.nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ]);
      await set.waitHealthy();
    });
  }

  /** startup nodes for a redis+cluster:// URL */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  node(port: number): Node {
    const n = this.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no cluster node on port ${port}`);
    return n;
  }

  /**
   * every live node agrees the cluster is ok, every slot has a live master,
   * and every live node serves in the slot map (a replica is attached)
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      'cluster_state:ok on every live node, every live node in the slot map, one map everywhere',
      async () => {
        const maps = new Set<string>();
        for (const n of this.nodes) {
          if (!n.child) continue;
          const info = await onNode(n.port, (c) => c.cluster('INFO'));
          if (!String(info).includes('cluster_state:ok')) return false;
          const slots = (await onNode(n.port, (c) => c.cluster('SLOTS'))) as unknown as SlotRange[];
          const serving = new Set(slots.flatMap(([, , ...nodes]) => nodes.map((x) => x[1])));
          if (this.nodes.some((x) => x.child && !serving.has(x.port))) return false;
          // a killed master still listed: its failure is not detected yet
          if (slots.some(([, , master]) => !this.node(master![1]).child)) return false;
          maps.add(JSON.stringify(slots.map(([from, to, master]) => [from, to, master![1]]).sort((x, y) => x[0]! - y[0]!)));
        }
        // every node agrees who owns what (gossip converged)
        if (maps.size !== 1) return false;
        return (await this.masters()).length === 3;
      },
      timeoutMs,
    );
  }

  /** the live masters that own slots, by port (asked of a live node) */
  async masters(): Promise<number[]> {
    const live = this.nodes.find((n) => n.child);
    if (!live) return [];
    const slots = (await onNode(live.port, (c) => c.cluster('SLOTS'))) as unknown as SlotRange[];
    return [...new Set(slots.map((s) => s[2]![1]))];
  }

  /** the master owning `key`'s slot, and its replicas (CLUSTER SHARDS would do too; SLOTS is simpler) */
  async ownerOf(key: string): Promise<{ master: number; replicas: number[] }> {
    const live = this.nodes.find((n) => n.child)!;
    return onNode(live.port, async (c) => {
      const slot = Number(await c.cluster('KEYSLOT', key));
      const slots = (await c.cluster('SLOTS')) as unknown as SlotRange[];
      const range = slots.find((s) => s[0] <= slot && slot <= s[1])!;
      const [, , master, ...replicas] = range;
      return { master: master![1], replicas: replicas.map((r) => r[1]) };
    });
  }

  /** a node that does not own `key`'s slot (neither master nor replica of it) */
  async nonOwnerOf(key: string): Promise<number> {
    const { master, replicas } = await this.ownerOf(key);
    return this.nodes.find((n) => n.port !== master && !replicas.includes(n.port))!.port;
  }

  /** a manual, coordinated failover: the replica `port` takes over its master's slots */
  async failover(replicaPort: number): Promise<void> {
    await onNode(replicaPort, (c) => c.cluster('FAILOVER'));
    await waitFor(`node ${replicaPort} to become master`, async () => (await onNode(replicaPort, (c) => c.role()))[0] === 'master', 30_000);
    await this.waitHealthy();
  }

  async kill(port: number): Promise<void> {
    await this.node(port).kill();
  }

  /** restarts a killed node on its port with its nodes.conf: it rejoins, empty (no persistence) */
  async restart(port: number): Promise<void> {
    await this.node(port).start();
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A real Sentinel set: 1 master + 1 replica + 3 sentinels (redis-server
 * --sentinel) on loopback, master name "mymaster", quorum 2, a master judged
 * down after 1 s.
 */
export class RedisSentinelSet {
  readonly name = 'mymaster';
  data: Node[] = [];
  sentinels: Node[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'pc-sentinel-'));

  static async start(): Promise<RedisSentinelSet> {
    if (!redisServerAvailable()) throw new Error('redis-server is not installed: apt-get install redis-server');
    const set = new RedisSentinelSet();
    const taken = new Set<number>();
    const masterPort = await clusterPort(taken);
    const replicaPort = await clusterPort(taken);
    const base = (port: number) => ['--port', String(port), ...COMMON, '--dir', set.dir, '--dbfilename', `dump-${port}.rdb`];
    set.data = [
      new Node(masterPort, () => base(masterPort)),
      // replica at first; a restart comes back bare (an empty node) and the sentinels give it its role
      new Node(replicaPort, (first) => [...base(replicaPort), ...(first ? ['--replicaof', '127.0.0.1', String(masterPort)] : [])]),
    ];
    return startedOrStopped(set, async () => {
      await Promise.all(set.data.map((n) => n.start()));
      for (let i = 0; i < 3; i++) {
        const port = await clusterPort(taken);
        const file = join(set.dir, `sentinel-${port}.conf`);
        // sentinels rewrite their own config file: it must be theirs and writable
        writeFileSync(
          file,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${set.dir}`,
            `sentinel monitor ${set.name} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${set.name} 1000`,
            `sentinel failover-timeout ${set.name} 5000`,
            `sentinel parallel-syncs ${set.name} 1`,
            '',
          ].join('\n'),
        );
        const node = new Node(port, () => [file, '--sentinel']);
        set.sentinels.push(node);
        await node.start();
      }
      await set.waitStable();
    });
  }

  get url(): string {
    return `redis+sentinel://${this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${this.name}`;
  }

  /** the master as the sentinels see it now */
  async masterPort(): Promise<number> {
    const live = this.sentinels.find((s) => s.child)!;
    const addr = (await onNode(live.port, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name))) as [string, string];
    return Number(addr[1]);
  }

  node(port: number): Node {
    const n = [...this.data, ...this.sentinels].find((x) => x.port === port);
    if (!n) throw new Error(`no node on port ${port}`);
    return n;
  }

  /** every sentinel knows the replica and the other sentinels, and the replica is in sync */
  async waitStable(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      'the sentinels to agree on a master with a synced replica',
      async () => {
        const master = await this.masterPort();
        for (const s of this.sentinels) {
          const m = (await onNode(s.port, (c) => c.call('SENTINEL', 'MASTER', this.name))) as string[];
          const f = new Map<string, string>();
          for (let i = 0; i + 1 < m.length; i += 2) f.set(m[i]!, m[i + 1]!);
          if (Number(f.get('port')) !== master || f.get('flags') !== 'master') return false;
          if (Number(f.get('num-slaves')) < 1 || Number(f.get('num-other-sentinels')) < 2) return false;
        }
        const replication = await onNode(master, (c) => c.info('replication'));
        return /slave0:.*state=online/.test(replication);
      },
      timeoutMs,
    );
  }

  /** SIGKILLs the current master and waits until the sentinels promoted the replica */
  async killMaster(): Promise<{ old: number; now: number }> {
    const old = await this.masterPort();
    await this.node(old).kill();
    const now = await waitFor(
      'the sentinels to promote the replica',
      async () => {
        const port = await this.masterPort();
        if (port === old) return false;
        return (await onNode(port, (c) => c.role()))[0] === 'master' ? port : false;
      },
      30_000,
    );
    return { old, now };
  }

  async kill(port: number): Promise<void> {
    await this.node(port).kill();
  }

  /** restarts a killed data node on its port, empty (no persistence) */
  async restart(port: number): Promise<void> {
    await this.node(port).start();
  }

  async stop(): Promise<void> {
    for (const n of [...this.sentinels, ...this.data]) await n.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
