import { randomBytes } from 'node:crypto';
import { banJitter, banLadder, withJitter } from '../ban-length.js';
import { Cluster, Redis } from 'ioredis';
import type { PortcullisConfig } from '../config/schema.js';
import { InvalidIpError, type RedisWipedError } from '../errors.js';
import { parseBanEvent, type BanChange, type BanEvent, type BanRecord } from '../events.js';
import { encodeFailureDetail, type FailureDetail } from '../failure-detail.js';
import { IpSet, normalizeCidr } from '../ip.js';
import { JailPorts } from '../firewall-ports.js';
import { assertKnownJail, type Jail } from '../jail.js';
import { Keys } from '../keys.js';
import { Protection } from '../protection.js';
import { createRedis, isCluster, waitReady, type RedisClient } from '../redis.js';
import { describeRedis, type RedisSetting } from '../redis-target.js';
import { withScripts, type ScriptCommands } from '../scripts.js';
import { toBanChange } from './ban-change.js';
import { ConnectionState } from './connection-state.js';
import { DataMarker } from './data-marker.js';
import { KeptSubscription } from './kept-subscription.js';
import { resolveManualBan } from './manual-ban.js';
import { countedKey } from './counted-key.js';
import { ShardedSubscription, supportsShardedPubSub } from './sharded-subscription.js';
import { nodeClient, slotOwner, watchSlotOwner } from './slot-owner.js';
import { explainRedisError, topologyProblem } from './topology-check.js';
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

export interface RedisBanStoreOptions {
  config: PortcullisConfig;
  /**
   * a client (Redis or Cluster), or a redis setting (URL or object; default
   * config.redis); a client passed in is not closed by close()
   */
  redis?: RedisClient | RedisSetting;
  /** who acts, written into bans and events (e.g. "gateway@host", "cli") */
  by?: string;
  /**
   * ms before a command fails; default STORE_COMMAND_TIMEOUT. A gateway
   * passes its own short `gateway.commandTimeout` (fail open fast); other
   * users (CLI, sidecar, tests, bulk work) must not inherit that tuning.
   */
  commandTimeout?: number;
  /** keep reconnecting (daemons) or fail at once (CLI) */
  retry?: boolean;
  /** jitter source for increment.rndtime (tests pass a fixed one) */
  random?: () => number;
  /** see createRedis: on for gateways (many concurrent failures), off by default */
  autoPipelining?: boolean;
  /** told once each time the Redis starts to look wiped (see DataMarker) */
  onWiped?: (err: RedisWipedError) => void;
}

/** the store's methods that talk to Redis: a wrong-node error becomes one clear line (explainRedisError) */
const GUARDED = [
  'recordFailure',
  'ban',
  'banMany',
  'unban',
  'unbanAll',
  'isBanned',
  'activeBans',
  'activeBansPage',
  'changeLogPosition',
  'readChangeLog',
  'listBans',
  'status',
  'reserve',
  'release',
] as const;

/** a general client's command timeout: slow is tolerated, hung is not */
export const STORE_COMMAND_TIMEOUT = 5000;

/** failure details outlive the window by this much, so a late alert still finds them */
const RECENT_GRACE = 3_600_000;

/** addresses per banMany script call */
const BAN_MANY_CHUNK = 1000;

const NO_BAN: RecordResult = { count: 0, banned: false, alreadyBanned: false, until: 0, bans: 0 };

export class RedisBanStore implements BanStore {
  readonly kind = 'redis' as const;
  readonly keys: Keys;
  readonly redis: RedisClient & ScriptCommands;
  /** the {p}:meta marker: whether this Redis still holds the data this store saw */
  readonly marker: DataMarker;
  /** the Redis for messages, without passwords */
  readonly where: string;
  /** notices go out with SPUBLISH (a Cluster of Redis 7+) or PUBLISH */
  private sharded = false;
  private verifying: Promise<Error | null> = Promise.resolve(null);
  private readonly unwatch: () => void;
  private readonly config: PortcullisConfig;
  private readonly protection: Protection;
  /** which jails' bans already close a jail's ports (recordFailure's "already banned") */
  private readonly ports: JailPorts;
  private readonly by: string;
  private readonly ownsClient: boolean;
  private readonly subscriptions = new Set<KeptSubscription | ShardedSubscription>();
  private readonly connection: ConnectionState;
  private token = 0;
  private readonly random: () => number;
  private readonly ladders = new WeakMap<Jail, { lengths: number[]; text: string }>();
  private readonly tokenBase = randomBytes(4).toString('hex');

