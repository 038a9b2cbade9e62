import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import onHeaders from 'on-headers';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  IpSet,
  Protection,
  RedisBanStore,
  formatDuration,
  parseConfig,
  resolveJails,
  type BanChange,
  type BanStore,
  type Jail,
  type PortcullisConfig,
  type PortcullisConfigInput,
} from '@portcullis/core';
import { BanCache } from './ban-cache.js';
import { sendBlocked } from './block.js';
import { failedJails, takeFailureHeader } from './classify.js';
import { ClientIpResolver } from './client-ip.js';
import { OutageLog } from './outage.js';
import { failureDetail } from './failure-detail.js';
import { FloodCounter } from './flood-counter.js';

export interface PortcullisOptions {
  /** a store to use instead of the one the config names (tests, the embedded default) */
  store?: BanStore;
  logger?: Logger;
  /** written into bans and events; default "gateway@<hostname>" */
  by?: string;
  /** how long ready() waits for the store before failing open (ms) */
  readyTimeout?: number;
}

type Req = IncomingMessage & { originalUrl?: string; log?: Logger };
type Next = (err?: unknown) => void;

export interface PortcullisMiddleware {
  (req: Req, res: ServerResponse, next: Next): void;
  /** connects, loads the active bans and subscribes to changes; never rejects for a store outage */
  ready(): Promise<void>;
  close(): Promise<void>;
  readonly store: BanStore;
  readonly config: PortcullisConfig;
  readonly cache: BanCache;
  /** reloads the ban cache from the store now */
  resync(): Promise<void>;
}

/**
 * The Express middleware (Express 4 and 5). Mount it before the proxy to
 * Django: banned clients are answered here; every other response is watched
 * as it leaves, and failures are recorded in the ban store.
 */
