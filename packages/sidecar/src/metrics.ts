import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The sidecar's Prometheus metrics, on a registry of its own (several sidecars may share a process in tests). */
export class SidecarMetrics {
  readonly registry = new Registry();
  readonly eventsApplied: Counter<'type'>;
  readonly applyLatency: Histogram;
  readonly batchDuration: Histogram;
  readonly pending: Gauge;
  readonly reconcileAdds: Counter;
  readonly reconcileRemoves: Counter;
  readonly expired: Counter;
  readonly malformed: Counter;
  readonly errors: Counter<'kind'>;
  readonly rules: Gauge;
  readonly enforcing: Gauge;
  readonly poison: Counter;
  readonly failing: Gauge;
  readonly firewallIntact: Gauge;
  readonly firewallRestores: Counter;
  readonly redisLastReply: Gauge;
  readonly healthy: Gauge;
  readonly lockHeld: Gauge;

  constructor(opts: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    const registers = [this.registry];
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    this.eventsApplied = new Counter({
      name: 'portcullis_sidecar_events_applied_total',
      help: 'Ban and unban events whose rule change the firewall holds',
      labelNames: ['type'],
      registers,
    });
    this.applyLatency = new Histogram({
      name: 'portcullis_sidecar_apply_latency_seconds',
      help: 'From the ban/unban (event "at") to the firewall holding the change',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'portcullis_sidecar_batch_apply_seconds',
      help: 'Time the firewall backend took for one batch',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.pending = new Gauge({
      name: 'portcullis_sidecar_pending_events',
      help: 'Events read but not yet acknowledged plus events not yet read (backlog) for this host',
      registers,
    });
    this.reconcileAdds = new Counter({ name: 'portcullis_sidecar_reconcile_adds_total', help: 'Rules added by reconcile', registers });
    this.reconcileRemoves = new Counter({
      name: 'portcullis_sidecar_reconcile_removes_total',
      help: 'Rules removed by reconcile',
      registers,
    });
    this.expired = new Counter({ name: 'portcullis_sidecar_expired_total', help: 'Rules removed at their until', registers });
    this.malformed = new Counter({
      name: 'portcullis_sidecar_malformed_events_total',
      help: 'Events parked in {p}:events:dead',
      registers,
    });
    this.errors = new Counter({
      name: 'portcullis_sidecar_errors_total',
      help: 'Errors by kind (firewall, redis, reconcile, expiry)',
      labelNames: ['kind'],
      registers,
    });
    this.rules = new Gauge({ name: 'portcullis_sidecar_rules', help: 'Bans this sidecar holds in the firewall', registers });
    this.enforcing = new Gauge({
      name: 'portcullis_sidecar_enforcing',
      help: '1 when the firewall enforces our rules (0: e.g. ufw inactive, dry-run)',
      registers,
    });
    this.poison = new Counter({
      name: 'portcullis_sidecar_poison_events_total',
      help: 'Events the firewall refused for good (or kept failing), parked in {p}:events:dead so the others go on',
      registers,
    });
    this.failing = new Gauge({
      name: 'portcullis_sidecar_failing_changes',
      help: 'Firewall changes failing right now and being retried (0 when all is well)',
      registers,
    });
    this.firewallIntact = new Gauge({
      name: 'portcullis_sidecar_firewall_intact',
      help: '1 when the kernel holds our table/chains and rules (last check); 0: lost, being restored',
      registers,
    });
    this.firewallRestores = new Counter({
      name: 'portcullis_sidecar_firewall_restores_total',
      help: 'Times the firewall was found without our rules (flushed, reloaded) and rebuilt',
      registers,
    });
    this.redisLastReply = new Gauge({
      name: 'portcullis_sidecar_redis_last_reply_timestamp_seconds',
      help: 'When Redis last answered a stream read (unix seconds)',
      registers,
    });
    this.healthy = new Gauge({ name: 'portcullis_sidecar_healthy', help: '1 when /healthz says ok', registers });
    this.lockHeld = new Gauge({
      name: 'portcullis_sidecar_host_lock_held',
      help: '1 while this sidecar holds its host id lock',
      registers,
    });
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry }); // unprefixed: standard dashboards read process_* and nodejs_*
  }
}