  constructor(opts: RedisBanStoreOptions) {
    this.config = opts.config;
    this.keys = new Keys(opts.config.prefix);
    this.protection = new Protection(opts.config);
    this.ports = new JailPorts(opts.config);
    this.by = opts.by ?? 'portcullis';
    this.random = opts.random ?? Math.random;
    const source = opts.redis ?? opts.config.redis;
    if (source === undefined) throw new TypeError('RedisBanStore needs a Redis URL (config.redis) or client');
    this.ownsClient = !(source instanceof Redis || source instanceof Cluster);
    this.where = this.ownsClient ? describeRedis(source as RedisSetting) : 'the Redis client passed in';
    const client = this.ownsClient
      ? createRedis(source as RedisSetting, {
          commandTimeout: opts.commandTimeout ?? STORE_COMMAND_TIMEOUT,
          retry: opts.retry ?? true,
          autoPipelining: opts.autoPipelining ?? false,
        })
      : (source as RedisClient);
    this.redis = withScripts(client);
    // Connection trouble surfaces as rejected commands (and to whoever else
    // listens); without a listener ioredis prints "Unhandled error event".
    if (this.ownsClient) this.redis.on('error', () => {});
    this.marker = new DataMarker(this.redis, this.keys.meta, this.by, opts.onWiped);
    // the marker's 'ready' handler must not race the state: verify() runs the marker first
    this.connection = new ConnectionState(this.redis, () => (this.verifying = this.verify()));
    if (this.redis.status === 'ready') this.verifying = this.verify();
    // a Cluster stays 'ready' through a failover: a new owner of the slot is the moment to look again
    this.unwatch = isCluster(this.redis) ? watchSlotOwner(this.redis, this.keys.bans, () => void this.marker.verify()) : () => {};
    for (const name of GUARDED) {
      const method = (this[name] as (...args: unknown[]) => Promise<unknown>).bind(this);
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) =>
        method(...args).catch((err: unknown) => {
          throw explainRedisError(err, this.where) ?? err;
        });
    }
  }

  /** At start and after every reconnect: the right kind of node, and the data we knew. */
  private async verify(): Promise<Error | null> {
    const problem = await topologyProblem(this.redis, this.where);
    if (problem) return problem;
    if (isCluster(this.redis))
      this.sharded = await this.slotNode()
        .then(supportsShardedPubSub)
        .catch(() => false);
    await this.marker.verify();
    return null;
  }

  /** where the scripts send {p}:changes notices (lua/includes/notify.lua) */
  private get notices(): string {
    return this.sharded ? `SPUBLISH ${this.keys.changes}` : this.keys.changes;
  }

  get state(): StoreState {
    return this.connection.state;
  }

  onStateChange(listener: (state: StoreState, err?: unknown) => void): () => void {
    return this.connection.onChange(listener);
  }

  async connect(timeoutMs = 5000): Promise<void> {
    let last: unknown;
    const note = (err: unknown) => (last = err);
    this.redis.on('error', note);
    try {
      await waitReady(this.redis, timeoutMs);
    } catch (err) {
      // a node that refuses what we ask of it (not a cluster node, …) says why
      throw explainRedisError(last, this.where) ?? err;
    } finally {
      this.redis.off('error', note);
    }
    const problem = await this.verifying;
    if (problem) throw problem;
  }

  async recordFailure(jail: Jail, rawIp: string, now = Date.now(), detail?: FailureDetail, weight = 1, held = ''): Promise<RecordResult> {
    const ip = countedKey(rawIp, jail, this.protection);
    if (ip === null) return NO_BAN;
    const k = this.keys;
    // details are kept only for alerts, and only as many as an alert quotes
    const alerts = this.config.alerts;
    const kept = detail && alerts?.enabled && alerts.recent > 0 ? encodeFailureDetail(detail) : '';
    const [count, state, until, bans] = await this.redis.pcRecordFailure(
      k.fail(jail.name, ip),
      k.ban(ip),
      k.bans,
      k.offenses(ip),
      k.stats(jail.name),
      k.events,
      k.recent(jail.name, ip),
      k.held(jail.name, ip),
      k.jailBans,
      now,
      jail.findtime,
      jail.maxretry,
      this.ladderOf(jail),
      jail.name,
      ip,
      this.nextToken(),
      this.config.increment.memory,
      this.config.streamMaxLen,
      this.notices,
      this.by,
      kept,
      alerts?.recent ?? 0,
      jail.findtime + RECENT_GRACE,
      jail.flood ? Math.max(1, Math.floor(weight)) : '',
      jail.flood ? 'requests' : 'failures',
      held,
      ` ${this.ports.coveredBy(jail.name).join(' ')} `,
    );
    return { count, banned: state === 1, alreadyBanned: state === 2, until: Number(until), bans };
  }

  /** the jail's ban lengths by earlier bans for the script, jitter drawn now (see banLadder) */
  private ladderOf(jail: Jail): string {
    let ladder = this.ladders.get(jail);
    if (!ladder) {
      const lengths = banLadder(jail.bantime, this.config.increment);
      ladder = { lengths, text: lengths.join(' ') };
      this.ladders.set(jail, ladder);
    }
    const jitter = banJitter(this.config.increment, this.random);
    return jitter === 0 ? ladder.text : ladder.lengths.map((ms) => withJitter(ms, jitter)).join(' ');
  }

  async reserve(jail: Jail, rawIp: string, lifetimeMs: number, now = Date.now()): Promise<Reservation> {
    const ip = countedKey(rawIp, jail, this.protection);
    if (ip === null) return { state: 'reserved', token: '', used: 0 };
    const token = this.nextToken();
    const k = this.keys;
    const [state, used, until] = await this.redis.pcReserve(
      k.fail(jail.name, ip),
      k.held(jail.name, ip),
      k.ban(ip),
      now,
      jail.findtime,
      jail.maxretry,
      lifetimeMs,
      token,
    );
    if (state === 2) return { state: 'banned', until: Number(until) };
    return state === 1 ? { state: 'reserved', token, used } : { state: 'over', used };
  }

  async release(jail: Jail, rawIp: string, token: string): Promise<void> {
    if (token === '') return;
    const ip = countedKey(rawIp, jail, this.protection);
    if (ip !== null) await this.redis.zrem(this.keys.held(jail.name, ip), token);
  }

  private nextToken(): string {
    this.token = (this.token + 1) % 0x7fffffff;
    return `${this.tokenBase}${this.token}`;
  }

  async ban(rawIp: string, opts: BanOptions = {}): Promise<BanRecord> {
    const { cidr, jail, duration, reason } = resolveManualBan(rawIp, opts, this.config, this.protection);
    const now = opts.now ?? Date.now();
    const by = opts.by ?? this.by;
    const k = this.keys;
    const [until, count] = await this.redis.pcBan(
      k.ban(cidr.text),
      k.bans,
      k.offenses(cidr.text),
      k.stats(jail),
      k.events,
      k.jailBans,
      now,
      duration,
      jail,
      cidr.text,
      reason,
      by,
      this.config.streamMaxLen,
      this.notices,
      this.config.increment.memory,
    );
    return { ip: cidr.text, jail, reason, at: now, until: Number(until), count, by };
  }

  async banMany(rawIps: readonly string[], opts: BanOptions = {}): Promise<BanRecord[]> {
    const checked = rawIps.map((ip) => resolveManualBan(ip, opts, this.config, this.protection));
    const first = checked[0];
    if (!first) return [];
    const { jail, duration, reason } = first;
    const now = opts.now ?? Date.now();
    const by = opts.by ?? this.by;
    const k = this.keys;
    const out: BanRecord[] = [];
    // one script per chunk: fewer round trips, and no single script blocks Redis for long
    for (let i = 0; i < checked.length; i += BAN_MANY_CHUNK) {
      const ips = checked.slice(i, i + BAN_MANY_CHUNK).map((c) => c.cidr.text);
      const keys = [k.bans, k.stats(jail), k.events, k.jailBans, ...ips.flatMap((ip) => [k.ban(ip), k.offenses(ip)])];
      const reply = await this.redis.pcBanMany(
        keys.length,
        ...keys,
        now,
        duration,
        jail,
        reason,
        by,
        this.config.streamMaxLen,
        this.notices,
        this.config.increment.memory,
        ...ips,
      );
      for (const [j, ip] of ips.entries())
        out.push({ ip, jail, reason, at: now, until: Number(reply[2 * j]), count: Number(reply[2 * j + 1] ?? 1), by });
    }
    return out;
  }

  async unban(rawIp: string, opts: UnbanOptions = {}): Promise<boolean> {
    const cidr = normalizeCidr(rawIp);
    if (cidr === null) throw new InvalidIpError(rawIp, 'IP address or CIDR');
    const k = this.keys;
    const keys = [k.ban(cidr.text), k.bans, k.events, k.jailBans, ...Object.keys(this.config.jails).map((j) => k.fail(j, cidr.text))];
    const removed = await this.redis.pcUnban(
      keys.length,
      ...keys,
      opts.now ?? Date.now(),
      cidr.text,
      opts.reason ?? 'manual',
      opts.by ?? this.by,
      this.config.streamMaxLen,
      this.notices,
    );
    return removed === 1;
  }

  async unbanAll(opts: UnbanOptions = {}): Promise<number> {
    const ips = await this.redis.zrange(this.keys.bans, 0, -1);
    let n = 0;
    // each unban is its own script (its keys differ); many in flight share the connection
    for (let i = 0; i < ips.length; i += BAN_MANY_CHUNK) {
      const lifted = await Promise.all(ips.slice(i, i + BAN_MANY_CHUNK).map((ip) => this.unban(ip, opts)));
      n += lifted.filter(Boolean).length;
    }
    return n;
  }

  async isBanned(rawIp: string, now = Date.now()): Promise<BanRecord | null> {
    const cidr = normalizeCidr(rawIp);
    if (cidr === null) throw new InvalidIpError(rawIp, 'IP address or CIDR');
    const exact = await this.readBan(cidr.text, now);
    if (exact || cidr.prefix !== (cidr.kind === 'ipv4' ? 32 : 128)) return exact;
    // a CIDR ban covering this address
    const ranges = (await this.activeBans(now)).filter((b) => b.ip.includes('/'));
    for (const r of ranges) if (new IpSet([r.ip]).has(cidr.text)) return this.readBan(r.ip, now);
    return null;
  }

  private async readBan(ip: string, now: number): Promise<BanRecord | null> {
    const h = await this.redis.hgetall(this.keys.ban(ip));
    return toRecord(ip, h, now);
  }

  async activeBans(now = Date.now()): Promise<ActiveBan[]> {
    await this.marker.assertIntact();
    const [, [, flat]] = (await this.redis
      .multi()
      .zremrangebyscore(this.keys.bans, '-inf', `(${now}`)
      .zrange(this.keys.bans, 0, -1, 'WITHSCORES')
      .exec()) as [[Error | null, number], [Error | null, string[]]];
    const out: ActiveBan[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const score = flat[i + 1]!;
      out.push({ ip: flat[i]!, until: score === 'inf' ? -1 : Number(score) });
    }
    return out;
  }

  async activeBansPage(cursor: string, opts: { now?: number; count?: number } = {}): Promise<ActiveBanPage> {
    const now = opts.now ?? Date.now();
    await this.marker.assertIntact();
    // ZSCAN, not ZRANGE: a cursor holds its place without offsets, whatever the set's size
    const [next, flat] = await this.redis.zscan(this.keys.bans, cursor, 'COUNT', opts.count ?? 2000);
    const bans: ActiveBan[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const score = flat[i + 1]!;
      const until = score === 'inf' ? -1 : Number(score);
      if (until === -1 || until > now) bans.push({ ip: flat[i]!, until });
    }
    return { cursor: next, bans };
  }

  /**
   * A position in {p}:events is "<entry id>/<entries-added at that entry>":
   * XINFO STREAM's entries-added (Redis ≥ 7) then tells whether the stream
   * still holds everything after it (nothing trimmed in between).
   */
  async changeLogPosition(): Promise<string> {
    const info = await this.streamInfo(await this.redis.xinfo('STREAM', this.keys.events).catch(noStream));
    return info ? `${info.lastId}/${info.added}` : '0-0/0';
  }

  async readChangeLog(position: string, limit = 1000): Promise<ChangeLogRead | null> {
    const at = /^(\d+-\d+)\/(\d+)$/.exec(position);
    if (!at) return null;
    const [, fromId, fromAdded] = at as unknown as [string, string, string];
    // one transaction: nothing is trimmed between the check and the read
    const [[, rawInfo], [, entries]] = (await this.redis
      .multi()
      .xinfo('STREAM', this.keys.events)
      .xrange(this.keys.events, `(${fromId}`, '+', 'COUNT', limit)
      .exec()) as [[Error | null, unknown], [Error | null, Array<[string, string[]]> | null]];
    const info = this.streamInfo(rawInfo);
    const base = Number(fromAdded);
    if (!info) return base === 0 ? { position, changes: [] } : null;
    if (info.added === undefined || info.added < base || info.added - base > info.length) return null;
    const changes: BanChange[] = [];
    let lastId = fromId;
    for (const [id, fields] of entries ?? []) {
      lastId = id;
      const change = changeOf(fields);
      if (change) changes.push(change);
    }
    return { position: `${lastId}/${base + (entries?.length ?? 0)}`, changes };
  }

  private streamInfo(raw: unknown): { lastId: string; added: number | undefined; length: number } | null {
    if (!Array.isArray(raw)) return null;
    const f = new Map<string, unknown>();
    for (let i = 0; i + 1 < raw.length; i += 2) f.set(String(raw[i]), raw[i + 1]);
    const added = f.get('entries-added');
    return {
      lastId: String(f.get('last-generated-id') ?? '0-0'),
      added: added === undefined ? undefined : Number(added),
      length: Number(f.get('length') ?? 0),
    };
  }

  async listBans(now = Date.now()): Promise<BanRecord[]> {
    const active = await this.activeBans(now);
    if (active.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const b of active) pipeline.hgetall(this.keys.ban(b.ip));
    const rows = (await pipeline.exec()) ?? [];
    const out: BanRecord[] = [];
    active.forEach((b, i) => {
      const rec = toRecord(b.ip, (rows[i]?.[1] ?? {}) as Record<string, string>, now);
      if (rec) out.push(rec);
    });
    return out;
  }

  async status(jail?: string, now = Date.now()): Promise<JailStatus[]> {
    const names = jail === undefined ? Object.keys(this.config.jails) : [jail];
    if (jail !== undefined) assertKnownJail(this.config, jail);
    const bans = await this.listBans(now);
    const out: JailStatus[] = [];
    for (const name of names) {
      const stats = await this.redis.hgetall(this.keys.stats(name));
      let failing = 0;
      const stream = (await this.slotNode()).scanStream({ match: this.keys.failPattern(name), count: 1000 });
      for await (const batch of stream) failing += (batch as string[]).length;
      const mine = bans.filter((b) => b.jail === name);
      out.push({
        jail: name,
        currentlyFailed: failing,
        totalFailed: Number(stats.failed ?? 0),
        currentlyBanned: mine.length,
        totalBanned: Number(stats.banned ?? 0),
        bans: mine,
      });
    }
    return out;
  }

  /** the one server holding every key of the deployment: on a Cluster, the master of the {p} slot */
  private async slotNode(): Promise<Redis> {
    if (!isCluster(this.redis)) return this.redis;
    const owner = await slotOwner(this.redis, this.keys.bans);
    const node = nodeClient(this.redis, owner);
    if (!node) throw new Error(`the cluster client does not know ${owner}, the master of ${this.keys.tag} yet: try again`);
    return node;
  }

  async subscribe(listener: (change: BanChange) => void, opts: { onSubscribed?: () => void } = {}): Promise<() => Promise<void>> {
    const onMessage = (message: string) => {
      const change = parseChange(message);
      if (change) listener(change);
    };
    const onSubscribed = () => opts.onSubscribed?.();
    const subscription = isCluster(this.redis)
      ? new ShardedSubscription(this.redis, this.keys.changes, onMessage, onSubscribed)
      : new KeptSubscription(this.redis, this.keys.changes, onMessage, onSubscribed);
    this.subscriptions.add(subscription);
    return async () => {
      this.subscriptions.delete(subscription);
      subscription.stop();
    };
  }

  async close(): Promise<void> {
    this.unwatch();
    for (const subscription of this.subscriptions) subscription.stop();
    this.subscriptions.clear();
    if (this.ownsClient) this.redis.disconnect();
  }
}

