import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import {
  IpSet,
  MemoryBanStore,
  RedisBanStore,
  parseConfig,
  resolveJails,
  type BanChange,
  type BanStore,
  type PortcullisConfig,
  type PortcullisConfigInput,
} from '@portcullis/core';
import { BanCache } from './ban-cache.js';
import { ClientIpResolver } from './client-ip.js';
import { ExpressTrustResolver } from './express-trust.js';
import { healthHandler, healthReport, type HealthReport, type HealthState } from './health.js';
import { HookRunner } from './hook-runner.js';
import type { PortcullisHooks } from './hooks.js';
import { GatewayMetrics } from './metrics.js';
import { validateOptions } from './options.js';
import { OutageLog } from './outage.js';
import { RequestGuard, type Next, type Req } from './request-guard.js';
import { timedStore } from './timed-store.js';
import { guardUpgrades } from './upgrade.js';

export interface PortcullisOptions extends PortcullisHooks {
  /** a store to use instead of the one the config names (tests); without either, the in-memory store */
  store?: BanStore;
  logger?: Logger;
  /** written into bans and events; default "gateway@<hostname>" */
  by?: string;
  /** how long ready() waits for the store before failing open (ms) */
  readyTimeout?: number;
  /**
   * who the client is behind proxies: "config" (default) the config's
   * trustProxy list; "express" the app's own `trust proxy` setting, read
   * with proxy-addr as Express does for req.ip
   */
  trustProxy?: 'config' | 'express';
}


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
  /**
   * Guards the server's Upgrade requests (WebSocket), which Node never hands
   * to Express: call it before the server listens when anything subscribes
   * to 'upgrade' (a proxy with ws: true does on its first request; the
   * middleware also guards the server it first sees a request on). Returns
   * a function that stops guarding.
   */
  upgrade(server: Server): () => void;
  /** Prometheus metrics: `.registry` (prom-client, to merge into yours) and `.handler` (serves them) */
  readonly metrics: GatewayMetrics;
  /** a /healthz handler: JSON report, 200 while serving (even degraded: fail open), 503 before ready() / after close() */
  readonly health: (req: IncomingMessage, res: ServerResponse) => void;
  /** the report the health handler sends */
  healthReport(): HealthReport;
}

/**
 * The Express middleware (Express 4 and 5). Mount it before the proxy to
 * Django: banned clients are answered here; every other response is watched
 * as it leaves, and failures are recorded in the ban store.
 */
export function portcullis(input: PortcullisConfigInput | PortcullisConfig, options: PortcullisOptions = {}): PortcullisMiddleware {
  const config = parseConfig(input);
  validateOptions(options, config);
  const log = options.logger ?? pino({ name: 'portcullis' });
  const by = options.by ?? `gateway@${hostname()}`;
  let store = options.store;
  if (!store && config.redis) {
    // many requests fail at once under attack: let their scripts share socket writes
    store = new RedisBanStore({ config, by, autoPipelining: true });
  } else if (!store) {
    // the README's config table: no redis, the embedded store
    store = new MemoryBanStore({ config, by });
    log.warn(
      'portcullis: no redis configured: bans live in this process only (the in-memory store): other gateway processes do not share them and a restart forgets them; set redis for more than one process',
    );
  }
  const ownsStore = options.store === undefined;
  const jailMap = resolveJails(config);
  const resolver =
    options.trustProxy === 'express'
      ? new ExpressTrustResolver(log)
      : new ClientIpResolver(new IpSet(config.trustProxy), log, config.clientHeader);
  const cache = new BanCache();
  const outage = new OutageLog(log);
  let unsubscribe: (() => Promise<void>) | null = null;
  let resyncTimer: NodeJS.Timeout | null = null;
  let closed = false;
  // ready() has run: reconnects resync from then on
  let started = false;
  // changes that arrive while a snapshot is loading are replayed on top of it
  let resyncing: BanChange[] | null = null;
  // for the health report: ready() has finished once; when the cache last loaded
  let readyDone = false;
  let loadedAt: number | null = null;

  const theStore = store;
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
          loadedAt = Date.now();
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

  const storeUp = () => !outage.isDown;
  const metrics = new GatewayMetrics({ cachedBans: () => cache.size, storeUp });
  const requests = new RequestGuard({
    config,
    jails: jailMap,
    store: timedStore(theStore, metrics),
    cache,
    outage,
    resolver,
    hooks: new HookRunner(options, log),
    metrics,
    log,
  });
  // servers whose 'upgrade' event is guarded, and how to stop guarding them
  const upgradeGuards = new WeakMap<Server, () => void>();
  const unguards: Array<() => void> = [];
  function upgrade(server: Server): () => void {
    let off = upgradeGuards.get(server);
    if (!off) {
      off = guardUpgrades(server, requests);
      upgradeGuards.set(server, off);
      unguards.push(off);
    }
    return off;
  }

  const middleware = function portcullisMiddleware(req: Req, res: ServerResponse, next: Next): void {
    // the server this runs on gets its Upgrade requests guarded too, before a proxy with ws: true subscribes
    const server = (req.socket as { server?: Server }).server;
    if (server && !upgradeGuards.has(server)) upgrade(server);
    requests.handle(req, res, next);
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
    readyDone = true;
  }

  function healthState(): HealthState {
    return {
      started: readyDone,
      closed,
      storeKind: theStore.kind,
      storeUp: storeUp(),
      cachedBans: cache.size,
      loadedAt,
      subscribed: unsubscribe !== null,
    };
  }

  async function close(): Promise<void> {
    closed = true;
    for (const off of unguards.splice(0)) off();
    if (resyncTimer) clearInterval(resyncTimer);
    resyncTimer = null;
    if (unsubscribe) await unsubscribe();
    if (ownsStore) await theStore.close();
  }

  return Object.assign(middleware, {
    ready,
    close,
    store: theStore,
    config,
    cache,
    resync,
    upgrade,
    metrics,
    health: healthHandler(healthState),
    healthReport: () => healthReport(healthState()),
  });
}
