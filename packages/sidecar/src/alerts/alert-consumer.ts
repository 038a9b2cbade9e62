import {
  Keys,
  MalformedEventError,
  createRedis,
  decodeFailureDetail,
  parseBanEvent,
  type AlertsConfig,
  type BanEvent,
  type FailureDetail,
  type RedisClient,
  type RedisSetting,
} from '@portcullis/core';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { backoffDelay } from '../exec.js';
import { Sleeper } from '../sleeper.js';
import type { StreamEntry } from '../batch.js';
import { AlertHealthTracker, type AlertsHealth } from './alert-health.js';
import { createChannels, type AlertChannel } from './channel.js';
import { DigestPolicy } from './digest.js';
import type { AlertMessage, BanAlert } from './message.js';

type Ban = Extract<BanEvent, { type: 'ban' }>;

export interface AlertConsumerOptions {
  config: AlertsConfig;
  prefix: string;
  redis: RedisSetting;
  /** consumer name in the alerts group: the host id (stable, so a restart takes its pending entries back) */
  consumer: string;
  /** entries idle this long in a dead consumer are taken over */
  claimIdle: number;
  logger: Logger;
  registry?: Registry;
  /** tests: channels other than the config's */
  channels?: AlertChannel[];
  blockMs?: number;
}

/** messages in flight (being sent or waiting to retry); past this the reader waits */
const MAX_IN_FLIGHT = 200;
const READ_COUNT = 1000;
const ACK_CHUNK = 1000;

class Stopped extends Error {}

/**
 * Ban alerts: a consumer group of its own on {p}:events (default `alerts`),
 * so each ban reaches exactly one sidecar's alerter whatever the number of
 * hosts, and the firewall groups never wait for a mail server. An entry is
 * acknowledged once every channel took its message (or gave up after the
 * retries); until then it stays pending: a crash sends it again on restart,
 * or from another host after claimIdle.
 */
export class AlertConsumer {
  readonly group: string;
  private readonly keys: Keys;
  private readonly channels: AlertChannel[];
  private readonly policy: DigestPolicy;
  private readonly log: Logger;
  private readonly sent: Counter<'channel' | 'kind'>;
  private readonly failed: Counter<'channel'>;
  private cmd!: RedisClient;
  private reader!: RedisClient;
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** messages being sent or waiting for a retry */
  private inFlight = 0;
  /** event ids read but not yet acknowledged (in the digest or in flight) */
  private readonly held = new Set<string>();
  private readonly sleeper = new Sleeper();
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly tracker: AlertHealthTracker;
  private joined = false;
  private backlogCheckedAt = 0;
  private readyResolve!: () => void;
  /** resolves once the group exists and this consumer's own pending entries were taken up */
  readonly ready = new Promise<void>((resolve) => (this.readyResolve = resolve));

  constructor(private readonly opts: AlertConsumerOptions) {
    this.group = opts.config.group;
    this.keys = new Keys(opts.prefix);
    this.channels = opts.channels ?? createChannels(opts.config);
    const d = opts.config.digest;
    this.policy = new DigestPolicy(d.window, d.maxSingle, d.listed);
    this.log = opts.logger.child({ alerts: this.group });
    const registers = opts.registry ? [opts.registry] : [];
    this.sent = new Counter({
      name: 'portcullis_alerts_sent_total',
      help: 'Alert messages a channel accepted',
      labelNames: ['channel', 'kind'],
      registers,
    });
    this.failed = new Counter({
      name: 'portcullis_alerts_failed_total',
      help: 'Alert messages given up after every retry',
      labelNames: ['channel'],
      registers,
    });
    this.tracker = new AlertHealthTracker(this.group, opts.registry);
  }

  /** this alerter's state for /healthz: never the sidecar's own status (see AlertsHealth) */
  health(): AlertsHealth {
    return this.tracker.report(this.joined, this.inFlight);
  }

