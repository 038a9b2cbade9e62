import { hostname } from 'node:os';
import { Keys, Protection, createRedis, effectiveFirewall, normalizeCidr, type Cidr, type PortcullisConfig } from '@portcullis/core';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { createBackend } from './backends/index.js';
import type { Ban, FirewallBackend, FirewallBatch, FirewallHealth, OwnedRule } from './backends/firewall.js';
import { diffReconcile, mergeEntries, type StreamEntry } from './batch.js';
import { backoffDelay, runCommand, type Runner } from './exec.js';
import { ExpiryWheel } from './expiry.js';
import { startHealthServer, type HealthReport } from './health.js';
import { ConnectionKiller } from './kill-connections.js';
import { SidecarMetrics } from './metrics.js';
import { assertAlertsGroup, startSideTasks, type SideTasks } from './side-tasks.js';
import type { LogJail } from './logs/log-jail.js';
import type { AlertConsumer } from './alerts/alert-consumer.js';

export interface SidecarOptions {
  /** this host's consumer group (default config.sidecar.hostId, then the host name) */
  hostId?: string;
  /** consumer name inside the group (default: the host id; stable across restarts so pending entries come back) */
  consumer?: string;
  /** Redis URL (default config.redis) */
  redis?: string;
  /** a ready backend (tests); default: the one config.firewall.backend names */
  backend?: FirewallBackend;
  /** runs firewall / ss / conntrack commands (default execa, argument arrays) */
  run?: Runner;
  /** ufw rule files (default /etc/ufw) */
  ufwRulesDir?: string;
  logger?: Logger;
  /** health/metrics port: default config.sidecar.healthPort; false = no server; 0 = any free port */
  healthPort?: number | false;
  healthHost?: string;
  /** XREADGROUP BLOCK (ms) */
  blockMs?: number;
  /** Node's default process metrics on /metrics */
  defaultMetrics?: boolean;
}

class Stopped extends Error {}

const DEAD_MAXLEN = 10_000;

/**
 * The banner daemon. One consumer group per host on {p}:events: every host
 * applies every ban. An entry is acknowledged only once the firewall holds
 * its result; a crash leaves it pending and the next start re-reads it.
 *
 *   start: connect → backend init → reclaim pending → reconcile → consume
 *   every reconcileInterval and after a Redis reconnect: reconcile
 *   at each ban's until: the expiry wheel removes the rule (ufw, dry-run)
 */
export class Sidecar {
  readonly hostId: string;
  readonly consumer: string;
  readonly keys: Keys;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly backend: FirewallBackend;
  /** what we hold in the firewall, by address */
  readonly owned = new Map<string, OwnedRule>();
  /** resolves after the first reconcile (the firewall matches Redis) */
  readonly ready: Promise<void>;
  healthPort = 0;

  private readonly config: PortcullisConfig;
  private readonly opts: SidecarOptions;
  private readonly killer: ConnectionKiller;
  private readonly protection: Protection;
  private readonly wheel: ExpiryWheel;
  private cmd!: Redis;
  private reader!: Redis;
  private health: FirewallHealth = { ok: false, enforcing: false, message: 'starting' };
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lock: Promise<unknown> = Promise.resolve();
  private killing: Promise<void> = Promise.resolve();
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconciling: Promise<unknown> | null = null;
  private needReclaim = true;
  private groupReady = false;
  private started = false;
  private readyResolve!: () => void;
  private isReady = false;
  private applyFailing: string | null = null;
  private lastError: string | null = null;
  private lastApplied = 0;
  private lastReconcile = 0;
  private pendingCount = 0;
  private pendingCheckedAt = 0;
  private closeHealth: (() => Promise<void>) | null = null;
  /** log jails and the alerts consumer, beside the firewall loop */
  private sideTasks: SideTasks | null = null;

  /** this host's member of the alerts group (null without `alerts`); `await alerts.ready` before counting on it */
  get alerts(): AlertConsumer | null {
    return this.sideTasks?.alerts ?? null;
  }

  /** this host's log-fed jails (sshd), running once start() resolved */
  get logJails(): readonly LogJail[] {
    return this.sideTasks?.logJails.jails ?? [];
  }
  private sleepers = new Set<() => void>();

