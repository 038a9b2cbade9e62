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
  type BanStore,
  type PortcullisConfig,
  type PortcullisConfigInput,
} from '@portcullis/core';
import { BanCache } from './ban-cache.js';
import { CacheSync } from './cache-sync.js';
import { ClientIpResolver } from './client-ip.js';
import { ExpressTrustResolver } from './express-trust.js';
import { healthHandler, healthReport, type HealthReport, type HealthState } from './health.js';
import { HookRunner } from './hook-runner.js';
import type { PortcullisHooks } from './hooks.js';
import { GatewayMetrics } from './metrics.js';
import { validateOptions } from './options.js';
import { OutageLog } from './outage.js';
import { RequestGuard, type Next, type Req } from './request-guard.js';
import { watchHeads } from './response-head.js';
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
  /** reloads every ban into the cache from the store now */
  resync(): Promise<void>;
  /**
   * Guards the server's Upgrade requests (WebSocket), which Node never hands
   * to Express: call it before the server listens when anything subscribes
   * to 'upgrade' (a proxy with ws: true does on its first request; the
   * middleware also guards the server it first sees a request on). Returns
   * a function that stops guarding.
   */
  upgrade(server: Server): () => void;
  /**
   * The client's address as the guard sees it (trustProxy or Express's
   * `trust proxy` applied; null when it cannot be known), for a request
   * log: asked before the guard runs, the guard reuses the answer, so the
   * forwarding header is read once per request.
   */
  clientIp(req: IncomingMessage): string | null;
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
    // many requests fail at once under attack: let their scripts share socket writes;
    // a slow Redis must not hold requests: the gateway's own short timeout
    store = new RedisBanStore({ config, by, autoPipelining: true, commandTimeout: config.gateway.commandTimeout });
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
  const theStore = store;
  // keeping the cache in step with the store (load, notices, change-log reads) lives apart from requests
  const sync = new CacheSync({
    store: theStore,
    cache,
    outage,
    resyncInterval: config.gateway.resyncInterval,
    readyTimeout: options.readyTimeout ?? 3000,
  });

  // the store's own view of its connection
  const storeUp = () => theStore.state === 'up';
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

  // response heads are watched from ServerResponse.prototype (response-head.ts: a clean request adds nothing to its response)
  watchHeads();
  // the server the last request came on: nearly always the same one, so the WeakMap is asked once
  let lastServer: Server | undefined;
  const middleware = function portcullisMiddleware(req: Req, res: ServerResponse, next: Next): void {
    // the server this runs on gets its Upgrade requests guarded too, before a proxy with ws: true subscribes
    const server = (req.socket as { server?: Server }).server;
    if (server !== lastServer) {
      lastServer = server;
      if (server && !upgradeGuards.has(server)) upgrade(server);
    }
    requests.handle(req, res, next);
  } as PortcullisMiddleware;

  // for the health report: ready() has finished once; close() was called
  let readyDone = false;
  let closed = false;
  async function ready(): Promise<void> {
    await sync.start();
    readyDone = true;
  }

  function healthState(): HealthState {
    return {
      started: readyDone,
      closed,
      storeKind: theStore.kind,
      storeUp: storeUp(),
      cachedBans: cache.size,
      loadedAt: sync.syncedAt,
      subscribed: sync.subscribed && storeUp(),
    };
  }

  async function close(): Promise<void> {
    closed = true;
    for (const off of unguards.splice(0)) off();
    await sync.close();
    if (ownsStore) await theStore.close();
  }

  return Object.assign(middleware, {
    ready,
    close,
    store: theStore,
    config,
    cache,
    resync: () => sync.reload(),
    upgrade,
    clientIp: (req: IncomingMessage) => requests.clientIp(req),
    metrics,
    health: healthHandler(healthState),
    healthReport: () => healthReport(healthState()),
  });
}