  start(): void {
    this.cmd = createRedis(this.opts.redis, { retry: true, commandTimeout: 10_000 });
    this.reader = createRedis(this.opts.redis, { retry: true });
    for (const client of [this.cmd, this.reader]) {
      client.on('error', (err: Error) => {
        if (!this.stopping) this.log.debug({ err: err.message }, 'redis error');
      });
      void client.connect().catch(() => {});
    }
    this.loopDone = this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.log.fatal({ err }, 'alert loop died');
    });
    // entries we still hold (digest, retries) must not look idle to the other alerters
    this.heartbeat = setInterval(() => void this.touchHeld().catch(() => {}), Math.max(1000, this.opts.claimIdle / 3));
    this.heartbeat.unref();
  }

  /** Stops reading and sending; what is not sent stays pending in the group for the next start. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.sleeper.wakeAll();
    this.reader?.disconnect();
    await this.loopDone;
    this.cmd?.disconnect();
    await Promise.all(this.channels.map((c) => c.close()));
  }

  private async run(): Promise<void> {
    while (!this.stopping && (this.cmd.status !== 'ready' || this.reader.status !== 'ready')) await this.sleep(100);
    let attempt = 0;
    let reclaimAt = 0;
    let groupReady = false;
    while (!this.stopping) {
      try {
        if (!groupReady) {
          await this.ensureGroup();
          await this.readOwnPending();
          groupReady = true;
          this.joined = true;
          this.readyResolve();
        }
        if (Date.now() >= reclaimAt) {
          await this.reclaim();
          reclaimAt = Date.now() + this.opts.claimIdle;
        }
        while (this.inFlight >= MAX_IN_FLIGHT && !this.stopping) await this.sleep(100);
        const block = Math.max(1, Math.min(this.opts.blockMs ?? 2000, this.policy.dueIn(Date.now())));
        const reply = (await this.reader.xreadgroup(
          'GROUP',
          this.group,
          this.opts.consumer,
          'COUNT',
          READ_COUNT,
          'BLOCK',
          block,
          'STREAMS',
          this.keys.events,
          '>',
        )) as Array<[string, StreamEntry[]]> | null;
        if (reply?.[0]) await this.handle(reply[0][1]);
        await this.flushDigest();
        await this.updateBacklog();
        this.tracker.loop(null);
        attempt = 0;
      } catch (err) {
        if (this.stopping || err instanceof Stopped) break;
        const message = (err as Error).message ?? String(err);
        this.tracker.loop(`alert loop error: ${message}`);
        if (/NOGROUP/.test(message)) groupReady = false;
        const delay = backoffDelay(attempt++, 100, 5000);
        this.log.warn({ err: message, retryInMs: delay }, 'alert loop error; retrying');
        await this.sleep(delay);
      }
    }
  }

  private async ensureGroup(): Promise<void> {
    try {
      // at "$": bans from before the first alerter are not announced
      await this.cmd.xgroup('CREATE', this.keys.events, this.group, '$', 'MKSTREAM');
      this.log.info('alerts consumer group created');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  /** after a restart: what this consumer read but never finished */
  private async readOwnPending(): Promise<void> {
    let last = '0-0';
    for (;;) {
      if (this.stopping) throw new Stopped();
      const reply = (await this.cmd.xreadgroup(
        'GROUP',
        this.group,
        this.opts.consumer,
        'COUNT',
        READ_COUNT,
        'STREAMS',
        this.keys.events,
        last,
      )) as Array<[string, StreamEntry[]]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) break;
      await this.handle(entries);
      last = entries[entries.length - 1]![0];
    }
  }

  /** entries of a dead alerter, idle past claimIdle */
  private async reclaim(): Promise<void> {
    let cursor = '0-0';
    do {
      const reply = (await this.cmd.xautoclaim(
        this.keys.events,
        this.group,
        this.opts.consumer,
        this.opts.claimIdle,
        cursor,
        'COUNT',
        READ_COUNT,
      )) as [string, StreamEntry[], string[]?];
      cursor = reply[0];
      const deleted = reply[2] ?? [];
      if (deleted.length) await this.ack(deleted);
      const entries = reply[1].filter(([id]) => !this.held.has(id));
      if (entries.length) {
        this.log.info({ count: entries.length }, 'took over alerts of an idle consumer');
        await this.handle(entries);
      }
    } while (cursor !== '0-0' && !this.stopping);
  }

  private async handle(entries: StreamEntry[]): Promise<void> {
    const skip: string[] = [];
    const now = Date.now();
    for (const [id, fields] of entries) {
      // pending re-reads and takeovers can bring back what we already hold
      if (this.held.has(id)) continue;
      if (!Array.isArray(fields)) {
        skip.push(id);
        continue;
      }
      let event: BanEvent;
      try {
        event = parseBanEvent(fields);
      } catch (err) {
        // the firewall groups park malformed events; the alerter just passes them
        if (!(err instanceof MalformedEventError)) throw err;
        skip.push(id);
        continue;
      }
      if (event.type !== 'ban') {
        skip.push(id);
        continue;
      }
      this.held.add(id);
      if (this.policy.admit(event, id, now) === 'single') {
        const [ban] = await this.describe([event]);
        this.deliver({ kind: 'ban', ban: ban! }, [id]);
      }
    }
    if (skip.length) await this.ack(skip);
  }

  private async flushDigest(): Promise<void> {
    const due = this.policy.due(Date.now());
    if (!due) return;
    const listed = await this.describe(due.listed);
    this.deliver({ kind: 'digest', digest: { from: due.from, to: due.to, total: due.total, byJail: due.byJail, listed } }, due.ids);
  }

  /** Looks up who banned and the last failing requests (one round trip for all); never rejects. */
  private async describe(items: Ban[]): Promise<BanAlert[]> {
    const recent = this.opts.config.recent;
    const pipe = this.cmd.pipeline();
    for (const event of items) {
      pipe.hgetall(this.keys.ban(event.ip));
      pipe.lrange(this.keys.recent(event.jail, event.ip), 0, Math.max(0, recent - 1));
    }
    // an alert with less detail beats a late one: a failed lookup leaves the fields from the event
    const replies = items.length ? ((await pipe.exec().catch(() => null)) ?? []) : [];
    return items.map((event, i) => {
      const hash = (replies[2 * i]?.[1] ?? {}) as Record<string, string>;
      const list = recent > 0 ? ((replies[2 * i + 1]?.[1] ?? []) as string[]) : [];
      // the stored ban describes this event only if it is still the same ban
      const same = hash.at === String(event.at);
      return {
        ip: event.ip,
        jail: event.jail,
        reason: same && hash.reason ? hash.reason : event.reason,
        at: event.at,
        until: event.until,
        by: same && hash.by ? hash.by : 'unknown',
        count: same && hash.count ? Number(hash.count) : 1,
        recent: list.map(decodeFailureDetail).filter((d): d is FailureDetail => d !== null),
      };
    });
  }

  /** Sends to every channel, each retrying on its own; acks the entries when all are done. */
  private deliver(msg: AlertMessage, ids: string[]): void {
    this.inFlight++;
    const release = () => {
      this.inFlight--;
      for (const id of ids) this.held.delete(id);
    };
    void Promise.all(this.channels.map((c) => this.sendWithRetry(c, msg)))
      .then(
        () => this.ack(ids),
        // stopped mid-retry: the entries stay pending for the next start
        () => undefined,
      )
      .catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'alert ack failed; the entries will be reclaimed');
      })
      .finally(release);
  }

  private async sendWithRetry(channel: AlertChannel, msg: AlertMessage): Promise<void> {
    const { attempts, base, max } = this.opts.config.retry;
    for (let attempt = 0; ; attempt++) {
      if (this.stopping) throw new Stopped();
      try {
        await channel.send(msg);
        this.sent.inc({ channel: channel.name, kind: msg.kind });
        this.tracker.delivered(channel.name);
        return;
      } catch (err) {
        const error = (err as Error).message ?? String(err);
        this.tracker.failed(channel.name, error);
        if (attempt + 1 >= attempts) {
          this.failed.inc({ channel: channel.name });
          this.log.error({ channel: channel.name, kind: msg.kind, err: error, attempts }, 'alert given up');
          return;
        }
        const delay = backoffDelay(attempt, base, max);
        this.log.warn({ channel: channel.name, err: error, retryInMs: delay }, 'alert failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  /** the alerts group's pending entries and lag (XINFO GROUPS), at most once a second */
  private async updateBacklog(): Promise<void> {
    const now = Date.now();
    if (now - this.backlogCheckedAt < 1000) return;
    this.backlogCheckedAt = now;
    const groups = (await this.cmd.xinfo('GROUPS', this.keys.events)) as Array<Array<string | number | null>>;
    for (const g of groups) {
      const info: Record<string, string | number | null> = {};
      for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1] ?? null;
      if (info.name !== this.group) continue;
      this.tracker.backlog(Number(info.pending ?? 0), info.lag === null || info.lag === undefined ? null : Number(info.lag));
    }
  }

  private async ack(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ACK_CHUNK) {
      await this.cmd.xack(this.keys.events, this.group, ...ids.slice(i, i + ACK_CHUNK));
    }
  }

  /** XCLAIM … JUSTID to ourselves resets the idle time of entries we still work on */
  private async touchHeld(): Promise<void> {
    const ids = [...this.held];
    for (let i = 0; i < ids.length; i += ACK_CHUNK) {
      await this.cmd.xclaim(this.keys.events, this.group, this.opts.consumer, 0, ...ids.slice(i, i + ACK_CHUNK), 'JUSTID');
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.sleeper.sleep(ms);
  }
}