  constructor(config: PortcullisConfig, opts: SidecarOptions = {}) {
    this.config = config;
    this.opts = opts;
    this.hostId = opts.hostId ?? config.sidecar.hostId ?? safeHostName();
    this.consumer = opts.consumer ?? this.hostId;
    this.keys = new Keys(config.prefix);
    this.log = (opts.logger ?? pino({ name: 'portcullis-sidecar' })).child({ host: this.hostId });
    this.metrics = new SidecarMetrics({ defaultMetrics: opts.defaultMetrics });
    const run = opts.run ?? runCommand;
    this.backend = opts.backend ?? createBackend(effectiveFirewall(config), { run, logger: this.log, ufwRulesDir: opts.ufwRulesDir });
    this.killer = new ConnectionKiller(run, this.log);
    this.protection = new Protection(config);
    this.wheel = new ExpiryWheel((ips) => void this.expire(ips));
    this.ready = new Promise<void>((resolve) => (this.readyResolve = resolve));
    assertAlertsGroup(config, this.hostId);
  }

  /** loopback, trustProxy and ignoreIp are never banned in the firewall, whatever an event says */
  private readonly refuse = (cidr: Cidr): string | null => this.protection.reasonForCidr(cidr);

  /** events per batch: sidecar.batchSize, capped by what the backend handles well */
  get batchSize(): number {
    return Math.min(this.config.sidecar.batchSize, this.backend.maxBatch ?? Infinity);
  }

