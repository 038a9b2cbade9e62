import { hostname } from 'node:os';
import {
  DataMarker,
  Keys,
  PortcullisError,
  createRedis,
  JailPorts,
  describeRedis,
  explainRedisError,
  isCluster,
  topologyProblem,
  watchSlotOwner,
  type PortcullisConfig,
  type RedisClient,
  type RedisSetting,
} from '@portcullis/core';
import { pino, type Logger } from 'pino';
import { Applier } from './applier.js';
import { createBackend } from './backends/index.js';
import type { FirewallBackend, OwnedRule } from './backends/firewall.js';
import { StreamConsumer } from './consumer.js';
import { EventHandler, Stopped } from './event-handler.js';
import { backoffDelay, runCommand, type Runner } from './exec.js';
import { errorText, isTransient } from './failure.js';
import { FirewallWatch } from './firewall-watch.js';
import { healthReport, startHealthServer, type HealthReport } from './health.js';
import { HostIdInUseError, HostLock } from './host-lock.js';
import { ConnectionKiller } from './kill-connections.js';
import { SidecarMetrics } from './metrics.js';
import { assertAlertsGroup, startSideTasks, type SideTasks } from './side-tasks.js';
import type { LogJail } from './logs/log-jail.js';
import type { AlertConsumer } from './alerts/alert-consumer.js';
import { Reconciler } from './reconciler.js';
import { banRefusal } from './refusal.js';

export interface SidecarOptions {
  /** this host's consumer group (default config.sidecar.hostId, then the host name) */
  hostId?: string;
  /** consumer name inside the group (default: the host id; stable across restarts so pending entries come back) */
  consumer?: string;
  /** the redis setting, a URL or an object (default config.redis) */
  redis?: RedisSetting;
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
  /** XREADGROUP BLOCK (ms); at most half of sidecar.unhealthyAfter */
  blockMs?: number;
  /** Node's default process metrics on /metrics */
  defaultMetrics?: boolean;
}

/**
 * The banner daemon, tying its parts together (as cs-firewall-bouncer's
 * cmd/root.go ties its stream and backend):
 *
 *   StreamConsumer   this host's consumer group on {p}:events: read, reclaim, ack, park
 *   EventHandler     one batch: validate, apply (split on failure), park poison, ack
 *   Applier          the one writer of the firewall: exclusive queue, owned rules, expiry
 *   Reconciler       the firewall made to match {p}:bans (start, periodic, reconnect)
 *   FirewallWatch    a cheap check every few seconds; restores a flushed firewall
 *   HostLock         one live sidecar per host id
 *
 *   start: lock → firewall init → group → reclaim pending → reconcile → consume
 *
 * An entry is acknowledged only once the firewall holds its result (or it is
 * parked): a crash leaves it pending and the next start re-reads it.
 */
export class Sidecar {
  readonly hostId: string;
  readonly consumerName: string;
  readonly keys: Keys;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly backend: FirewallBackend;
  readonly applier: Applier;
  /** resolves after the first reconcile (the firewall matches Redis); rejects when the sidecar cannot start (HostIdInUseError) */
  readonly ready: Promise<void>;
  healthPort = 0;

  private readonly config: PortcullisConfig;
  private readonly opts: SidecarOptions;
  private readonly ports: JailPorts;
  private cmd!: RedisClient;
  private reader!: RedisClient;
  private consumer!: StreamConsumer;
  private handler!: EventHandler;
  private reconciler!: Reconciler;
  private watch!: FirewallWatch;
  private lock!: HostLock;
  private stopping = false;
  private started = false;
  private isReady = false;
  private needReclaim = true;
  private needReconcile = false;
  private reconcilingInLoop = false;
  private startError: string | null = null;
  /** Redis answers but is the wrong node (a replica, a Sentinel, …): one clear line, /healthz fails */
  private topologyError: string | null = null;
  private marker!: DataMarker;
  private lastError: string | null = null;
  private readyResolve!: () => void;
  private readyReject!: (err: Error) => void;
  private loopDone: Promise<void> = Promise.resolve();
  private reconcileTimer: NodeJS.Timeout | null = null;
  private closeHealth: (() => Promise<void>) | null = null;
  /** log jails and the alerts consumer, beside the firewall loop */
  private sideTasks: SideTasks | null = null;
  private readonly sleepers = new Set<() => void>();

