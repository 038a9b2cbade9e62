import type { ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  IpSet,
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
import { OutageLog } from './outage.js';
import { RequestGuard, type Next, type Req } from './request-guard.js';
import { guardUpgrades } from './upgrade.js';

export interface PortcullisOptions {
  /** a store to use instead of the one the config names (tests, the embedded default) */
  store?: BanStore;
  logger?: Logger;
  /** written into bans and events; default "gateway@<hostname>" */
  by?: string;
  /** how long ready() waits for the store before failing open (ms) */
  readyTimeout?: number;
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
  const resolver = new ClientIpResolver(new IpSet(config.trustProxy), log, config.clientHeader);
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

  const requests = new RequestGuard({ config, jails: jailMap, store: theStore, cache, outage, resolver, log });
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

  async function close(): Promise<void> {
    for (const off of unguards.splice(0)) off();
    await sync.close();
    if (ownsStore) await theStore.close();
  }

  return Object.assign(middleware, { ready: () => sync.start(), close, store: theStore, config, cache, resync: () => sync.reload(), upgrade });
}
