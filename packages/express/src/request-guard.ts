import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  Protection,
  canonicalTarget,
  clientPrefix,
  countedKey,
  formatDuration,
  plainTargetPath,
  type BanStore,
  type Jail,
  type PortcullisConfig,
} from '@portcullis/core';
import type { BanCache } from './ban-cache.js';
import { retryAfter, sendBlocked } from './block.js';
import { AttemptBudget } from './budget.js';
import { failedJails } from './classify.js';
import type { ClientKey, HookRunner } from './hook-runner.js';
import type { BlockReason, GatewayMetrics } from './metrics.js';
import type { OutageLog } from './outage.js';
import { failureDetail } from './failure-detail.js';
import { FloodCounter } from './flood-counter.js';
import { HttpExchange } from './http-exchange.js';

export type Req = IncomingMessage & { originalUrl?: string; log?: Logger };
export type Next = (err?: unknown) => void;

/** A request the gateway answers itself: status, body, until (ms) for Retry-After (0: none). */
export interface Refusal {
  status: number;
  body: string;
  until: number;
  reason: BlockReason;
  /** the client, when known (a ban) */
  client?: Client;
}

/** Who the client is: its address, and the keyGenerator's key when there is one. */
export interface Client {
  ip: string;
  key: ClientKey | null;
}

/** What becomes of a request the guard looked at (HTTP: an HttpExchange; Upgrade: upgrade.ts). */
export interface Outcome {
  /** answered by the gateway */
  refuse(refusal: Refusal): void;
  /** goes on to the upstream: client null when it is neither checked nor counted */
  proceed(client: Client | null, path: string, held: Held[] | null): void;
}

/** Who the client is by its address (the config's trustProxy, or Express's `trust proxy`). */
export interface ClientResolver {
  resolve(req: Req): string | null;
  /** the resolved client is a trusted proxy itself (never counted, never banned) */
  isProxy?(req: Req): boolean;
}

/** The parts of a response head a verdict reads. */
export type ResponseHead = Pick<ServerResponse, 'statusCode' | 'getHeader'>;

/** One unit of a client's budget held by a request until its verdict. */
export interface Held {
  jail: Jail;
  key: string;
  token: string;
}

export interface RequestGuardDeps {
  config: PortcullisConfig;
  jails: ReadonlyMap<string, Jail>;
  store: BanStore;
  cache: BanCache;
  outage: OutageLog;
  resolver: ClientResolver;
  hooks: HookRunner;
  metrics: GatewayMetrics;
  log: Logger;
}

const OVER_BUDGET = 'Too Many Requests: earlier attempts are still being answered. Try again in a moment.\n';
const AMBIGUOUS_TARGET = 'Bad Request: ambiguous request target.\n';
const CROSS_SITE = 'Forbidden: a login attempt sent from another site.\n';
const UNKNOWN_CLIENT = 'Bad Request: the client address cannot be determined.\n';

/**
 * The per-request path of the middleware: one canonical target, who the
 * client is, the ban check, the request-time budget for attempts a jail
 * could count, and the classification of the response as it leaves.
 */
export class RequestGuard {
  private readonly jailMap: ReadonlyMap<string, Jail>;
  private readonly ruled: Jail[];
  private readonly budgeted: Jail[];
  private readonly protection: Protection;
  private readonly budget: AttemptBudget;
  // the union of the statuses the jails count; null when some jail counts any status
  private readonly statusFilter: ReadonlySet<number> | null;
  private warnedUnknown = false;
  /** request-flood jails: counted here per address, sent to Redis only past flushAt (flood-counter.ts) */
  private readonly floods: FloodCounter[];
  /** ban alerts quote the last failing requests: kept only when alerts are configured */
  private readonly keepDetails: boolean;
  // the hooks configured, known once: a clean request never calls into an absent one
  private readonly hasSkip: boolean;
  private readonly hasKeyGenerator: boolean;
  private readonly hasHandler: boolean;
  private readonly hasClassifier: boolean;
  /** clients already resolved by clientIp() (the request log asks first): the guard's own look reuses them */
  private readonly resolved = new WeakMap<Req, string | null>();
  private clientIpAsked = false;