function toRecord(ip: string, h: Record<string, string>, now: number): BanRecord | null {
  if (!h || h.until === undefined) return null;
  const until = Number(h.until);
  if (until !== -1 && until <= now) return null;
  return {
    ip,
    jail: h.jail ?? '',
    reason: h.reason ?? '',
    at: Number(h.at ?? 0),
    until,
    count: Number(h.count ?? 1),
    by: h.by ?? '',
  };
}

/** XINFO on a stream that does not exist yet: nothing was ever logged */
function noStream(err: unknown): null {
  if (/no such key/i.test(String((err as Error)?.message))) return null;
  throw err;
}

/** A {p}:events entry as a cache change; a malformed one is skipped (the sidecar parks it). */
function changeOf(fields: string[]): BanChange | null {
  let event: BanEvent;
  try {
    event = parseBanEvent(fields);
  } catch {
    return null;
  }
  return toBanChange(event);
}

/** A {p}:changes message, validated: a bad address never reaches a cache. */
export function parseChange(message: string): BanChange | null {
  try {
    const m = JSON.parse(message) as Record<string, unknown>;
    const cidr = normalizeCidr(typeof m.ip === 'string' ? m.ip : undefined);
    if (!cidr) return null;
    if (m.type === 'ban' && typeof m.until === 'number') {
      return { type: 'ban', ip: cidr.text, jail: String(m.jail ?? ''), until: m.until };
    }
    if (m.type === 'unban') return { type: 'unban', ip: cidr.text };
  } catch {
    // not ours
  }
  return null;
}
