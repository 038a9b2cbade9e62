import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Why the gateway answered a request itself. */
export type BlockReason = 'banned' | 'over_budget' | 'cross_site' | 'ambiguous_target' | 'unknown_client';

/** The store commands on login paths whose latency is observed. */
export type StoreCommand = 'reserve' | 'record_failure' | 'release';

/**
 * The gateway's Prometheus metrics, on a registry of its own (merge it into
 * the app's, or serve it with `handler`). Names follow the Prometheus
 * conventions: `_total` counters, base units (seconds), no prefix on the
 * default process metrics the handler adds.
 */
export class GatewayMetrics {
  /** Portcullis's own metrics only: merge it into your registry (Registry.merge) */
  readonly registry = new Registry();
  private readonly blocked: Counter<'reason'>;
  private readonly failures: Counter<'jail'>;
  private readonly bans: Counter<'jail'>;
  private readonly latency: Histogram<'command'>;
  private readonly commandErrors: Counter<'command'>;
  private served: Registry | null = null;

  constructor(state: { cachedBans: () => number; storeUp: () => boolean }) {
    const registers = [this.registry];
    this.blocked = new Counter({
      name: 'portcullis_requests_blocked_total',
      help: 'Requests the gateway answered itself, by reason (banned, over_budget, cross_site, ambiguous_target, unknown_client)',
      labelNames: ['reason'],
      registers,
    });
    this.failures = new Counter({
      name: 'portcullis_failures_recorded_total',
      help: 'Failed attempts recorded in the ban store, by jail',
      labelNames: ['jail'],
      registers,
    });
    this.bans = new Counter({
      name: 'portcullis_bans_total',
      help: 'Bans started by a failure this gateway recorded, by jail',
      labelNames: ['jail'],
      registers,
    });
    this.latency = new Histogram({
      name: 'portcullis_store_command_duration_seconds',
      help: 'Ban store round trips on login paths (reserve, record_failure, release)',
      labelNames: ['command'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.commandErrors = new Counter({
      name: 'portcullis_store_command_errors_total',
      help: 'Ban store commands on login paths that failed (the request failed open)',
      labelNames: ['command'],
      registers,
    });
    new Gauge({
      name: 'portcullis_cached_bans',
      help: "Active bans in this gateway's local cache",
      registers,
      collect() {
        this.set(state.cachedBans());
      },
    });
    new Gauge({
      name: 'portcullis_store_up',
      help: '1 when the ban store answers, 0 while the gateway fails open',
      registers,
      collect() {
        this.set(state.storeUp() ? 1 : 0);
      },
    });
  }

  blockedRequest(reason: BlockReason): void {
    this.blocked.inc({ reason });
  }

  failureRecorded(jail: string, banned: boolean): void {
    this.failures.inc({ jail });
    if (banned) this.bans.inc({ jail });
  }

  /** Times one store command; call the returned function with whether it failed. */
  startCommand(command: StoreCommand): (failed: boolean) => void {
    const end = this.latency.startTimer({ command });
    return (failed) => {
      end();
      if (failed) this.commandErrors.inc({ command });
    };
  }

  /**
   * Serves the metrics in the Prometheus text format: Portcullis's, plus
   * Node's default process metrics (process_*, nodejs_*; collected from the
   * first scrape on).
   */
  readonly handler = (_req: IncomingMessage, res: ServerResponse): void => {
    if (!this.served) {
      const process = new Registry();
      collectDefaultMetrics({ register: process });
      this.served = Registry.merge([this.registry, process]);
    }
    const served = this.served;
    served.metrics().then(
      (text) => {
        res.statusCode = 200;
        res.setHeader('Content-Type', served.contentType);
        res.setHeader('Cache-Control', 'no-store');
        res.end(text);
      },
      (err: unknown) => {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(`metrics unavailable: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  };
}