  constructor(private readonly d: RequestGuardDeps) {
    this.jailMap = d.jails;
    this.ruled = [...d.jails.values()].filter((j) => j.hasRule);
    this.budgeted = this.ruled.filter((j) => j.budgeted);
    this.protection = new Protection(d.config);
    this.budget = new AttemptBudget(d.store, d.outage, d.config.gateway.attemptTimeout, d.config.gateway.commandTimeout);
    this.statusFilter = this.ruled.every((j) => j.statuses !== null) ? new Set(this.ruled.flatMap((j) => [...(j.statuses ?? [])])) : null;
    this.floods = [...d.jails.values()]
      .filter((j) => j.flood !== null)
      .map(
        (jail) =>
          new FloodCounter({
            jail,
            store: d.store,
            onBanned: (key, r) => d.cache.add(key, r.until),
            onError: (err) => d.outage.failed(err),
          }),
      );
    this.keepDetails = d.config.alerts?.enabled === true;
    this.hasSkip = d.hooks.hasSkip;
    this.hasKeyGenerator = d.hooks.hasKeyGenerator;
    this.hasHandler = d.hooks.hasHandler;
    this.hasClassifier = d.hooks.hasClassifier;
  }

  handle(req: Req, res: ServerResponse, next: Next): void {
    this.front(req, new HttpExchange(this, req, res, next));
  }

  /** Answers a refused HTTP request: the handler hook for a ban when there is one, else the default answer. */
  answer(req: Req, res: ServerResponse, next: Next, r: Refusal): void {
    if (r.reason === 'banned' && r.client && this.hasHandler && this.byHandler(req, res, next, r, r.client)) return;
    sendBlocked(res, r.status, r.body, r.until, Date.now());
  }

  /** The handler hook answers a banned client; false when it did not (it threw first). */
  private byHandler(req: Req, res: ServerResponse, next: Next, r: Refusal, client: Client): boolean {
    const now = Date.now();
    // the headers every answer to a ban carries; the handler writes the rest
    res.setHeader('Cache-Control', 'no-store');
    if (r.until > 0) res.setHeader('Retry-After', retryAfter(r.until, now));
    // the key, when the ban is the key's and not the address's
    const key = client.key && this.d.cache.bannedUntil(client.ip, now) === 0 ? client.key.key : undefined;
    return this.d.hooks.blocked(req, res, next, {
      ip: client.ip,
      ...(key !== undefined ? { key } : {}),
      until: r.until,
      ...(r.until > 0 ? { retryAfter: Number(retryAfter(r.until, now)) } : {}),
      status: r.status,
      message: r.body,
    });
  }

  /**
   * What every request goes through, HTTP or Upgrade: the canonical target,
   * who the client is, a failure of it still being recorded, the ban, and
   * the budget of the jails that could count it. Ends in `outcome.refuse`
   * or `outcome.proceed` (client null: skipped, a trusted proxy's own
   * request, or an unknown client let through by unknownClient: allow).
   */
  front(req: Req, outcome: Outcome): void {
    const path = this.canonicalise(req);
    if (path === null) {
      this.refuse(outcome, { status: 400, body: AMBIGUOUS_TARGET, until: 0, reason: 'ambiguous_target' });
      return;
    }
    // after the canonical target: skip() sees the url the upstream will see
    if (this.hasSkip && this.d.hooks.skip(req)) {
      outcome.proceed(null, path, null);
      return;
    }
    const known = this.clientIpAsked ? this.resolved.get(req) : undefined;
    const ip = known !== undefined ? known : this.d.resolver.resolve(req);
    if (ip === null) {
      if (this.unknownClient(req)) this.refuse(outcome, { status: 400, body: UNKNOWN_CLIENT, until: 0, reason: 'unknown_client' });
      else outcome.proceed(null, path, null);
      return;
    }
    if (this.d.resolver.isProxy?.(req)) {
      outcome.proceed(null, path, null);
      return;
    }
    const client: Client = { ip, key: this.hasKeyGenerator ? this.d.hooks.key(req) : null };
    // A failure of this client is still being recorded: its verdict decides.
    const pending = this.d.cache.pendingFor(client.key?.address ?? ip);
    if (pending) {
      const go = () => this.decide(req, client, path, outcome);
      pending.then(go, go);
      return;
    }
    this.decide(req, client, path, outcome);
  }

