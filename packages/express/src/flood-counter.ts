import type { BanStore, Jail, RecordResult } from '@portcullis/core';

export interface FloodCounterOptions {
  /** a flood jail (preset http.flood): jail.flood is set */
  jail: Jail;
  store: BanStore;
  /** an address's local count goes to Redis when it reaches this (default: the jail's flushAt, maxretry / 10) */
  flushAt?: number;
  /** addresses counted locally at most (the oldest windows make room) */
  maxAddresses?: number;
  /** a flush answered "banned" (now or already): the gateway blocks it at once */
  onBanned?(ip: string, result: RecordResult): void;
  onError?(err: unknown): void;
}

interface Window {
  start: number;
  /** requests seen here and not yet sent to Redis */
  pending: number;
}

/**
 * Counts every request of a flood jail per address in this process, and
 * goes to Redis only when a local count could matter: when an address's
 * unsent count reaches `flushAt`, it is sent in one call (the failure
 * script adds it as one weighted entry of the shared sliding window).
 *
 * An ordinary visitor (fewer than flushAt requests in a window here) costs
 * no Redis call at all. A flooder is banned once the counts sent by all
 * gateways reach maxretry; each gateway holds back at most flushAt - 1, so
 * with G gateways the ban is decided by request maxretry + G * (flushAt - 1)
 * at the latest (plus what arrives during one Redis round trip).
 */
export class FloodCounter {
  readonly flushAt: number;
  /** Redis calls made (for the bench and the tests) */
  flushes = 0;
  private readonly windows = new Map<string, Window>();
  readonly jail: Jail;
  private readonly matches: (method: string, url: string) => boolean;
  private readonly maxAddresses: number;
  private lastSweep = 0;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: FloodCounterOptions) {
    if (!opts.jail.flood) throw new TypeError(`jail ${opts.jail.name} is not a flood jail (preset http.flood)`);
    this.jail = opts.jail;
    this.matches = opts.jail.flood.matchesRequest;
    this.flushAt = Math.max(1, Math.floor(opts.flushAt ?? opts.jail.flood.flushAt));
    this.maxAddresses = opts.maxAddresses ?? 100_000;
  }

  /** one request from `ip` (the key the client is counted under) to `path` (decoded, as the upstream resolves it) */
  hit(ip: string, method: string, path: string, now = Date.now()): void {
    if (!this.matches(method, path)) return;
    const findtime = this.jail.findtime;
    if (now - this.lastSweep >= findtime) this.sweep(now);
    let w = this.windows.get(ip);
    if (!w || now - w.start >= findtime) {
      // a new local window; what the last one held back stays below flushAt: within the bound
      if (w) this.windows.delete(ip);
      else if (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value!);
      w = { start: now, pending: 0 };
      this.windows.set(ip, w); // insertion order = window start order (sweep stops at the first live one)
    }
    if (++w.pending >= this.flushAt) {
      const n = w.pending;
      w.pending = 0;
      this.flush(ip, n, now);
    }
  }

  /** resolves when every flush sent so far has been answered */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all(this.inFlight);
  }

  /** addresses with a local window */
  get size(): number {
    return this.windows.size;
  }

  private flush(ip: string, n: number, now: number): void {
    this.flushes++;
    const p = this.opts.store.recordFailure(this.jail, ip, now, undefined, n).then(
      (result) => {
        if (result.banned || result.alreadyBanned) {
          this.windows.delete(ip);
          this.opts.onBanned?.(ip, result);
        }
      },
      (err: unknown) => this.opts.onError?.(err),
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [ip, w] of this.windows) {
      if (now - w.start < this.jail.findtime) break;
      this.windows.delete(ip);
    }
  }
}
