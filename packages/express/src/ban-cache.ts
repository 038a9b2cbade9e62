import type { ActiveBan, BanChange } from '@portcullis/core';
import { AddressTable } from './address-table.js';
import { v4Number, v6Words } from './address-words.js';
import { RangeTable } from './range-table.js';

/**
 * The gateway's local copy of the active bans, so a clean request costs no
 * Redis round trip. Exact addresses in typed-array hash tables (one per
 * family: no object per ban, so a million bans neither bloat the heap nor
 * slow the garbage collector); CIDR bans in a RangeTable (a lookup costs
 * O(address bits), a load O(n)).
 * Also remembers failures still being recorded, so the next request of that
 * address can wait for the verdict ("banned at the next request").
 */
export class BanCache {
  private v4 = new AddressTable(1);
  private v6 = new AddressTable(4);
  private ranges = new RangeTable();
  private sweepAt: { table: 'v4' | 'v6' | 'ranges'; shard: number } = { table: 'v4', shard: 0 };
  private readonly pending = new Map<string, Promise<unknown>>();

  get size(): number {
    return this.v4.size + this.v6.size + this.ranges.size;
  }

  /** until (ms, -1 forever) when `ip` (canonical) is banned at `now`, else 0. */
  bannedUntil(ip: string, now: number): number {
    const until = this.exactUntil(ip);
    if (until !== undefined) {
      if (until === -1 || until > now) return until;
      this.remove(ip);
    }
    return this.ranges.size === 0 ? 0 : this.ranges.bannedUntil(ip, now);
  }

  add(ip: string, until: number): void {
    if (ip.includes('/')) {
      this.ranges.set(ip, until);
    } else if (ip.includes(':')) {
      const w = v6Words(ip);
      if (w) this.v6.set(w[0], until, w[1], w[2], w[3]);
    } else {
      const n = v4Number(ip);
      if (n >= 0) this.v4.set(n, until);
    }
  }

  remove(ip: string): void {
    if (ip.includes('/')) {
      this.ranges.delete(ip);
    } else if (ip.includes(':')) {
      const w = v6Words(ip);
      if (w) this.v6.delete(w[0], w[1], w[2], w[3]);
    } else {
      const n = v4Number(ip);
      if (n >= 0) this.v4.delete(n);
    }
  }

  /**
   * One step of forgetting bans that have ended (a lookup forgets the ones it
   * meets; this gets the rest): call it now and then; true once a whole pass
   * is complete.
   */
  sweep(now: number): boolean {
    const at = this.sweepAt;
    if (at.table === 'ranges') {
      this.ranges.sweep(now);
      this.sweepAt = { table: 'v4', shard: 0 };
      return true;
    }
    const next = (at.table === 'v4' ? this.v4 : this.v6).sweep(now, at.shard);
    this.sweepAt = next !== 0 ? { table: at.table, shard: next } : { table: at.table === 'v4' ? 'v6' : 'ranges', shard: 0 };
    return false;
  }

  private exactUntil(ip: string): number | undefined {
    if (ip.includes(':')) {
      if (this.v6.size === 0) return undefined;
      const w = v6Words(ip);
      return w ? this.v6.get(w[0], w[1], w[2], w[3]) : undefined;
    }
    if (this.v4.size === 0) return undefined;
    const n = v4Number(ip);
    return n < 0 ? undefined : this.v4.get(n);
  }

  apply(change: BanChange): void {
    if (change.type === 'ban') this.add(change.ip, change.until);
    else this.remove(change.ip);
  }

  /** Replaces every ban with a fresh snapshot from the store. */
  replace(bans: readonly ActiveBan[]): void {
    const next = new BanCache();
    for (const b of bans) next.add(b.ip, b.until);
    this.adopt(next);
  }

  /** Takes over the bans of `other` (a snapshot loaded page by page aside); pending recordings stay. */
  adopt(other: BanCache): void {
    this.v4 = other.v4;
    this.v6 = other.v6;
    this.ranges = other.ranges;
    this.sweepAt = { table: 'v4', shard: 0 };
  }

  pendingFor(ip: string): Promise<unknown> | undefined {
    // nothing being recorded (every clean request asks): no need to hash the address
    return this.pending.size === 0 ? undefined : this.pending.get(ip);
  }

  /** Tracks an in-flight recording for `ip`; the newest one wins. */
  track(ip: string, recording: Promise<unknown>): void {
    this.pending.set(ip, recording);
    const done = () => {
      if (this.pending.get(ip) === recording) this.pending.delete(ip);
    };
    recording.then(done, done);
  }
}