export function portcullis(input: PortcullisConfigInput | PortcullisConfig, options: PortcullisOptions = {}): PortcullisMiddleware {
  const config = parseConfig(input);
  const log = options.logger ?? pino({ name: 'portcullis' });
  const by = options.by ?? `gateway@${hostname()}`;
  let store = options.store;
  if (!store) {
    if (!config.redis) throw new ConfigError([{ path: 'redis', message: 'required unless a store is passed in options.store' }]);
    // many requests fail at once under attack: let their scripts share socket writes
    store = new RedisBanStore({ config, by, autoPipelining: true });
  }
  const ownsStore = options.store === undefined;
  const jailMap = resolveJails(config);
  const jails = [...jailMap.values()].filter((j) => j.hasRule);
  // ban alerts quote the last failing requests: kept only when alerts are configured
  const keepDetails = config.alerts?.enabled === true;
  const protection = new Protection(config);
  // the union of the statuses the jails count; null when some jail counts any status
  const statusFilter = jails.every((j) => j.statuses !== null)
    ? new Set(jails.flatMap((j) => [...(j.statuses ?? [])]))
    : null;
  const resolver = new ClientIpResolver(new IpSet(config.trustProxy), log);
  const cache = new BanCache();
  const outage = new OutageLog(log);
  const { blockStatus, blockBody } = config.gateway;
  let unsubscribe: (() => Promise<void>) | null = null;
  let resyncTimer: NodeJS.Timeout | null = null;
  let closed = false;
  // ready() has run: reconnects resync from then on
  let started = false;
  // changes that arrive while a snapshot is loading are replayed on top of it
  let resyncing: BanChange[] | null = null;

  const theStore = store;
  // request-flood jails: counted here per address, sent to Redis only past flushAt (flood-counter.ts)
  const floods = [...jailMap.values()]
    .filter((j) => j.flood !== null)
    .map((jail) => new FloodCounter({ jail, store: theStore, onBanned: (ip, r) => cache.add(ip, r.until), onError: (err) => outage.failed(err) }));
  if (theStore instanceof RedisBanStore) {
    theStore.redis.on('error', (err: Error) => outage.failed(err));
    // after a reconnect: heal anything missed while away
    theStore.redis.on('ready', () => {
      if (!closed && started) void resync();
    });
  }

  // One load at a time; a request for another while one runs is coalesced.
  let loading: Promise<void> | null = null;
  let loadAgain = false;
  function resync(): Promise<void> {
    if (loading) {
      loadAgain = true;
      return loading;
    }
    loading = (async () => {
      do {
        loadAgain = false;
        const late: BanChange[] = [];
        resyncing = late;
        try {
          const snapshot = await theStore.activeBans();
          cache.replace(snapshot);
          for (const change of late) cache.apply(change);
          outage.recovered();
        } catch (err) {
          outage.failed(err);
        } finally {
          resyncing = null;
        }
      } while (loadAgain && !closed);
    })().finally(() => {
      loading = null;
    });
    return loading;
  }

  function record(jail: Jail, ip: string, req: Req, status: number): void {
    const recording = theStore.recordFailure(jail, ip, undefined, keepDetails ? failureDetail(req, status) : undefined).then(
      (result) => {
        outage.recovered();
        if (result.banned) {
          cache.add(ip, result.until);
          (req.log ?? log).warn(
            {
              ip,
              jail: jail.name,
              bans: result.bans,
              until: result.until === -1 ? 'forever' : new Date(result.until).toISOString(),
              bantime: formatDuration(result.until === -1 ? -1 : result.until - Date.now()),
            },
            'portcullis: banned',
          );
        } else if (result.alreadyBanned) cache.add(ip, result.until);
      },
      (err: unknown) => outage.failed(err),
    );
    cache.track(ip, recording);
  }

  function watch(req: Req, res: ServerResponse, ip: string | null): void {
    onHeaders(res, function onResponseHeaders(this: ServerResponse) {
      const header = takeFailureHeader(this);
      if (ip === null) return;
      // most responses leave here: no jail cares about their status
      if (header === undefined && statusFilter !== null && !statusFilter.has(this.statusCode)) return;
      const hits = failedJails(jails, jailMap, req, this, header);
      if (hits.length === 0 || protection.reasonFor(ip) !== null) return;
      for (const jail of hits) record(jail, ip, req, this.statusCode);
    });
  }

  function decide(req: Req, res: ServerResponse, next: Next, ip: string | null): void {
    if (ip !== null) {
      const now = Date.now();
      const until = cache.bannedUntil(ip, now);
      if (until !== 0) {
        sendBlocked(res, blockStatus, blockBody, until, now);
        return;
      }
      if (floods.length > 0 && protection.reasonFor(ip) === null) {
        for (const flood of floods) flood.hit(ip, req.method ?? 'GET', req.originalUrl ?? req.url ?? '/', now);
      }
    }
    watch(req, res, ip);
    next();
  }

  const middleware = function portcullisMiddleware(req: Req, res: ServerResponse, next: Next): void {
    const ip = resolver.resolve(req);
    // A failure of this address is still being recorded: its verdict decides.
    const pending = ip === null ? undefined : cache.pendingFor(ip);
    if (pending) {
      pending.then(
        () => decide(req, res, next, ip),
        () => decide(req, res, next, ip),
      );
      return;
    }
    decide(req, res, next, ip);
  } as PortcullisMiddleware;

  async function ready(): Promise<void> {
    started = true;
    const timeout = options.readyTimeout ?? 3000;
    try {
      await theStore.connect(timeout);
    } catch (err) {
      outage.failed(err);
      // keep going: the client reconnects by itself and resyncs when it does
    }
    await resync();
    const subscribing = theStore
      .subscribe((change) => {
        if (resyncing) resyncing.push(change);
        cache.apply(change);
      })
      .then((off) => {
        if (closed) void off();
        else unsubscribe = off;
      })
      .catch((err) => outage.failed(err));
    await Promise.race([subscribing, new Promise((r) => setTimeout(r, timeout).unref())]);
    if (!resyncTimer && !closed) {
      resyncTimer = setInterval(() => void resync(), config.gateway.resyncInterval);
      resyncTimer.unref();
    }
  }

  async function close(): Promise<void> {
    closed = true;
    if (resyncTimer) clearInterval(resyncTimer);
    resyncTimer = null;
    if (unsubscribe) await unsubscribe();
    if (ownsStore) await theStore.close();
  }

  return Object.assign(middleware, { ready, close, store: theStore, config, cache, resync });
}
