import type { Cluster, Redis } from 'ioredis';
import { nodeClient, slotOwner } from './slot-owner.js';

/** how often the owner of the channel's slot is checked */
const CHECK_EVERY = 1000;

/**
 * KeptSubscription's counterpart on a Redis Cluster: SSUBSCRIBE (Redis 7+;
 * SUBSCRIBE before) on the master that owns the channel's slot, the {p}
 * slot, where the scripts SPUBLISH. Every second it asks the cluster who
 * owns the slot; after a failover (or when its connection died) it
 * subscribes on the new owner and calls `onSubscribed`, because notices
 * published meanwhile were lost and the caller resyncs then.
 *
 * Why not ioredis's `shardedSubscribers`: it resubscribes on its own and
 * tells nobody, and a cache must know when it may have missed a notice.
 */
export class ShardedSubscription {
  private sub: Redis | null = null;
  private node: string | null = null;
  private checking = false;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly cluster: Cluster,
    private readonly channel: string,
    private readonly onMessage: (message: string) => void,
    private readonly onSubscribed: () => void,
  ) {
    this.timer = setInterval(() => void this.check(), CHECK_EVERY);
    this.timer.unref();
    void this.check();
  }

  private async check(): Promise<void> {
    if (this.checking || this.stopped || this.cluster.status !== 'ready') return;
    this.checking = true;
    try {
      const owner = await slotOwner(this.cluster, this.channel);
      const live = this.sub !== null && this.sub.status !== 'end' && this.sub.status !== 'close';
      if (owner !== this.node || !live) await this.moveTo(owner);
    } catch {
      // the cluster is failing over or unreachable: the next check tries again
    } finally {
      this.checking = false;
    }
  }

  private async moveTo(owner: string): Promise<void> {
    this.drop();
    const base = nodeClient(this.cluster, owner);
    if (!base) return;
    const sub = base.duplicate({
      lazyConnect: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      commandTimeout: 5000,
      // a dead node is not waited for: the next check finds the new owner
      retryStrategy: () => null,
    });
    sub.on('error', () => {});
    const deliver = (_channel: string, message: string) => onMessageSafe(this.onMessage, message);
    sub.on('smessage', deliver);
    sub.on('message', deliver);
    this.sub = sub;
    this.node = owner;
    await sub.connect();
    // the scripts SPUBLISH on Redis 7+ (see RedisBanStore.verify), PUBLISH before: listen the same way
    if (await supportsShardedPubSub(sub)) await sub.ssubscribe(this.channel);
    else await sub.subscribe(this.channel);
    if (this.sub !== sub || this.stopped) return;
    try {
      this.onSubscribed();
    } catch {
      // the caller's fault; the subscription holds either way
    }
  }

  private drop(): void {
    this.sub?.disconnect();
    this.sub = null;
    this.node = null;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.drop();
  }
}

/** Redis 7+ has SPUBLISH/SSUBSCRIBE */
export async function supportsShardedPubSub(redis: Redis): Promise<boolean> {
  const info = await redis.info('server');
  return Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0) >= 7;
}

function onMessageSafe(onMessage: (message: string) => void, message: string): void {
  try {
    onMessage(message);
  } catch {
    // a listener's fault must not break the subscription
  }
}