  private get redisUrl(): string {
    const url = this.opts.redis ?? this.config.redis;
    if (!url) throw new TypeError('the sidecar needs Redis: set `redis:` in the config or REDIS_URL');
    return url;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const url = this.redisUrl;
    this.cmd = createRedis(url, { retry: true, commandTimeout: 10_000 });
    this.reader = createRedis(url, { retry: true });
    let connectedOnce = false;
    for (const client of [this.cmd, this.reader]) {
      client.on('error', (err: Error) => {
        if (!this.stopping) this.log.debug({ err: err.message }, 'redis error');
      });
    }
    this.cmd.on('ready', () => {
      if (connectedOnce && !this.stopping) {
        this.log.info('redis reconnected: reconciling');
        this.needReclaim = true;
        this.groupReady = false;
        void this.reconcileSoon();
      }
      connectedOnce = true;
    });
    this.cmd.on('close', () => {
      if (!this.stopping && connectedOnce) this.log.warn('redis connection lost; retrying');
    });
    void this.cmd.connect().catch(() => {});
    void this.reader.connect().catch(() => {});

    const port = this.opts.healthPort ?? this.config.sidecar.healthPort;
    if (port !== false) {
      const srv = await startHealthServer({
        host: this.opts.healthHost ?? this.config.sidecar.healthHost,
        port,
        health: () => this.healthReport(),
        registry: this.metrics.registry,
      });
      this.healthPort = srv.port;
      this.closeHealth = srv.close;
    }
    this.loopDone = this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.log.fatal({ err }, 'sidecar loop died');
    });
    this.sideTasks = await startSideTasks(this.config, { hostId: this.hostId, redis: url, logger: this.log, registry: this.metrics.registry });
    const interval = this.config.sidecar.reconcileInterval;
    this.reconcileTimer = setInterval(() => {
      this.needReclaim = true;
      void this.reconcileSoon();
    }, interval);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.wheel.stop();
    for (const wake of this.sleepers) wake();
    this.reader?.disconnect();
    await this.loopDone;
    await this.reconciling?.catch(() => {});
    await this.lock.catch(() => {});
    await this.killing;
    await this.sideTasks?.stop();
    this.cmd?.disconnect();
    await this.closeHealth?.();
  }

  /** /healthz */
  healthReport(): HealthReport {
    let status: HealthReport['status'] = 'ok';
    const problems: string[] = [];
    if (!this.isReady) {
      status = 'degraded';
      problems.push('starting: first reconcile not done');
    }
    if (!this.health.ok) {
      status = 'failing';
      problems.push(this.health.message);
    } else if (!this.health.enforcing && this.backend.name !== 'dry-run') {
      status = 'failing';
      problems.push(this.health.message);
    }
    if (this.applyFailing) {
      status = 'failing';
      problems.push(`firewall apply failing (retrying): ${this.applyFailing}`);
    }
    if (this.cmd?.status !== 'ready') {
      if (status === 'ok') status = 'degraded';
      problems.push(`redis ${this.cmd?.status ?? 'not connected'}`);
    }
    return {
      status,
      problems,
      hostId: this.hostId,
      backend: this.backend.name,
      enforcing: this.health.enforcing,
      firewall: this.health.message,
      redis: this.cmd?.status ?? 'none',
      rules: this.owned.size,
      pending: this.pendingCount,
      lastError: this.lastError,
      lastAppliedAt: this.lastApplied ? new Date(this.lastApplied).toISOString() : null,
      lastReconcileAt: this.lastReconcile ? new Date(this.lastReconcile).toISOString() : null,
    };
  }

  // ---------------------------------------------------------------- the loop

  private async run(): Promise<void> {
    for (let waited = 0; this.cmd.status !== 'ready' || this.reader.status !== 'ready'; waited += 100) {
      if (this.stopping) return;
      if (waited > 0 && waited % 5000 === 0) this.log.warn({ redis: this.cmd.status }, 'waiting for Redis');
      await this.sleep(100);
    }
    await this.retrying('firewall init', async () => {
      await this.backend.init();
      await this.checkFirewall(true);
    });
    let attempt = 0;
    while (!this.stopping) {
      try {
        await this.ensureGroup();
        if (this.needReclaim) {
          this.needReclaim = false;
          await this.reclaim();
        }
        if (!this.isReady) {
          await this.reconcile();
          this.isReady = true;
          this.readyResolve();
          this.log.info({ backend: this.backend.name, rules: this.owned.size, group: this.hostId }, 'sidecar ready');
        }
        const reply = (await this.reader.xreadgroup(
          'GROUP', this.hostId, this.consumer,
          'COUNT', this.batchSize,
          'BLOCK', this.opts.blockMs ?? 2000,
          'STREAMS', this.keys.events, '>',
        )) as Array<[string, StreamEntry[]]> | null;
        if (reply && reply[0]) await this.handle(reply[0][1]);
        await this.updatePending();
        attempt = 0;
      } catch (err) {
        if (this.stopping || err instanceof Stopped) break;
        const message = (err as Error).message ?? String(err);
        // entries read but not acked stay pending to us: read them again
        this.needReclaim = true;
        if (/NOGROUP/.test(message)) {
          // the stream or group vanished (Redis restarted without persistence, FLUSHALL)
          this.groupReady = false;
          this.log.warn('consumer group missing: recreating it and reconciling');
          void this.reconcileSoon();
          continue;
        }
        this.lastError = message;
        this.metrics.errors.inc({ kind: 'redis' });
        const delay = backoffDelay(attempt++, 100, 5000);
        this.log.warn({ err: message, retryInMs: delay }, 'event loop error; retrying');
        await this.sleep(delay);
      }
    }
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      // at "$": what is already banned comes from {p}:bans through reconcile, not from history
      await this.cmd.xgroup('CREATE', this.keys.events, this.hostId, '$', 'MKSTREAM');
      this.log.info({ group: this.hostId }, 'consumer group created');
      if (this.isReady) void this.reconcileSoon();
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
    this.groupReady = true;
  }

  /** Takes over entries idle in other consumers of our group, then re-reads our own pending ones. */
  private async reclaim(): Promise<void> {
    let cursor = '0-0';
    do {
      const reply = (await this.cmd.xautoclaim(
        this.keys.events, this.hostId, this.consumer, this.config.sidecar.claimIdle, cursor, 'COUNT', this.config.sidecar.batchSize,
      )) as [string, StreamEntry[], string[]?];
      cursor = reply[0];
      const deleted = reply[2] ?? [];
      if (deleted.length) await this.cmd.xack(this.keys.events, this.hostId, ...deleted);
    } while (cursor !== '0-0' && !this.stopping);

    let last = '0-0';
    for (;;) {
      if (this.stopping) throw new Stopped();
      const reply = (await this.cmd.xreadgroup(
        'GROUP', this.hostId, this.consumer, 'COUNT', this.batchSize, 'STREAMS', this.keys.events, last,
      )) as Array<[string, StreamEntry[]]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) break;
      this.log.info({ count: entries.length }, 'reclaimed pending events');
      await this.handle(entries);
      last = entries[entries.length - 1]![0];
    }
  }

  /** one batch: validate, park the malformed, apply the rest as one firewall batch, then XACK */
  private async handle(entries: StreamEntry[]): Promise<void> {
    const gone = entries.filter(([, fields]) => fields === null || fields === undefined).map(([id]) => id);
    const live = entries.filter(([, fields]) => Array.isArray(fields));
    const merged = mergeEntries(live, Date.now(), this.refuse);
    if (merged.malformed.length > 0) {
      const multi = this.cmd.multi();
      for (const m of merged.malformed) {
        multi.xadd(
          this.keys.deadEvents, 'MAXLEN', '~', DEAD_MAXLEN, '*',
          'id', m.id, 'error', m.error, 'host', this.hostId, 'parkedAt', String(Date.now()), 'fields', JSON.stringify(m.fields),
        );
      }
      await multi.exec();
      for (const m of merged.malformed) {
        this.metrics.malformed.inc();
        this.log.warn({ id: m.id, error: m.error, parkedIn: this.keys.deadEvents }, 'malformed event parked');
      }
    }
    const t0 = Date.now();
    await this.exclusive(() => this.applyBatch(merged.firewall, 'event'));
    const applied = Date.now();
    for (const { id, event } of merged.events) {
      const latencyMs = Math.max(0, applied - event.at);
      this.metrics.applyLatency.observe(latencyMs / 1000);
      const type = event.type === 'ban' && event.until !== -1 && event.until <= t0 ? 'expired' : event.type;
      if (type !== 'expired') this.metrics.eventsApplied.inc({ type });
      this.log.info(
        { id, type, ip: event.ip, jail: event.jail, backend: this.backend.name, latencyMs, ...(event.type === 'ban' ? { until: event.until } : {}) },
        type === 'ban' ? 'ban applied' : type === 'unban' ? 'unban applied' : 'ban already over: no rule',
      );
    }
    const ids = [...merged.ids, ...gone];
    for (let i = 0; i < ids.length; i += 1000) {
      await this.cmd.xack(this.keys.events, this.hostId, ...ids.slice(i, i + 1000));
    }
    this.killConnections(merged.firewall.add);
  }

  // ------------------------------------------------------------ firewall side

  /** runs firewall work one piece at a time (events, reconcile, expiry) */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn);
    this.lock = next.catch(() => {});
    return next;
  }

  /** applies until it holds (backoff between tries); the caller's events stay pending meanwhile */
  private async applyBatch(batch: FirewallBatch, why: 'event' | 'reconcile' | 'expiry'): Promise<void> {
    if (batch.add.length === 0 && batch.remove.length === 0) return;
    await this.retrying(`firewall ${why}`, async () => {
      const end = this.metrics.batchDuration.startTimer();
      await this.backend.apply(batch, this.owned);
      end();
    });
    this.lastApplied = Date.now();
    for (const b of batch.remove) {
      this.owned.delete(b.ip);
      this.wheel.delete(b.ip);
    }
    for (const b of batch.add) {
      this.owned.set(b.ip, { ...b, current: true });
      this.wheel.set(b.ip, b.until);
    }
    this.metrics.rules.set(this.owned.size);
  }

  /**
   * Ends live connections of freshly banned addresses, after the rule holds.
   * Runs beside the consumer loop (its own queue) so ss/conntrack never delay
   * the next batch; failures are only logged.
   */
  private killConnections(bans: readonly Ban[]): void {
    if (!this.config.firewall.killConnections || this.backend.name === 'dry-run' || bans.length === 0) return;
    const ips = bans.map((b) => b.ip);
    this.killing = this.killing.then(() => this.killer.kill(ips)).catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'ending live connections failed');
    });
  }

  private async retrying(what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopping) throw new Stopped();
      try {
        await fn();
        if (this.applyFailing) this.log.info(`${what}: recovered`);
        this.applyFailing = null;
        return;
      } catch (err) {
        if (err instanceof Stopped) throw err;
        const message = (err as Error).message;
        this.applyFailing = message;
        this.lastError = message;
        this.metrics.errors.inc({ kind: 'firewall' });
        const delay = backoffDelay(attempt);
        this.log.error({ err: message, attempt: attempt + 1, retryInMs: delay, backend: this.backend.name }, `${what} failed; retrying`);
        await this.sleep(delay);
      }
    }
  }

  private async checkFirewall(loud: boolean): Promise<void> {
    const before = this.health;
    this.health = await this.backend.check();
    this.metrics.enforcing.set(this.health.enforcing ? 1 : 0);
    if (!this.health.ok) throw new Error(this.health.message);
    if (!this.health.enforcing && this.backend.name !== 'dry-run' && (loud || before.enforcing)) {
      this.log.error({ backend: this.backend.name }, `BANS ARE NOT ENFORCED: ${this.health.message}`);
    } else if (loud) {
      this.log.info({ backend: this.backend.name }, this.health.message);
    }
  }

  /** the rules due at their until: removed (ufw) or forgotten (nftables expires them itself) */
  private async expire(ips: string[]): Promise<void> {
    try {
      await this.exclusive(async () => {
        const now = Date.now();
        const due = ips
          .map((ip) => this.owned.get(ip))
          .filter((o): o is OwnedRule => o !== undefined && o.until !== -1 && o.until <= now);
        if (due.length === 0) return;
        if (this.backend.expiresItself) {
          for (const o of due) this.owned.delete(o.ip);
          this.metrics.rules.set(this.owned.size);
        } else {
          await this.applyBatch({ add: [], remove: due }, 'expiry');
        }
        this.metrics.expired.inc(due.length);
        for (const o of due) this.log.info({ ip: o.ip, jail: o.jail, backend: this.backend.name, until: o.until }, 'ban expired: rule removed');
      });
    } catch (err) {
      if (!(err instanceof Stopped)) {
        this.metrics.errors.inc({ kind: 'expiry' });
        this.log.error({ err: (err as Error).message }, 'expiry failed; reconcile will retry');
      }
    }
  }

  // -------------------------------------------------------------- reconcile

  private reconcileSoon(): Promise<unknown> {
    if (!this.isReady || this.stopping) return Promise.resolve();
    if (this.reconciling) return this.reconciling;
    this.reconciling = this.reconcile()
      .catch((err: unknown) => {
        if (err instanceof Stopped) return;
        this.metrics.errors.inc({ kind: 'reconcile' });
        this.lastError = (err as Error).message;
        this.log.warn({ err: (err as Error).message }, 'reconcile failed; will try again');
      })
      .finally(() => {
        this.reconciling = null;
      });
    return this.reconciling;
  }

  /**
   * Makes the firewall match {p}:bans, changing only the difference: missing
   * bans are added, stale or expired rules removed, a changed until refreshed.
   */
  async reconcile(): Promise<{ added: number; removed: number }> {
    return this.exclusive(async () => {
      await this.checkFirewall(false);
      const owned = await this.backend.listOwned();
      const now = Date.now();
      const flat = await this.cmd.zrangebyscore(this.keys.bans, `(${now}`, '+inf', 'WITHSCORES');
      const active: Ban[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const cidr = normalizeCidr(flat[i]);
        if (!cidr) continue; // never let a bad member reach a command
        const why = this.refuse(cidr);
        if (why) {
          this.log.warn({ ip: cidr.text, why }, 'refusing to enforce a ban of a protected address');
          continue;
        }
        const score = flat[i + 1]!;
        active.push({ ip: cidr.text, jail: '', until: score === 'inf' ? -1 : Number(score) });
      }
      const diff = diffReconcile(owned, active, now);
      if (diff.add.length > 0) {
        const p = this.cmd.pipeline();
        for (const b of diff.add) p.hget(this.keys.ban(b.ip), 'jail');
        const rows = (await p.exec()) ?? [];
        diff.add.forEach((b, i) => {
          const jail = rows[i]?.[1];
          b.jail = typeof jail === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(jail) ? jail : 'manual';
        });
      }
      this.owned.clear();
      this.wheel.clear();
      for (const o of owned) {
        this.owned.set(o.ip, o);
        this.wheel.set(o.ip, o.until);
      }
      await this.applyBatch(diff, 'reconcile');
      this.killConnections(diff.add);
      this.metrics.reconcileAdds.inc(diff.add.length);
      this.metrics.reconcileRemoves.inc(diff.remove.length);
      this.lastReconcile = Date.now();
      if (diff.add.length || diff.remove.length) {
        this.log.info({ added: diff.add.length, removed: diff.remove.length, rules: this.owned.size, backend: this.backend.name }, 'reconciled');
      }
      return { added: diff.add.length, removed: diff.remove.length };
    });
  }

  private async updatePending(force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - this.pendingCheckedAt < 1000) return;
    this.pendingCheckedAt = now;
    const groups = (await this.cmd.xinfo('GROUPS', this.keys.events)) as Array<Array<string | number | null>>;
    for (const g of groups) {
      const info: Record<string, string | number | null> = {};
      for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1] ?? null;
      if (info.name === this.hostId) {
        this.pendingCount = Number(info.pending ?? 0) + Number(info.lag ?? 0);
        this.metrics.pending.set(this.pendingCount);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

function safeHostName(): string {
  const name = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return (name || 'host').slice(0, 64);
}

/** Starts a sidecar in this process (tests, the example gateway); `await s.ready` for the first reconcile. */
export async function startSidecar(config: PortcullisConfig, opts: SidecarOptions = {}): Promise<Sidecar> {
  const sidecar = new Sidecar(config, opts);
  await sidecar.start();
  return sidecar;
}
