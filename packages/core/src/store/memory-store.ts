import { EventEmitter } from 'node:events';
import type { PortcullisConfig } from '../config/schema.js';
import { InvalidIpError } from '../errors.js';
import type { BanChange, BanEvent, BanRecord } from '../events.js';
import type { FailureDetail } from '../failure-detail.js';
import { IpSet, normalizeCidr } from '../ip.js';
import { banDuration } from '../ban-length.js';
import { assertKnownJail, type Jail } from '../jail.js';
import { Protection } from '../protection.js';
import { resolveManualBan } from './manual-ban.js';
import { toBanChange } from './ban-change.js';
import { countedKey } from './counted-key.js';
import type {
  ActiveBan,
  ActiveBanPage,
  BanOptions,
  BanStore,
  ChangeLogRead,
  JailStatus,
  RecordResult,
  Reservation,
  StoreState,
  UnbanOptions,
} from './types.js';

export interface MemoryBanStoreOptions {
  config: PortcullisConfig;
  /** who acts, written into bans and events (e.g. "gateway@host", "replay") */
  by?: string;
  /** most failure windows kept; past it the least recently failing are forgotten */
  maxWindows?: number;
  /** most offense counters (increment memory) kept; past it the oldest are forgotten */
  maxOffenses?: number;
  /** about this many ban/unban events kept in `events` (default config.streamMaxLen, like the stream's MAXLEN ~) */
  maxEvents?: number;
  /** store time (ms) between full sweeps of expired entries */
  sweepInterval?: number;
  /** jitter source for increment.rndtime; replay passes a fixed one */
  random?: () => number;
}

interface Window {
  /** failure times (ms), ascending */
  times: number[];
  /** the window is empty after this (last failure + findtime) */
  expires: number;
}

interface Offense {
  bans: number;
  /** Infinity for forever bans */
  expires: number;
}

const NO_BAN: RecordResult = { count: 0, banned: false, alreadyBanned: false, until: 0, bans: 0 };

const alive = (until: number, now: number) => until === -1 || until > now;
// forever sorts last, like +inf in the {p}:bans ZSET
const sortKey = (until: number) => (until === -1 ? Infinity : until);

/**
 * The embedded, single-process BanStore (no Redis): same semantics as
 * RedisBanStore and the Lua scripts, held in Maps. Every method runs to
 * completion synchronously inside its promise, so concurrent calls count
 * exactly, as the atomic scripts do.
 *
 * Expired windows, bans and offense counters are purged lazily: on read, and
 * by a full sweep at most once per `sweepInterval` of store time. Failure
 * windows and offense counters are also capped (least recent forgotten
 * first); bans are never evicted, only expired.
 *
 * Events: `events` holds the last `maxEvents` ban/unban events (the
 * {p}:events stream's shape) and `onEvent(listener)` delivers each as it
 * happens, e.g. to a dry-run firewall. `subscribe()` delivers the shorter
 * {p}:changes notices, as gateways expect. `now` may be any clock (replay
 * passes log timestamps): expiry is always judged against the `now` given.
 */
export class MemoryBanStore implements BanStore {
  readonly kind = 'memory' as const;
  /** in-process: always reachable */
  readonly state: StoreState = 'up';
  private readonly config: PortcullisConfig;
  private readonly protection: Protection;
  private readonly by: string;
  private readonly maxWindows: number;
  private readonly maxOffenses: number;
  private readonly maxEvents: number;
  private readonly sweepInterval: number;
  private readonly random: () => number;

  /** jail → ip → window */
  private readonly windows = new Map<string, Map<string, Window>>();
  private windowCount = 0;
  private readonly bans = new Map<string, BanRecord>();
  /** the CIDR entries of `bans`, scanned for addresses they cover */
  private readonly cidrBans = new Set<string>();
  private readonly offenses = new Map<string, Offense>();
  /** "<jail>\0<ip>" → reservation token → expiry (ms): attempts in flight */
  private readonly held = new Map<string, Map<string, number>>();
  private heldTokens = 0;
  private readonly stats = new Map<string, { failed: number; banned: number }>();
  private readonly eventLog: BanEvent[] = [];
  private readonly emitter = new EventEmitter();
  private lastSweep = -Infinity;
  /** events ever emitted: the change log's position (eventLog holds the last ones) */
  private emitted = 0;

