import type { Keys, RedisClient } from '@portcullis/core';
import type { Logger } from 'pino';
import type { StreamEntry } from './batch.js';

/** An entry set aside in {p}:events:dead, with why. */
export interface ParkedEntry {
  id: string;
  fields: string[];
  error: string;
}

export interface StreamConsumerOptions {
  /** commands (ack, park, claim, group) */
  cmd: RedisClient;
  /** blocking reads only (XREADGROUP BLOCK holds its connection) */
  reader: RedisClient;
  keys: Keys;
  /** this host's consumer group */
  group: string;
  /** our name inside the group (stable across restarts: our pending entries come back to us) */
  consumer: string;
  /** entries per read */
  batchSize: () => number;
  /** pending entries idle this long in another consumer are taken over */
  claimIdleMs: number;
  blockMs: number;
  log: Logger;
}

const DEAD_MAXLEN = 10_000;

/**
 * The Redis side of {p}:events for one host: its consumer group, reading new
 * entries, taking back the pending ones (a crash between read and ack),
 * acknowledging, and parking entries that must never be applied.
 */
export class StreamConsumer {
  /** last time Redis answered us (a read, a BLOCK timing out, an ack) */
  lastReplyAt = Date.now();
  /** read but not acked, plus not yet read (backlog) */
  pending = 0;
  private groupReady = false;
  private pendingCheckedAt = 0;
  private readonly o: StreamConsumerOptions;

  constructor(opts: StreamConsumerOptions) {
    this.o = opts;
  }

  /** the group may be gone (Redis restarted without persistence, FLUSHALL): make sure again */
  forgetGroup(): void {
    this.groupReady = false;
  }

  /**
   * Creates the group if missing, at "$": what is already banned comes from
   * {p}:bans through a reconcile, which the caller runs AFTER this (so a ban
   * written in between is either in the stream after "$" or in {p}:bans).
   * @returns true when the group was created now
   */
  async ensureGroup(): Promise<boolean> {
    if (this.groupReady) return false;
    let created = true;
    try {
      await this.o.cmd.xgroup('CREATE', this.o.keys.events, this.o.group, '$', 'MKSTREAM');
      this.o.log.info({ group: this.o.group }, 'consumer group created');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      created = false;
    }
    this.groupReady = true;
    return created;
  }

  /** new entries (null fields = deleted while pending); waits up to blockMs */
  async readNew(): Promise<StreamEntry[]> {
    const reply = (await this.o.reader.xreadgroup(
      'GROUP',
      this.o.group,
      this.o.consumer,
      'COUNT',
      this.o.batchSize(),
      'BLOCK',
      this.o.blockMs,
      'STREAMS',
      this.o.keys.events,
      '>',
    )) as Array<[string, StreamEntry[]]> | null;
    this.lastReplyAt = Date.now();
    return reply?.[0]?.[1] ?? [];
  }

  /** Takes over entries idle in other consumers of our group, then hands our own pending ones to `handle`, batch by batch. */
  async reclaim(handle: (entries: StreamEntry[]) => Promise<void>, stopping: () => boolean): Promise<void> {
    const { cmd, keys, group, consumer } = this.o;
    let cursor = '0-0';
    do {
      const reply = (await cmd.xautoclaim(keys.events, group, consumer, this.o.claimIdleMs, cursor, 'COUNT', this.o.batchSize())) as [
        string,
        StreamEntry[],
        string[]?,
      ];
      cursor = reply[0];
      const deleted = reply[2] ?? [];
      if (deleted.length) await cmd.xack(keys.events, group, ...deleted);
    } while (cursor !== '0-0' && !stopping());

    let last = '0-0';
    while (!stopping()) {
      const reply = (await cmd.xreadgroup('GROUP', group, consumer, 'COUNT', this.o.batchSize(), 'STREAMS', keys.events, last)) as Array<
        [string, StreamEntry[]]
      > | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) break;
      this.lastReplyAt = Date.now();
      this.o.log.info({ count: entries.length }, 'reclaimed pending events');
      await handle(entries);
      last = entries[entries.length - 1]![0];
    }
  }

  async ack(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      await this.o.cmd.xack(this.o.keys.events, this.o.group, ...ids.slice(i, i + 1000));
    }
    this.lastReplyAt = Date.now();
  }

  /** sets entries aside in {p}:events:dead (with the reason and this host); the caller acks them */
  async park(entries: readonly ParkedEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.o.cmd.multi();
    for (const m of entries) {
      multi.xadd(
        this.o.keys.deadEvents,
        'MAXLEN',
        '~',
        DEAD_MAXLEN,
        '*',
        'id',
        m.id,
        'error',
        m.error,
        'host',
        this.o.group,
        'parkedAt',
        String(Date.now()),
        'fields',
        JSON.stringify(m.fields),
      );
    }
    await multi.exec();
  }

  /** refreshes `pending` (at most once a second unless forced) */
  async updatePending(force = false): Promise<number> {
    const now = Date.now();
    if (!force && now - this.pendingCheckedAt < 1000) return this.pending;
    this.pendingCheckedAt = now;
    const groups = (await this.o.cmd.xinfo('GROUPS', this.o.keys.events)) as Array<Array<string | number | null>>;
    this.lastReplyAt = Date.now();
    for (const g of groups) {
      const info: Record<string, string | number | null> = {};
      for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1] ?? null;
      if (info.name === this.o.group) this.pending = Number(info.pending ?? 0) + Number(info.lag ?? 0);
    }
    return this.pending;
  }
}