  /**
   * The client's address as the guard resolves it (null: unknown), for the
   * app's own use (a request log): resolved once per request, by whichever
   * of the app and the guard asks first.
   */
  clientIp(req: Req): string | null {
    const known = this.resolved.get(req);
    if (known !== undefined) return known;
    const ip = this.d.resolver.resolve(req);
    this.resolved.set(req, ip);
    this.clientIpAsked = true;
    return ip;
  }

  private refuse(outcome: Outcome, r: Refusal): void {
    this.d.metrics.blockedRequest(r.reason);
    outcome.refuse(r);
  }

  /**
   * Rewrites req.url to the one target the upstream will receive and returns
   * the decoded path jails are matched against; null for a target to refuse.
   */
  private canonicalise(req: Req): string | null {
    const raw = req.url ?? '/';
    // nearly every target is already canonical: one scan, nothing rewritten
    const plain = plainTargetPath(raw);
    if (plain !== null) return plain;
    const target = canonicalTarget(raw);
    if (target === null) return null;
    if (target.url !== raw) {
      if (req.originalUrl === raw) req.originalUrl = target.url;
      req.url = target.url;
    }
    return target.path;
  }

  /** Logs once; true when the request is to be refused. */
  private unknownClient(req: Req): boolean {
    const block = this.d.config.unknownClient === 'block';
    if (!this.warnedUnknown) {
      this.warnedUnknown = true;
      this.d.log.warn(
        { peer: req.socket.remoteAddress, unknownClient: this.d.config.unknownClient },
        block
          ? 'portcullis: a request whose client address cannot be determined (malformed forwarding header from a trusted proxy) is refused with 400 (unknownClient: block)'
          : 'portcullis: a request whose client address cannot be determined (malformed forwarding header from a trusted proxy) passes uncounted and unchecked (unknownClient: allow)',
      );
    }
    return block;
  }

  private decide(req: Req, client: Client, path: string, outcome: Outcome): void {
    const until = this.bannedUntil(client);
    if (until !== 0) {
      const { blockStatus, blockBody } = this.d.config.gateway;
      this.refuse(outcome, { status: blockStatus, body: blockBody, until, reason: 'banned', client });
      return;
    }
    const method = req.method ?? 'GET';
    for (const flood of this.floods) {
      const key = this.keyFor(client, flood.jail);
      if (key !== null) flood.hit(key, method, path);
    }
    let candidates: Jail[] | null = null;
    for (const jail of this.budgeted) {
      if (!jail.mayCount(method, path)) continue;
      candidates ??= [];
      candidates.push(jail);
    }
    // most requests leave here: no jail could count them, no Redis call
    if (candidates === null) {
      outcome.proceed(client, path, null);
      return;
    }
    // another site made a browser send this login attempt: refused before Django, never
    // counted, so no page can lock its visitors out; a bot forging the header gets no guess
    if (this.d.config.gateway.crossSite === 'refuse' && req.headers['sec-fetch-site'] === 'cross-site') {
      this.refuse(outcome, { status: 403, body: CROSS_SITE, until: 0, reason: 'cross_site' });
      return;
    }
    void this.admit(candidates, client).then((held) => {
      const { blockStatus: status, blockBody: body } = this.d.config.gateway;
      if (held === 'over') this.refuse(outcome, { status: 429, body: OVER_BUDGET, until: Date.now() + 1000, reason: 'over_budget' });
      else if (!Array.isArray(held)) this.refuse(outcome, { status, body, until: held.bannedUntil, reason: 'banned', client });
      else outcome.proceed(client, path, held);
    });
  }

  /** The ban of the client's address or of its key (local cache, no Redis call); 0 when none. */
  private bannedUntil(client: Client): number {
    const { cache } = this.d;
    // no ban anywhere (the cache is empty): nothing to look up, not even the clock
    if (cache.size === 0) return 0;
    const now = Date.now();
    const until = cache.bannedUntil(client.ip, now);
    return until !== 0 || !client.key ? until : cache.bannedUntil(client.key.address, now);
  }

