import type { ActiveBan, BanChange } from '@portcullis/core';
import { RangeTable } from './range-table.js';

/**
 * The gateway's local copy of the active bans, so a clean request costs no
 * Redis round trip. Exact addresses in a Map; CIDR bans in a RangeTable
 * (a lookup costs O(address bits), a load O(n)).
 * Also remembers failures still being recorded, so the next request of that
 * address can wait for the verdict ("banned at the next request").
 */
export class BanCache {
  private exact = new Map<string, number>();
  private ranges = new RangeTable();
  private readonly pending = new Map<string, Promise<unknown>>();

  get size(): number {
    return this.exact.size + this.ranges.size;
  }

  /** until (ms, -1 forever) when `ip` is banned at `now`, else 0. */
  bannedUntil(ip: string, now: number): number {
    const until = this.exact.get(ip);
    if (until !== undefined) {
      if (until === -1 || until > now) return until;
      this.exact.delete(ip);
    }
    return this.ranges.size === 0 ? 0 : this.ranges.bannedUntil(ip, now);
  }

  add(ip: string, until: number): void {
    if (ip.includes('/')) this.ranges.set(ip, until);
    else this.exact.set(ip, until);
  }

  remove(ip: string): void {
    if (ip.includes('/')) this.ranges.delete(ip);
    else this.exact.delete(ip);
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
    this.exact = other.exact;
    this.ranges = other.ranges;
  }

  pendingFor(ip: string): Promise<unknown> | undefined {
    return this.pending.get(ip);
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