  constructor(opts: MemoryBanStoreOptions) {
    this.config = opts.config;
    this.protection = new Protection(opts.config);
    this.by = opts.by ?? 'portcullis';
    this.maxWindows = opts.maxWindows ?? 1_000_000;
    this.maxOffenses = opts.maxOffenses ?? 1_000_000;
    this.maxEvents = opts.maxEvents ?? opts.config.streamMaxLen;
    this.sweepInterval = opts.sweepInterval ?? 60_000;
    this.random = opts.random ?? Math.random;
    this.emitter.setMaxListeners(0);
  }

  async connect(): Promise<void> {}

  /** The last ban/unban events, oldest first (bounded by maxEvents). */
  get events(): readonly BanEvent[] {
    return this.eventLog;
  }

  /** Calls `listener` with every ban/unban event from now on; returns an unsubscribe function. */
  onEvent(listener: (event: BanEvent) => void): () => void {
    const safe = guard(listener);
    this.emitter.on('event', safe);
    return () => this.emitter.off('event', safe);
  }

  async recordFailure(jail: Jail, rawIp: string, now = Date.now(), _detail?: FailureDetail, weight = 1, held = ''): Promise<RecordResult> {
    const n = jail.flood ? Math.max(1, Math.floor(weight)) : 1;
    const ip = countedKey(rawIp, jail, this.protection);
    if (ip === null) return NO_BAN;
    this.maybeSweep(now);
    // the reservation is given back in the same step, whatever follows (as the script does)
    this.dropHeld(jail, ip, held);
    this.statsOf(jail.name).failed += n;

    // Already banned (exact entry, as the script checks): keep that ban.
    const current = this.bans.get(ip);
    if (current && alive(current.until, now)) {
      return { count: 0, banned: false, alreadyBanned: true, until: current.until, bans: current.count };
    }

    const perJail = this.windowsOf(jail.name);
    let w = perJail.get(ip);
    if (w) {
      perJail.delete(ip); // re-inserted below: Map order stays least-recent first
      this.windowCount--;
    } else w = { times: [], expires: 0 };
    const cutoff = now - jail.findtime;
    w.times = w.times.filter((t) => t > cutoff);
    for (let i = 0; i < n; i++) insertSorted(w.times, now);
    const count = w.times.length;
    if (count < jail.maxretry) {
      w.expires = Math.max(w.expires, now + jail.findtime);
      perJail.set(ip, w);
      this.windowCount++;
      this.capWindows();
      return { count, banned: false, alreadyBanned: false, until: 0, bans: 0 };
    }

    // Ban: the window starts over, like fail2ban after a ban.
    const previous = this.offensesOf(ip, now);
    const duration = banDuration(jail.bantime, previous, this.config.increment, this.random);
    const until = duration > 0 ? now + duration : -1;
    const bans = previous + 1;
    const reason = `${count} ${jail.flood ? 'requests' : 'failures'} within ${Math.floor(jail.findtime / 1000)}s`;
    // the window (already out of the map) is dropped: it starts over after a ban
    this.putBan({ ip, jail: jail.name, reason, at: now, until, count: bans, by: this.by }, duration, now);
    this.statsOf(jail.name).banned++;
    this.emit({ type: 'ban', ip, jail: jail.name, until, reason: 'maxretry', at: now });
    return { count, banned: true, alreadyBanned: false, until, bans };
  }

  async reserve(jail: Jail, rawIp: string, lifetimeMs: number, now = Date.now()): Promise<Reservation> {
    const ip = countedKey(rawIp, jail, this.protection);
    if (ip === null) return { state: 'reserved', token: '', used: 0 };
    const ban = this.liveBan(ip, now);
    if (ban) return { state: 'banned', until: ban.until };
    const heldKey = `${jail.name}\0${ip}`;
    const held = this.held.get(heldKey) ?? new Map<string, number>();
    for (const [token, expires] of held) if (expires <= now) held.delete(token);
    const cutoff = now - jail.findtime;
    let failures = 0;
    for (const t of this.windows.get(jail.name)?.get(ip)?.times ?? []) if (t > cutoff) failures++;
    const used = failures + held.size;
    if (used >= jail.maxretry) {
      if (held.size === 0) this.held.delete(heldKey);
      return { state: 'over', used };
    }
    const token = String(++this.heldTokens);
    held.set(token, now + lifetimeMs);
    this.held.set(heldKey, held);
    return { state: 'reserved', token, used };
  }

  async release(jail: Jail, rawIp: string, token: string): Promise<void> {
    if (token === '') return;
    const ip = countedKey(rawIp, jail, this.protection);
    if (ip !== null) this.dropHeld(jail, ip, token);
  }