  constructor(config: PortcullisConfig, opts: SidecarOptions = {}) {
    this.config = config;
    this.opts = opts;
    this.hostId = opts.hostId ?? config.sidecar.hostId ?? safeHostName();
    this.consumerName = opts.consumer ?? this.hostId;
    this.keys = new Keys(config.prefix);
    this.log = (opts.logger ?? pino({ name: 'portcullis-sidecar' })).child({ host: this.hostId });
    this.metrics = new SidecarMetrics({ defaultMetrics: opts.defaultMetrics });
    const run = opts.run ?? runCommand;
    // each ban's rule closes its jail's ports (sshd: 22), not every jail's
    this.ports = new JailPorts(config);
    this.backend =
      opts.backend ?? createBackend(config.firewall, { run, logger: this.log, ufwRulesDir: opts.ufwRulesDir, shapes: this.ports.shapes() });
    this.applier = new Applier({
      backend: this.backend,
      log: this.log,
      metrics: this.metrics,
      killer: config.firewall.killConnections ? new ConnectionKiller(run, this.log) : undefined,
      isTransient,
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {}); // a caller that never awaits it must not crash the process
    assertAlertsGroup(config, this.hostId);
  }

  /** this host's member of the alerts group (null without `alerts`); `await alerts.ready` before counting on it */
  get alerts(): AlertConsumer | null {
    return this.sideTasks?.alerts ?? null;
  }

  /** this host's log-fed jails (sshd), running once start() resolved */
  get logJails(): readonly LogJail[] {
    return this.sideTasks?.logJails.jails ?? [];
  }

  /** what we hold in the firewall, by ruleKey: the address for a firewall.ports rule, `<ip> <ports>` for a jail's own ports */
  get owned(): ReadonlyMap<string, OwnedRule> {
    return this.applier.owned;
  }

  /** events per batch: sidecar.batchSize, capped by what the backend handles well */
  get batchSize(): number {
    return Math.min(this.config.sidecar.batchSize, this.backend.maxBatch ?? Infinity);
  }

  private get redisUrl(): RedisSetting {
    const url = this.opts.redis ?? this.config.redis;
    if (!url) throw new PortcullisError('ERR_PORTCULLIS_CONFIG', 'the sidecar needs Redis: set `redis:` in the config or REDIS_URL');
    return url;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const sc = this.config.sidecar;
    const url = this.redisUrl;
    this.cmd = createRedis(url, { retry: true, commandTimeout: 10_000 });
    this.reader = createRedis(url, { retry: true });
    this.marker = new DataMarker(this.cmd, this.keys.meta, `sidecar@${this.hostId}`, (err) => this.log.error(err.message));
    this.wireRedis();
    const refuse = banRefusal(this.config);
    this.consumer = new StreamConsumer({
      cmd: this.cmd,
      reader: this.reader,
      keys: this.keys,
      group: this.hostId,
      consumer: this.consumerName,
      batchSize: () => this.batchSize,
      claimIdleMs: sc.claimIdle,
      blockMs: Math.min(this.opts.blockMs ?? 2000, Math.floor(sc.unhealthyAfter / 2)),
      log: this.log,
    });
    const parts = { applier: this.applier, backend: this.backend, log: this.log, metrics: this.metrics };
    const portsOf = (jail: string) => this.ports.ownPorts(jail);
    this.reconciler = new Reconciler({ ...parts, cmd: this.cmd, keys: this.keys, refuse, portsOf, marker: this.marker });
    this.handler = new EventHandler({
      ...parts,
      consumer: this.consumer,
      refuse,
      portsOf,
      maxAttempts: sc.maxAttempts,
      sleep: (ms) => this.sleep(ms),
      stopping: () => this.stopping,
    });
    this.watch = new FirewallWatch({ ...parts, reconcile: () => this.reconciler.soon() });
    this.lock = new HostLock(this.cmd, this.keys.sidecarLock(this.hostId), this.hostId, sc.lockTtl, this.log);

    const port = this.opts.healthPort ?? sc.healthPort;
    if (port !== false) {
      const srv = await startHealthServer({
        host: this.opts.healthHost ?? sc.healthHost,
        port,
        health: () => this.healthReport(),
        registry: this.metrics.registry,
      });
      this.healthPort = srv.port;
      this.closeHealth = srv.close;
    }
    this.loopDone = this.run().catch((err: unknown) => {
      if (err instanceof Stopped) return;
      this.startError = errorText(err);
      this.log.fatal({ err }, err instanceof HostIdInUseError ? err.message : 'sidecar loop died');
      this.readyReject(err as Error);
      void this.stop();
    });
    const tasks = await startSideTasks(this.config, { hostId: this.hostId, redis: url, logger: this.log, registry: this.metrics.registry });
    // stopped meanwhile (the host id was taken): they go too
    if (this.stopping) await tasks.stop();
    else this.sideTasks = tasks;
  }

  private wireRedis(): void {
    let connectedOnce = false;
    for (const client of [this.cmd, this.reader]) {
      client.on('error', (err: Error) => {
        if (!this.stopping) this.log.debug({ err: err.message }, 'redis error');
      });
    }
    this.cmd.on('ready', () => void this.checkTopology());
    // a Cluster stays 'ready' through a failover: when another master owns the stream's slot,
    // look at the data again and reconcile (events are at least once; the reconcile heals the rest)
    if (isCluster(this.cmd)) {
      watchSlotOwner(this.cmd, this.keys.events, (owner) => {
        if (this.stopping) return;
        this.log.info({ owner }, 'redis cluster failover: reclaiming and reconciling');
        void this.marker.verify();
        this.needReclaim = true;
        this.needReconcile = true;
      });
    }
    this.cmd.on('ready', () => {
      if (connectedOnce && !this.stopping) {
        // the group may be gone (no persistence): recreate it FIRST, then reconcile, in the loop
        this.log.info('redis reconnected: recreating the group if needed, then reconciling');
        this.consumer.forgetGroup();
        this.needReclaim = true;
        this.needReconcile = true;
      }
      connectedOnce = true;
    });
    this.cmd.on('close', () => {
      if (!this.stopping && connectedOnce) this.log.warn('redis connection lost; retrying');
    });
    void this.cmd.connect().catch(() => {});
    void this.reader.connect().catch(() => {});
  }

  /** at start and after every reconnect: the right kind of node, and the data we knew */
  private async checkTopology(): Promise<void> {
    const problem = await topologyProblem(this.cmd, describeRedis(this.redisUrl));
    if (problem && problem.message !== this.topologyError) this.log.error(problem.message);
    this.topologyError = problem?.message ?? null;
    if (!problem) await this.marker.verify();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    for (const wake of this.sleepers) wake();
    this.reader?.disconnect();
    await this.loopDone;
    await this.watch?.stop();
    await this.reconciler?.settled();
    await this.applier.stop();
    await this.lock?.release();
    await this.sideTasks?.stop();
    this.cmd?.disconnect();
    await this.closeHealth?.();
  }

  /**
   * /healthz (and the health gauges on /metrics). The alerter's state is a
   * sub-status (`alerts`): its trouble never changes `status` nor the HTTP
   * code, so a dead mail server cannot get the banner restarted by a probe.
   */
  healthReport(): HealthReport {
    const now = Date.now();
    const sc = this.config.sidecar;
    const fw = this.watch?.health ?? { ok: false, enforcing: false, message: 'starting' };
    const report = healthReport({
      now,
      ready: this.isReady,
      startError: this.startError ?? this.topologyError,
      firewall: fw,
      dryRun: this.backend.name === 'dry-run',
      failingSince: this.handler?.failingSince ?? null,
      failingWhy: this.handler?.failingWhy ?? null,
      redisStatus: this.cmd?.status ?? 'none',
      lastRedisReplyAt: this.consumer?.lastReplyAt ?? now,
      consumerBusy: (this.handler?.busy ?? false) || this.reconcilingInLoop,
      lastError: this.lastError,
      unhealthyAfterMs: sc.unhealthyAfter,
      lockLost: this.isReady && this.lock?.held === false,
    });
    this.metrics.healthy.set(report.status === 'ok' ? 1 : 0);
    this.metrics.lockHeld.set(this.lock?.held ? 1 : 0);
    this.metrics.redisLastReply.set(Math.floor((this.consumer?.lastReplyAt ?? now) / 1000));
    return {
      ...report,
      hostId: this.hostId,
      backend: this.backend.name,
      enforcing: fw.enforcing,
      intact: fw.intact !== false && fw.ok,
      firewall: fw.message,
      redis: this.cmd?.status ?? 'none',
      rules: this.applier.owned.size,
      pending: this.consumer?.pending ?? 0,
      lastError: this.lastError ?? this.handler?.failingWhy ?? null,
      lastAppliedAt: this.applier.lastAppliedAt ? new Date(this.applier.lastAppliedAt).toISOString() : null,
      lastReconcileAt: this.reconciler?.lastAt ? new Date(this.reconciler.lastAt).toISOString() : null,
      lastRedisReplyAt: this.consumer ? new Date(this.consumer.lastReplyAt).toISOString() : null,
      alerts: this.alerts?.health() ?? (this.config.alerts?.enabled ? { enabled: true, status: 'starting' } : { enabled: false }),
    };
  }

  /** Makes the firewall match {p}:bans now (changing only the difference). */
  reconcile(): Promise<{ added: number; removed: number }> {
    return this.reconciler.reconcile();
  }

  // ---------------------------------------------------------------- the loop

  private async run(): Promise<void> {
    await this.takeLock();
    await this.retrying('firewall init', async () => {
      await this.backend.init();
      const h = await this.watch.check(true);
      if (!h.ok) throw new Error(h.message);
    });
    this.startError = null;
    let attempt = 0;
    while (!this.stopping) {
      try {
        // group first, reconcile after: a ban written in between is in the stream or in {p}:bans
        if ((await this.consumer.ensureGroup()) && this.isReady) this.needReconcile = true;
        if (this.needReclaim) {
          this.needReclaim = false;
          await this.consumer.reclaim(
            (entries) => this.handler.handle(entries),
            () => this.stopping,
          );
        }
        if (!this.isReady || this.needReconcile) {
          this.needReconcile = false;
          this.reconcilingInLoop = true;
          try {
            await this.reconciler.reconcile();
          } finally {
            this.reconcilingInLoop = false;
          }
          if (!this.isReady) this.becomeReady();
        }
        const entries = await this.consumer.readNew();
        if (entries.length > 0) await this.handler.handle(entries);
        this.metrics.pending.set(await this.consumer.updatePending());
        attempt = 0;
        // the node answered a full round: whatever was wrong with it is not any more
        this.topologyError = null;
      } catch (err) {
        if (this.stopping || err instanceof Stopped) break;
        // MOVED / READONLY / CROSSSLOT: the wrong node, said in one clear line
        const wrongNode = explainRedisError(err, describeRedis(this.redisUrl));
        if (wrongNode && wrongNode.message !== this.topologyError) this.log.error(wrongNode.message);
        if (wrongNode) this.topologyError = wrongNode.message;
        const message = errorText(wrongNode ?? err);
        // entries read but not acked stay pending to us: read them again
        this.needReclaim = true;
        if (/NOGROUP/.test(message)) {
          // the stream or group vanished (Redis restarted without persistence, FLUSHALL)
          this.consumer.forgetGroup();
          this.needReconcile = true;
          this.log.warn('consumer group missing: recreating it, then reconciling');
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

  private becomeReady(): void {
    this.isReady = true;
    const sc = this.config.sidecar;
    this.reconcileTimer = setInterval(() => {
      this.needReclaim = true;
      void this.reconciler.soon();
    }, sc.reconcileInterval);
    this.reconcileTimer.unref();
    this.watch.start(sc.checkInterval);
    this.readyResolve();
    this.log.info({ backend: this.backend.name, rules: this.applier.owned.size, group: this.hostId }, 'sidecar ready');
  }

  /** the host id lock; Redis trouble is waited out, another live holder ends the start (HostIdInUseError) */
  private async takeLock(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await this.waitForRedis();
      try {
        await this.lock.acquire(() => this.stopping);
        return;
      } catch (err) {
        if (err instanceof HostIdInUseError) throw err;
        const delay = backoffDelay(attempt, 100, 5000);
        this.log.warn({ err: errorText(err), retryInMs: delay }, 'taking the host id lock failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  private async waitForRedis(): Promise<void> {
    for (let waited = 0; this.cmd.status !== 'ready' || this.reader.status !== 'ready'; waited += 100) {
      if (this.stopping) throw new Stopped();
      if (waited > 0 && waited % 5000 === 0) this.log.warn({ redis: this.cmd.status }, 'waiting for Redis');
      await this.sleep(100);
    }
  }

  /** until it works (backoff between tries), showing the failure in /healthz */
  private async retrying(what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopping) throw new Stopped();
      try {
        await fn();
        if (attempt > 0) this.log.info(`${what}: recovered`);
        return;
      } catch (err) {
        const message = errorText(err);
        this.startError = message;
        this.lastError = message;
        this.metrics.errors.inc({ kind: 'firewall' });
        const delay = backoffDelay(attempt);
        this.log.error({ err: message, attempt: attempt + 1, retryInMs: delay, backend: this.backend.name }, `${what} failed; retrying`);
        await this.sleep(delay);
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
  const name = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return (name || 'host').slice(0, 64);
}

/** Starts a sidecar in this process (tests, the example gateway); `await s.ready` for the first reconcile. */
export async function startSidecar(config: PortcullisConfig, opts: SidecarOptions = {}): Promise<Sidecar> {
  const sidecar = new Sidecar(config, opts);
  await sidecar.start();
  return sidecar;
}