  /** One unit of every candidate jail's budget, or why not (what was held is given back). */
  private async admit(candidates: Jail[], client: Client): Promise<Held[] | 'over' | { bannedUntil: number }> {
    const held: Held[] = [];
    for (const jail of candidates) {
      const key = this.keyFor(client, jail);
      if (key === null) continue;
      const answer = await this.budget.admit(jail, key, () => this.bannedUntil(client));
      if (answer.state === 'reserved') held.push({ jail, key, token: answer.token });
      else if (answer.state !== 'open') {
        this.giveBack(held);
        if (answer.state === 'over') return 'over';
        // banned in the store (e.g. by another gateway, its message still on the way)
        if (this.bannedUntil(client) === 0) this.d.cache.add(key, answer.until);
        return { bannedUntil: answer.until };
      }
    }
    return held;
  }

  /**
   * The key the client is counted under in `jail`: null when its address is
   * never counted (loopback, trusted proxy, ignoreIp), whatever its key;
   * else the keyGenerator's key (as an address, keyAddress), or its IPv6
   * prefix (ipv6Prefix), or the address itself when that prefix holds a
   * protected address.
   */
  private keyFor(client: Client, jail: Jail): string | null {
    const { ip } = client;
    if (client.key) return countedKey(ip, jail, this.protection) === null ? null : client.key.address;
    const prefix = clientPrefix(ip, jail.ipv6Prefix);
    if (prefix !== ip) {
      const key = countedKey(prefix, jail, this.protection);
      if (key !== null) return key;
    }
    return countedKey(ip, jail, this.protection);
  }

  /**
   * The response head is known: records a failure for every jail it counts
   * for (its rule, the upstream's X-Portcullis-Failure header, already
   * taken off the response, or the classify hook), and settles the units held.
   */
  verdict(req: Req, client: Client | null, path: string, held: Held[] | null, head: ResponseHead, failureHeader: string | undefined): void {
    if (client === null) return;
    const named = this.named(req, head, failureHeader);
    // most responses leave here: a status no jail counts, no jail named
    if (named === undefined && this.statusFilter !== null && !this.statusFilter.has(head.statusCode)) {
      if (held) this.giveBack(held);
      return;
    }
    const hits = failedJails(this.ruled, this.jailMap, req, head, named, path);
    for (const jail of hits) {
      const unit = held?.find((h) => h.jail === jail);
      const key = unit?.key ?? this.keyFor(client, jail);
      if (key !== null) this.record(jail, client, key, req, unit, head.statusCode);
    }
    if (held) for (const h of held) if (!hits.includes(h.jail)) this.budget.settle(h.jail, h.key, h.token);
  }

  /** The jails named for this response: by the upstream's header and by the classify hook. */
  private named(req: Req, head: ResponseHead, failureHeader: string | undefined): string | undefined {
    if (!this.hasClassifier) return failureHeader;
    const classified = this.d.hooks.classify(req, head);
    if (classified === undefined) return failureHeader;
    for (const name of classified.split(',')) if (!this.jailMap.has(name.trim())) this.d.hooks.unknownJail(name);
    return failureHeader === undefined ? classified : `${failureHeader},${classified}`;
  }

  /** No verdict will come (no response head): the units held are given back. */
  giveBack(held: Held[]): void {
    for (const h of held) this.budget.settle(h.jail, h.key, h.token);
  }

  private record(jail: Jail, client: Client, key: string, req: Req, unit: Held | undefined, status: number): void {
    const { cache, outage, log, metrics } = this.d;
    const { ip } = client;
    const detail = this.keepDetails ? failureDetail(req, status) : undefined;
    const recording = this.d.store.recordFailure(jail, key, undefined, detail, 1, unit?.token).then(
      (result) => {
        outage.recovered();
        metrics.failureRecorded(jail.name, result.banned);
        if (result.banned) {
          cache.add(key, result.until);
          (req.log ?? log).warn(
            {
              ip,
              // a key's own text may be a secret (an API key): only the address it is held under
              ...(key === ip ? {} : client.key ? { keyAddress: key } : { prefix: key }),
              jail: jail.name,
              bans: result.bans,
              until: result.until === -1 ? 'forever' : new Date(result.until).toISOString(),
              bantime: formatDuration(result.until === -1 ? -1 : result.until - Date.now()),
            },
            'portcullis: banned',
          );
        } else if (result.alreadyBanned) cache.add(key, result.until);
      },
      (err: unknown) => outage.failed(err),
    );
    // the unit is given back inside the failure's own script: never both or neither counted
    if (unit) this.budget.settled(unit.jail, unit.key, recording);
    cache.track(client.key?.address ?? ip, recording);
  }
}
