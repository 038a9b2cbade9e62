import type { IncomingMessage, ServerResponse } from 'node:http';
import onHeaders from 'on-headers';
import type { Logger } from 'pino';
import {
  Protection,
  canonicalTarget,
  clientPrefix,
  countedKey,
  formatDuration,
  type BanStore,
  type Jail,
  type PortcullisConfig,
} from '@portcullis/core';
import type { BanCache } from './ban-cache.js';
import { sendBlocked } from './block.js';
import { AttemptBudget } from './budget.js';
import { failedJails, takeFailureHeader } from './classify.js';
import type { ClientIpResolver } from './client-ip.js';
import type { OutageLog } from './outage.js';
import { failureDetail } from './failure-detail.js';
import { FloodCounter } from './flood-counter.js';

export type Req = IncomingMessage & { originalUrl?: string; log?: Logger };
export type Next = (err?: unknown) => void;

/** Answers a request at the gateway: status, body, and until (ms) for Retry-After (0: none). */
export type Refuse = (status: number, body: string, until: number) => void;

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
  resolver: ClientIpResolver;
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

  constructor(private readonly d: RequestGuardDeps) {
    this.jailMap = d.jails;
    this.ruled = [...d.jails.values()].filter((j) => j.hasRule);
    this.budgeted = this.ruled.filter((j) => j.budgeted);
    this.protection = new Protection(d.config);
    this.budget = new AttemptBudget(d.store, d.outage, d.config.gateway.attemptTimeout, d.config.gateway.commandTimeout);
    this.statusFilter = this.ruled.every((j) => j.statuses !== null)
      ? new Set(this.ruled.flatMap((j) => [...(j.statuses ?? [])]))
      : null;
    this.floods = [...d.jails.values()]
      .filter((j) => j.flood !== null)
      .map((jail) => new FloodCounter({ jail, store: d.store, onBanned: (key, r) => d.cache.add(key, r.until), onError: (err) => d.outage.failed(err) }));
    this.keepDetails = d.config.alerts?.enabled === true;
  }

  handle(req: Req, res: ServerResponse, next: Next): void {
    this.front(
      req,
      (status, body, until) => sendBlocked(res, status, body, until, Date.now()),
      (ip, path, held) => {
        this.watch(req, res, ip, path, held);
        next();
      },
    );
  }

  /**
   * What every request goes through, HTTP or Upgrade: the canonical target,
   * who the client is, a failure of it still being recorded, the ban, and
   * the budget of the jails that could count it. Ends in `refuse` or in
   * `proceed` (ip null: an unknown client let through by unknownClient: allow).
   */
  front(req: Req, refuse: Refuse, proceed: (ip: string | null, path: string, held: Held[] | null) => void): void {
    const path = this.canonicalise(req);
    if (path === null) {
      refuse(400, AMBIGUOUS_TARGET, 0);
      return;
    }
    const ip = this.d.resolver.resolve(req);
    if (ip === null) {
      if (this.unknownClient(req)) refuse(400, UNKNOWN_CLIENT, 0);
      else proceed(null, path, null);
      return;
    }
    // A failure of this address is still being recorded: its verdict decides.
    const pending = this.d.cache.pendingFor(ip);
    if (pending) {
      const go = () => this.decide(req, ip, path, refuse, proceed);
      pending.then(go, go);
      return;
    }
    this.decide(req, ip, path, refuse, proceed);
  }

  /**
   * Rewrites req.url to the one target the upstream will receive and returns
   * the decoded path jails are matched against; null for a target to refuse.
   */
  private canonicalise(req: Req): string | null {
    const raw = req.url ?? '/';
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

  private decide(req: Req, ip: string, path: string, refuse: Refuse, proceed: (ip: string, path: string, held: Held[] | null) => void): void {
    const { blockStatus, blockBody } = this.d.config.gateway;
    const until = this.d.cache.bannedUntil(ip, Date.now());
    if (until !== 0) {
      refuse(blockStatus, blockBody, until);
      return;
    }
    const method = req.method ?? 'GET';
    for (const flood of this.floods) {
      const key = this.keyFor(ip, flood.jail);
      if (key !== null) flood.hit(key, method, path);
    }
    let candidates: Jail[] | null = null;
    for (const jail of this.budgeted) if (jail.mayCount(method, path)) (candidates ??= []).push(jail);
    // most requests leave here: no jail could count them, no Redis call
    if (candidates === null) {
      proceed(ip, path, null);
      return;
    }
    // another site made a browser send this login attempt: refused before Django, never
    // counted, so no page can lock its visitors out; a bot forging the header gets no guess
    if (this.d.config.gateway.crossSite === 'refuse' && req.headers['sec-fetch-site'] === 'cross-site') {
      refuse(403, CROSS_SITE, 0);
      return;
    }
    void this.admit(candidates, ip).then((held) => {
      if (held === 'over') refuse(429, OVER_BUDGET, Date.now() + 1000);
      else if (!Array.isArray(held)) refuse(blockStatus, blockBody, held.bannedUntil);
      else proceed(ip, path, held);
    });
  }

  /** One unit of every candidate jail's budget, or why not (what was held is given back). */
  private async admit(candidates: Jail[], ip: string): Promise<Held[] | 'over' | { bannedUntil: number }> {
    const held: Held[] = [];
    for (const jail of candidates) {
      const key = this.keyFor(ip, jail);
      if (key === null) continue;
      const answer = await this.budget.admit(jail, key, () => this.d.cache.bannedUntil(ip, Date.now()));
      if (answer.state === 'reserved') held.push({ jail, key, token: answer.token });
      else if (answer.state !== 'open') {
        this.giveBack(held);
        if (answer.state === 'over') return 'over';
        // banned in the store (e.g. by another gateway, its message still on the way)
        if (this.d.cache.bannedUntil(ip, Date.now()) === 0) this.d.cache.add(key, answer.until);
        return { bannedUntil: answer.until };
      }
    }
    return held;
  }

  /**
   * The key `ip` is counted under in `jail`: its IPv6 prefix (ipv6Prefix),
   * or the address itself when that prefix holds a protected address; null
   * when the address is never counted (loopback, trusted proxy, ignoreIp).
   */
  private keyFor(ip: string, jail: Jail): string | null {
    const prefix = clientPrefix(ip, jail.ipv6Prefix);
    if (prefix !== ip) {
      const key = countedKey(prefix, jail, this.protection);
      if (key !== null) return key;
    }
    return countedKey(ip, jail, this.protection);
  }

  /** Classifies the response as its headers leave; settles the units held. */
  private watch(req: Req, res: ServerResponse, ip: string | null, path: string, held: Held[] | null): void {
    let settled = false;
    const guard = this;
    onHeaders(res, function onResponseHeaders(this: ServerResponse) {
      settled = true;
      guard.verdict(req, ip, path, held, this, takeFailureHeader(this));
    });
    // no response head at all (the client went away, the proxy failed): give the units back
    if (held) {
      res.once('close', () => {
        if (settled) return;
        settled = true;
        this.giveBack(held);
      });
    }
  }

  /**
   * The response head is known: records a failure for every jail it counts
   * for (its rule, or the upstream's X-Portcullis-Failure header, already
   * taken off the response), and settles the units held.
   */
  verdict(req: Req, ip: string | null, path: string, held: Held[] | null, head: ResponseHead, failureHeader: string | undefined): void {
    if (ip === null) return;
    const hits =
      failureHeader === undefined && this.statusFilter !== null && !this.statusFilter.has(head.statusCode)
        ? []
        : failedJails(this.ruled, this.jailMap, req, head, failureHeader, path);
    for (const jail of hits) {
      const unit = held?.find((h) => h.jail === jail);
      const key = unit?.key ?? this.keyFor(ip, jail);
      if (key !== null) this.record(jail, ip, key, req, unit, head.statusCode);
    }
    if (held) for (const h of held) if (!hits.includes(h.jail)) this.budget.settle(h.jail, h.key, h.token);
  }

  /** No verdict will come (no response head): the units held are given back. */
  giveBack(held: Held[]): void {
    for (const h of held) this.budget.settle(h.jail, h.key, h.token);
  }

  private record(jail: Jail, ip: string, key: string, req: Req, unit: Held | undefined, status: number): void {
    const { cache, outage, log } = this.d;
    const detail = this.keepDetails ? failureDetail(req, status) : undefined;
    const recording = this.d.store.recordFailure(jail, key, undefined, detail).then(
      (result) => {
        outage.recovered();
        if (result.banned) {
          cache.add(key, result.until);
          (req.log ?? log).warn(
            {
              ip,
              ...(key !== ip ? { prefix: key } : {}),
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
    // the unit is given back behind the failure on the same connection (Redis runs them in
    // order), so there is never a moment when neither counts, and no extra round trip to wait for
    if (unit) this.budget.settle(unit.jail, unit.key, unit.token);
    cache.track(ip, recording);
  }
}