  /** gives back reservation `token` of counted key `ip` ("" = none) */
  private dropHeld(jail: Jail, ip: string, token: string): void {
    if (token === '') return;
    const heldKey = `${jail.name}\0${ip}`;
    const held = this.held.get(heldKey);
    if (held?.delete(token) && held.size === 0) this.held.delete(heldKey);
  }

  async ban(rawIp: string, opts: BanOptions = {}): Promise<BanRecord> {
    const { cidr, jail, duration, reason } = resolveManualBan(rawIp, opts, this.config, this.protection);
    const now = opts.now ?? Date.now();
    this.maybeSweep(now);
    const by = opts.by ?? this.by;
    const count = this.offensesOf(cidr.text, now) + 1;
    const until = duration > 0 ? now + duration : -1;
    const record: BanRecord = { ip: cidr.text, jail, reason, at: now, until, count, by };
    this.putBan(record, duration, now);
    this.statsOf(jail).banned++;
    this.emit({ type: 'ban', ip: cidr.text, jail, until, reason, at: now });
    return { ...record };
  }

  async banMany(rawIps: readonly string[], opts: BanOptions = {}): Promise<BanRecord[]> {
    // check every address before banning any, as the Redis store does
    for (const ip of rawIps) resolveManualBan(ip, opts, this.config, this.protection);
    const now = opts.now ?? Date.now();
    const out: BanRecord[] = [];
    for (const ip of rawIps) out.push(await this.ban(ip, { ...opts, now }));
    return out;
  }

  async unban(rawIp: string, opts: UnbanOptions = {}): Promise<boolean> {
    const cidr = normalizeCidr(rawIp);
    if (cidr === null) throw new InvalidIpError(rawIp, 'IP address or CIDR');
    const now = opts.now ?? Date.now();
    // the address starts clean in every jail
    for (const name of Object.keys(this.config.jails)) {
      if (this.windows.get(name)?.delete(cidr.text)) this.windowCount--;
    }
    const record = this.bans.get(cidr.text);
    if (!record) return false;
    this.bans.delete(cidr.text);
    this.cidrBans.delete(cidr.text);
    this.emit({ type: 'unban', ip: cidr.text, jail: record.jail, at: now, reason: opts.reason ?? 'manual' });
    return true;
  }

  async unbanAll(opts: UnbanOptions = {}): Promise<number> {
    let n = 0;
    for (const ip of [...this.bans.keys()]) if (await this.unban(ip, opts)) n++;
    return n;
  }

  async isBanned(rawIp: string, now = Date.now()): Promise<BanRecord | null> {
    const cidr = normalizeCidr(rawIp);
    if (cidr === null) throw new InvalidIpError(rawIp, 'IP address or CIDR');
    const exact = this.liveBan(cidr.text, now);
    if (exact || cidr.prefix !== (cidr.kind === 'ipv4' ? 32 : 128)) return exact;
    for (const range of this.cidrBans) {
      const rec = this.liveBan(range, now);
      if (rec && new IpSet([range]).has(cidr.text)) return rec;
    }
    return null;
  }

  async activeBans(now = Date.now()): Promise<ActiveBan[]> {
    return (await this.listBans(now)).map((b) => ({ ip: b.ip, until: b.until }));
  }

  /** one page holds everything: the bans are in this process already */
  async activeBansPage(_cursor: string, opts: { now?: number } = {}): Promise<ActiveBanPage> {
    return { cursor: '0', bans: await this.activeBans(opts.now) };
  }

  async changeLogPosition(): Promise<string> {
    return String(this.emitted);
  }

  async readChangeLog(position: string, limit = 1000): Promise<ChangeLogRead | null> {
    const from = /^\d+$/.test(position) ? Number(position) : NaN;
    const first = this.emitted - this.eventLog.length;
    if (!(from >= first && from <= this.emitted)) return null;
    const events = this.eventLog.slice(from - first, from - first + limit);
    return { position: String(from + events.length), changes: events.map(toBanChange) };
  }

  async listBans(now = Date.now()): Promise<BanRecord[]> {
    const out: BanRecord[] = [];
    for (const ip of [...this.bans.keys()]) {
      const rec = this.liveBan(ip, now);
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => sortKey(a.until) - sortKey(b.until));
  }

  async status(jail?: string, now = Date.now()): Promise<JailStatus[]> {
    const names = jail === undefined ? Object.keys(this.config.jails) : [jail];
    if (jail !== undefined) assertKnownJail(this.config, jail);
    const bans = await this.listBans(now);
    return names.map((name) => {
      let failing = 0;
      for (const w of this.windows.get(name)?.values() ?? []) if (w.expires > now) failing++;
      const stats = this.stats.get(name);
      const mine = bans.filter((b) => b.jail === name);
      return {
        jail: name,
        currentlyFailed: failing,
        totalFailed: stats?.failed ?? 0,
        currentlyBanned: mine.length,
        totalBanned: stats?.banned ?? 0,
        bans: mine,
      };
    });
  }

