import type { BanChange, BanRecord } from '../events.js';
import type { FailureDetail } from '../failure-detail.js';
import type { Jail } from '../jail.js';

export interface RecordResult {
  /** failures in the window after this one (0 when already banned) */
  count: number;
  /** this failure started a ban */
  banned: boolean;
  /** the address was already banned; nothing counted toward a new ban */
  alreadyBanned: boolean;
  /** ms since epoch, -1 forever; 0 when not banned */
  until: number;
  /** bans of this address so far, including this one */
  bans: number;
}

export interface BanOptions {
  jail?: string;
  /** ms; -1 forever; default the defaults.bantime */
  duration?: number;
  reason?: string;
  by?: string;
  now?: number;
}

export interface UnbanOptions {
  reason?: string;
  by?: string;
  now?: number;
}

/** `fail2ban-client status <jail>`, in numbers. */
export interface JailStatus {
  jail: string;
  currentlyFailed: number;
  totalFailed: number;
  currentlyBanned: number;
  totalBanned: number;
  bans: BanRecord[];
}

/**
 * The answer to a request-time reservation: an attempt that a jail could
 * count takes one unit of the budget (maxretry − failures in the window −
 * attempts still in flight) before it reaches the upstream.
 */
export type Reservation =
  /** go ahead; give the token back with release() once the response is classified */
  | { state: 'reserved'; token: string; used: number }
  /** failures and attempts in flight use the whole budget: wait for their verdicts */
  | { state: 'over'; used: number }
  /** banned (exact entry) until this time (ms, -1 forever) */
  | { state: 'banned'; until: number };

/** An active ban as the gateways' caches need it. */
export interface ActiveBan {
  ip: string;
  until: number;
}

/** One page of a cursor scan over the active bans. */
export interface ActiveBanPage {
  /** pass back for the next page; '0' when the scan is complete */
  cursor: string;
  bans: ActiveBan[];
}

/** What changed after a change-log position, oldest first. */
export interface ChangeLogRead {
  /** the position after the last change read */
  position: string;
  changes: BanChange[];
}

/** Whether the store's commands reach its backend. */
export type StoreState = 'up' | 'down';

/**
 * The ban state. RedisBanStore is the real one; MemoryBanStore serves the
 * embedded single-process default. Both pass the same contract tests.
 */
export interface BanStore {
  readonly kind: 'redis' | 'memory';
  /** the store's own view: commands reach the backend ('up') or not */
  readonly state: StoreState;
  /** called on every transition; `err` with 'down'; returns an unsubscribe function */
  onStateChange(listener: (state: StoreState, err?: unknown) => void): () => void;
  /** connects; rejects when the backend cannot be reached within timeoutMs */
  connect(timeoutMs?: number): Promise<void>;
  /**
   * `ip` is an address or an IPv6 prefix (clientPrefix): the key the client is counted under.
   * `detail` is kept (Redis, alerts on) for the ban alert; the memory store has no alerts and ignores it.
   * `weight`: a flood jail's gateway records its local count of requests in one call.
   */
  recordFailure(jail: Jail, ip: string, now?: number, detail?: FailureDetail, weight?: number): Promise<RecordResult>;
  /**
   * Reserves one attempt of `ip`'s budget in `jail` for `lifetimeMs` (or until
   * released). Reservations of every gateway sharing the store count, so the
   * budget holds across them. A protected address is always reserved (token "").
   */
  reserve(jail: Jail, ip: string, lifetimeMs: number, now?: number): Promise<Reservation>;
  /** gives a reservation back (after its failure, if any, was recorded) */
  release(jail: Jail, ip: string, token: string): Promise<void>;
  ban(ip: string, opts?: BanOptions): Promise<BanRecord>;
  /**
   * Bans many addresses alike (a blocklist import, a mass ban). Every address
   * is checked first: one bad or protected entry rejects the call and nothing
   * is written.
   */
  banMany(ips: readonly string[], opts?: BanOptions): Promise<BanRecord[]>;
  unban(ip: string, opts?: UnbanOptions): Promise<boolean>;
  unbanAll(opts?: UnbanOptions): Promise<number>;
  /** the ban covering this address (exact or CIDR), or null */
  isBanned(ip: string, now?: number): Promise<BanRecord | null>;
  /** every active ban with its details, soonest expiry first */
  listBans(now?: number): Promise<BanRecord[]>;
  /** every active ban, addresses and expiry only (one read: small sets, the CLI) */
  activeBans(now?: number): Promise<ActiveBan[]>;
  /**
   * The active bans a page at a time ('0' starts the scan), so no single read
   * holds the backend, or the reader's event loop, for long. Every ban active
   * for the whole scan is returned at least once; one may come twice.
   */
  activeBansPage(cursor: string, opts?: { now?: number; count?: number }): Promise<ActiveBanPage>;
  /** the change log's current end: take it before a scan, read what changed since after */
  changeLogPosition(): Promise<string>;
  /**
   * Ban/unban changes after `position` (at most `limit`), oldest first; null
   * when the log no longer reaches back that far (trimmed): reload in full.
   */
  readChangeLog(position: string, limit?: number): Promise<ChangeLogRead | null>;
  status(jail?: string, now?: number): Promise<JailStatus[]>;
  /** live ban/unban notices. Resolves at once (never waits for Redis); the store keeps the
   *  subscription alive itself: retries until it holds and re-establishes it after every
   *  reconnect, calling opts.onSubscribed each time it (re)holds, because notices may have been
   *  missed before that moment and the caller resyncs. */
  subscribe(listener: (change: BanChange) => void, opts?: { onSubscribed?: () => void }): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
