import { IpSet, normalizeCidr, type ActiveBan, type BanChange } from '@portcullis/core';

/**
 * The gateway's local copy of the active bans, so a clean request costs no
 * Redis round trip. Exact addresses in a Map; CIDR bans (rare) in a list.
 * Also remembers failures still being recorded, so the next request of that
 * address can wait for the verdict ("banned at the next request").
 */
export class BanCache {
  private exact = new Map<string, number>();
  private ranges: Array<{ ip: string; set: IpSet; until: number }> = [];
  private readonly pending = new Map<string, Promise<unknown>>();

  get size(): number {
    return this.exact.size + this.ranges.length;
  }

  /** until (ms, -1 forever) when `ip` is banned at `now`, else 0. */
  bannedUntil(ip: string, now: number): number {
    const until = this.exact.get(ip);
    if (until !== undefined) {
      if (until === -1 || until > now) return until;
      this.exact.delete(ip);
    }
    if (this.ranges.length > 0) {
      for (const r of this.ranges) if ((r.until === -1 || r.until > now) && r.set.has(ip)) return r.until;
    }
    return 0;
  }

  add(ip: string, until: number): void {
    if (ip.includes('/')) {
      this.ranges = this.ranges.filter((r) => r.ip !== ip);
      const cidr = normalizeCidr(ip);
      if (cidr) this.ranges.push({ ip: cidr.text, set: new IpSet([cidr]), until });
    } else this.exact.set(ip, until);
  }

  remove(ip: string): void {
    if (ip.includes('/')) this.ranges = this.ranges.filter((r) => r.ip !== ip);
    else this.exact.delete(ip);
  }

  apply(change: BanChange): void {
    if (change.type === 'ban') this.add(change.ip, change.until);
    else this.remove(change.ip);
  }

  /** Replaces everything with a fresh snapshot from the store. */
  replace(bans: ActiveBan[]): void {
    this.exact = new Map();
    this.ranges = [];
    for (const b of bans) this.add(b.ip, b.until);
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
