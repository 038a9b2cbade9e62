import type { Redis } from 'ioredis';

/** between attempts to reconnect the subscriber: quick at first, at most 2 s */
const RECONNECT_DELAY = (times: number) => Math.min(100 * times, 2000);
/** between attempts to SUBSCRIBE on a live connection that refused it */
const RESUBSCRIBE_DELAY = 500;

/**
 * A pub/sub subscription that holds whatever Redis does: its own connection
 * retries forever (even for a store that gives up at once, like the CLI's),
 * and SUBSCRIBE is sent again on every (re)connect, after which
 * `onSubscribed` runs: notices published while it did not hold are lost, so
 * the caller resyncs then. Starting it never waits for Redis.
 */
export class KeptSubscription {
  private readonly sub: Redis;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    client: Redis,
    private readonly channel: string,
    onMessage: (message: string) => void,
    private readonly onSubscribed: () => void,
  ) {
    this.sub = client.duplicate({
      lazyConnect: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      // we subscribe ourselves on 'ready', so we know when it holds
      autoResubscribe: false,
      commandTimeout: undefined,
      retryStrategy: RECONNECT_DELAY,
    });
    this.sub.on('error', () => {}); // reconnects by itself; the store's state reports outages
    this.sub.on('message', (_channel: string, message: string) => onMessage(message));
    this.sub.on('ready', () => void this.hold());
    // a first failure only means Redis is not there yet: the retry strategy keeps trying
    void this.sub.connect().catch(() => {});
  }

  private async hold(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.sub.subscribe(this.channel);
    } catch {
      // the connection dropped: 'ready' comes again; otherwise try once more soon
      if (!this.stopped && this.sub.status === 'ready') {
        this.retry = setTimeout(() => void this.hold(), RESUBSCRIBE_DELAY);
        this.retry.unref();
      }
      return;
    }
    if (this.stopped) return;
    try {
      this.onSubscribed();
    } catch {
      // the caller's fault; the subscription holds either way
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.sub.disconnect();
  }
}
