import type { RedisClient } from '../redis.js';
import type { StoreState } from './types.js';

type Listener = (state: StoreState, err?: unknown) => void;

/**
 * A Redis client's connection, as a store reports it: 'up' from 'ready'
 * until the connection closes, 'down' otherwise. Listeners hear every
 * transition once (ioredis repeats 'error' on each failed reconnect; those
 * are not transitions). `err` is the last error the client reported.
 * `verify` runs on every 'ready' first: a node that answers but is the wrong
 * one (topology-check.ts) keeps the state 'down' with that one clear line.
 */
export class ConnectionState {
  private current: StoreState;
  private lastError: unknown = undefined;
  private readonly listeners = new Set<Listener>();

  constructor(redis: RedisClient, verify: () => Promise<Error | null> = async () => null) {
    this.current = redis.status === 'ready' ? 'up' : 'down';
    redis.on('ready', () => {
      this.lastError = undefined;
      void verify().then(
        (problem) => {
          if (redis.status !== 'ready') return;
          if (problem) {
            this.lastError = problem;
            this.set('down', problem);
          } else this.set('up');
        },
        () => this.set('up'),
      );
    });
    redis.on('error', (err: unknown) => {
      this.lastError = err;
    });
    const lost = () => this.set('down', this.lastError ?? new Error('Redis connection closed'));
    redis.on('close', lost);
    redis.on('end', lost);
  }

  get state(): StoreState {
    return this.current;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(state: StoreState, err?: unknown): void {
    if (state === this.current) return;
    this.current = state;
    for (const listener of [...this.listeners]) {
      try {
        listener(state, err);
      } catch {
        // a listener's fault must not break the client's event handling
      }
    }
  }
}
