import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { PortcullisError, type BanChange, type BanStore } from '@portcullis/core';
import { BanCache } from './ban-cache.js';
import type { OutageLog } from './outage.js';

export interface CacheSyncOptions {
  store: BanStore;
  cache: BanCache;
  outage: OutageLog;
  /** how often the cache reads what changed (ms) */
  resyncInterval: number;
  /** how long start() waits for the store to connect (ms) */
  readyTimeout: number;
  /** bans per page of a full load */
  pageSize?: number;
  /** a full load retries failed pages until this much time has passed (ms) */
  loadBudget?: number;
}

/** changes per read of the change log */
const LOG_READ = 1000;
const DEFAULT_PAGE = 2000;
const DEFAULT_LOAD_BUDGET = 120_000;

type Mode = 'full' | 'changes';

/**
 * Keeps a gateway's BanCache in step with the store, off the request path:
 *
 * - a full load reads the active bans page by page (a cursor scan, each page
 *   under the store's own command timeout, the event loop free between pages)
 *   into a new cache swapped in at the end, then applies what the change log
 *   recorded meanwhile;
 * - live notices (subscribe) apply at once;
 * - every resyncInterval, after a reconnect and after the subscription
 *   (re)holds, only what changed since the cache's change-log position is
 *   read; a full load only when the log no longer reaches back that far.
 *
 * Notices that arrive while a load or a read runs are applied again at its
 * end, so a read answered before a notice cannot undo it.
 */
export class CacheSync {
  private position: string | null = null;
  /** notices that arrived while a load or read runs */
  private late: BanChange[] | null = null;
  private running: Promise<void> | null = null;
  private queued: Mode | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private offState: (() => void) | null = null;
  private started = false;
  private closed = false;
  /** when the cache last finished a load or a read of the change log (ms), for the health report */
  syncedAt: number | null = null;
  /** the live notices hold (since the last time the store (re)subscribed), for the health report */
  subscribed = false;

  constructor(private readonly opts: CacheSyncOptions) {}

  /** Connects, subscribes and loads the active bans; never rejects for a store outage. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { store, outage } = this.opts;
    this.offState = store.onStateChange((state, err) => {
      if (state === 'down') {
        this.subscribed = false;
        outage.failed(err);
      }
      // back after an outage: read what was missed
      else void this.catchUp();
    });
    try {
      await store.connect(this.opts.readyTimeout);
    } catch (err) {
      outage.failed(err);
      // keep going: the store reconnects by itself and the cache loads when it is up
    }
    const off = await store.subscribe((change) => this.onNotice(change), {
      // (re)subscribed: notices may have been missed until now
      onSubscribed: () => {
        this.subscribed = true;
        void this.catchUp();
      },
    });
    if (this.closed) {
      await off();
      return;
    }
    this.unsubscribe = off;
    // the first load (often already started by the 'up' transition: joined, not repeated)
    if (store.state === 'up') await this.catchUp();
    this.timer = setInterval(() => void this.catchUp().then(() => this.sweep()), this.opts.resyncInterval);
    this.timer.unref();
  }

  /** Reloads every ban now (heals even writes that bypassed the change log). */
  reload(): Promise<void> {
    return this.run('full');
  }

  /** Reads what changed since the last read (a full load when there is no position to read from). */
  catchUp(): Promise<void> {
    return this.run('changes');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offState?.();
    if (this.unsubscribe) await this.unsubscribe();
    this.unsubscribe = null;
  }

  /** a full pass over the cache forgetting ended bans, a step at a time (the event loop stays free) */
  private async sweep(): Promise<void> {
    const now = Date.now();
    while (!this.closed && !this.opts.cache.sweep(now)) await yieldToRequests();
  }

  private onNotice(change: BanChange): void {
    this.late?.push(change);
    this.opts.cache.apply(change);
  }

  /** One load or read at a time; requests meanwhile are coalesced into one more run ('full' wins). */
  private run(mode: Mode): Promise<void> {
    if (this.running) {
      if (this.queued !== 'full') this.queued = mode;
      return this.running;
    }
    this.running = (async () => {
      let next: Mode | null = mode;
      while (next && !this.closed) {
        this.queued = null;
        const late: BanChange[] = [];
        this.late = late;
        try {
          if (next === 'full' || this.position === null || !(await this.readChanges(late))) await this.loadAll(late);
          this.syncedAt = Date.now();
          this.opts.outage.recovered();
        } catch (err) {
          this.opts.outage.failed(err);
        } finally {
          this.late = null;
        }
        next = this.queued;
      }
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Applies the change log since the cache's position to the live cache; false when the log has a gap. */
  private async readChanges(late: BanChange[]): Promise<boolean> {
    const at = await this.applyLog(this.position!, this.opts.cache, Date.now() + this.opts.resyncInterval);
    if (at === null) return false;
    this.position = at;
    for (const change of late) this.opts.cache.apply(change);
    return true;
  }

  private async loadAll(late: BanChange[]): Promise<void> {
    const { store, cache } = this.opts;
    const deadline = Date.now() + (this.opts.loadBudget ?? DEFAULT_LOAD_BUDGET);
    for (;;) {
      const position = await store.changeLogPosition();
      const next = new BanCache();
      let cursor = '0';
      do {
        const page = await this.retrying(() => store.activeBansPage(cursor, { count: this.opts.pageSize ?? DEFAULT_PAGE }), deadline);
        for (const b of page.bans) next.add(b.ip, b.until);
        cursor = page.cursor;
        // requests are served between pages
        await yieldToRequests();
      } while (cursor !== '0');
      // what changed during the scan, then the notices that arrived meanwhile
      const at = await this.applyLog(position, next, deadline);
      if (at === null) {
        // so much changed during the scan that the log was trimmed past its start: scan again
        if (Date.now() > deadline) throw new Error('ban cache: the change log outran every full load within the budget');
        continue;
      }
      for (const change of late) next.apply(change);
      cache.adopt(next);
      this.position = at;
      return;
    }
  }

  /** Applies the change log after `from` to `cache`; the position reached, or null on a gap. */
  private async applyLog(from: string, cache: BanCache, deadline: number): Promise<string | null> {
    let at = from;
    for (;;) {
      const read = await this.retrying(() => this.opts.store.readChangeLog(at, LOG_READ), deadline);
      if (read === null) return null;
      for (const change of read.changes) cache.apply(change);
      at = read.position;
      if (read.changes.length < LOG_READ) return at;
      await yieldToRequests();
    }
  }

  /** A page that fails (a command timeout on a busy Redis) is tried again while the store is up and time remains. */
  private async retrying<T>(read: () => Promise<T>, deadline: number): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (err) {
        // a PortcullisError is an answer, not a hiccup (a wiped Redis, a wrong node): no retry
        if (this.closed || err instanceof PortcullisError || this.opts.store.state === 'down' || Date.now() + 100 * attempt > deadline)
          throw err;
        await new Promise((r) => setTimeout(r, Math.min(100 * attempt, 1000)));
      }
    }
  }
}
