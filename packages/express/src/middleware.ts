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
  type BanStore,
  type Jail,
  type PortcullisConfig,
  type PortcullisConfigInput,
} from '@portcullis/core';
import { BanCache } from './ban-cache.js';
import { CacheSync } from './cache-sync.js';
import { sendBlocked } from './block.js';
import { failedJails, takeFailureHeader } from './classify.js';
import { ClientIpResolver } from './client-ip.js';
import { OutageLog } from './outage.js';

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
  /** reloads every ban into the cache from the store now */
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
    // many requests fail at once under attack: let their scripts share socket writes;
    // a slow Redis must not hold requests: the gateway's own short timeout
    store = new RedisBanStore({ config, by, autoPipelining: true, commandTimeout: config.gateway.commandTimeout });
  }
  const ownsStore = options.store === undefined;
  const jailMap = resolveJails(config);
  const jails = [...jailMap.values()].filter((j) => j.hasRule);
  const protection = new Protection(config);
  // the union of the statuses the jails count; null when some jail counts any status
  const statusFilter = jails.every((j) => j.statuses !== null)
    ? new Set(jails.flatMap((j) => [...(j.statuses ?? [])]))
    : null;
  const resolver = new ClientIpResolver(new IpSet(config.trustProxy), log);
  const cache = new BanCache();
  const outage = new OutageLog(log);
  const { blockStatus, blockBody } = config.gateway;
  const theStore = store;
  const sync = new CacheSync({
    store: theStore,
    cache,
    outage,
    resyncInterval: config.gateway.resyncInterval,
    readyTimeout: options.readyTimeout ?? 3000,
  });

  function record(jail: Jail, ip: string, req: Req): void {
    const recording = theStore.recordFailure(jail, ip).then(
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
      for (const jail of hits) record(jail, ip, req);
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

  async function close(): Promise<void> {
    await sync.close();
    if (ownsStore) await theStore.close();
  }

  return Object.assign(middleware, { ready: () => sync.start(), close, store: theStore, config, cache, resync: () => sync.reload() });
}
