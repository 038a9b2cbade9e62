import type { BanChange, BanRecord } from '../events.js';
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

/**
 * The ban state. RedisBanStore is the real one; MemoryBanStore serves the
 * embedded single-process default. Both pass the same contract tests.
 */
export interface BanStore {
  readonly kind: 'redis' | 'memory';
  /** connects; rejects when the backend cannot be reached within timeoutMs */
  connect(timeoutMs?: number): Promise<void>;
  /** `ip` is an address or an IPv6 prefix (clientPrefix): the key the client is counted under */
  recordFailure(jail: Jail, ip: string, now?: number): Promise<RecordResult>;
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
  /** every active ban, addresses and expiry only (cheap: for caches) */
  activeBans(now?: number): Promise<ActiveBan[]>;
  status(jail?: string, now?: number): Promise<JailStatus[]>;
  /** live ban/unban notices; returns an unsubscribe function */
  subscribe(listener: (change: BanChange) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