  onStateChange(): () => void {
    return () => {};
  }

  async subscribe(listener: (change: BanChange) => void, opts: { onSubscribed?: () => void } = {}): Promise<() => Promise<void>> {
    const safe = guard(listener);
    this.emitter.on('change', safe);
    // holds at once; told after the caller has its unsubscribe function, as with Redis
    const { onSubscribed } = opts;
    if (onSubscribed) queueMicrotask(() => guard(onSubscribed)(undefined));
    return async () => {
      this.emitter.off('change', safe);
    };
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }

  /** Sizes of the internal maps (for tests and metrics). */
  get size(): { windows: number; bans: number; offenses: number } {
    return { windows: this.windowCount, bans: this.bans.size, offenses: this.offenses.size };
  }

  private putBan(record: BanRecord, duration: number, now: number): void {
    this.bans.set(record.ip, record);
    if (record.ip.includes('/')) this.cidrBans.add(record.ip);
    this.offenses.delete(record.ip);
    const expires = duration > 0 ? now + duration + this.config.increment.memory : Infinity;
    this.offenses.set(record.ip, { bans: record.count, expires });
    while (this.offenses.size > this.maxOffenses) this.offenses.delete(this.offenses.keys().next().value!);
  }

  private liveBan(ip: string, now: number): BanRecord | null {
    const rec = this.bans.get(ip);
    if (!rec) return null;
    if (alive(rec.until, now)) return { ...rec };
    this.bans.delete(ip);
    this.cidrBans.delete(ip);
    return null;
  }

  private offensesOf(ip: string, now: number): number {
    const o = this.offenses.get(ip);
    if (!o) return 0;
    if (o.expires > now) return o.bans;
    this.offenses.delete(ip);
    return 0;
  }

  private windowsOf(jail: string): Map<string, Window> {
    let m = this.windows.get(jail);
    if (!m) {
      m = new Map();
      this.windows.set(jail, m);
    }
    return m;
  }

  private statsOf(jail: string): { failed: number; banned: number } {
    let s = this.stats.get(jail);
    if (!s) {
      s = { failed: 0, banned: 0 };
      this.stats.set(jail, s);
    }
    return s;
  }

  /** Past the cap, forget the least recently failing windows (across jails). */
  private capWindows(): void {
    while (this.windowCount > this.maxWindows) {
      let victim: [Map<string, Window>, string, number] | null = null;
      for (const m of this.windows.values()) {
        const first = m.entries().next();
        if (first.done) continue;
        const [ip, w] = first.value;
        const last = w.times[w.times.length - 1] ?? 0;
        if (!victim || last < victim[2]) victim = [m, ip, last];
      }
      if (!victim) return;
      victim[0].delete(victim[1]);
      this.windowCount--;
    }
  }

  private maybeSweep(now: number): void {
    if (now - this.lastSweep < this.sweepInterval) return;
    this.lastSweep = now;
    for (const m of this.windows.values()) {
      for (const [ip, w] of m) {
        if (w.expires <= now) {
          m.delete(ip);
          this.windowCount--;
        }
      }
    }
    for (const ip of [...this.bans.keys()]) this.liveBan(ip, now);
    for (const [ip, o] of this.offenses) if (o.expires <= now) this.offenses.delete(ip);
    for (const [key, held] of this.held) {
      for (const [token, expires] of held) if (expires <= now) held.delete(token);
      if (held.size === 0) this.held.delete(key);
    }
  }

  private emit(event: BanEvent): void {
    this.eventLog.push(event);
    // trimmed in batches, like XADD MAXLEN ~: at most ~10 % over the cap
    if (this.eventLog.length > this.maxEvents + Math.max(1, Math.floor(this.maxEvents / 10))) {
      this.eventLog.splice(0, this.eventLog.length - this.maxEvents);
    }
    this.emitted++;
    this.emitter.emit('event', event);
    this.emitter.emit('change', toBanChange(event));
  }
}

/** A listener that throws must not break the store operation that notified it. */
function guard<T>(listener: (value: T) => void): (value: T) => void {
  return (value) => {
    try {
      listener(value);
    } catch {
      // the listener's own fault; the ban stands either way
    }
  };
}

function insertSorted(times: number[], t: number): void {
  let i = times.length;
  while (i > 0 && times[i - 1]! > t) i--;
  times.splice(i, 0, t);
}
