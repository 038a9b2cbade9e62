import { Gauge, type Registry } from 'prom-client';

/**
 * What /healthz says about this host's alerter (`alerts` in the report). A
 * sub-status on purpose: a failing mail server or webhook makes it
 * `degraded` but never the sidecar's own status, so /healthz keeps answering
 * 200 and no probe restarts the banner over a mail server it cannot fix. The
 * firewall groups never wait for the alerts group anyway.
 */
export interface AlertsHealth {
  enabled: true;
  /** ok; degraded: a channel's latest attempt failed, or the alert loop cannot reach Redis; starting: group not joined yet */
  status: 'ok' | 'degraded' | 'starting';
  group: string;
  /** entries of the alerts group read by an alerter and not yet acknowledged (sending, retrying, in a digest) */
  pending: number | null;
  /** entries the alerts group has not read yet (null: not known yet, or Redis older than 7) */
  lag: number | null;
  /** messages this alerter is sending or retrying */
  inFlight: number;
  /** when a channel last took a message */
  lastSuccessAt: string | null;
  /** the last failed attempt of any channel (kept after recovery, for the record) */
  lastError: { channel: string; message: string; at: string } | null;
  /** channels whose latest attempt failed, with since when */
  failing: Record<string, string>;
  problems: string[];
}

/** Tracks the alerter's deliveries and backlog, for /healthz and /metrics. */
export class AlertHealthTracker {
  private pending: number | null = null;
  private lag: number | null = null;
  private lastSuccessAt = 0;
  private lastError: { channel: string; message: string; at: number } | null = null;
  private readonly failingSince = new Map<string, number>();
  private loopError: string | null = null;
  private readonly gauges: { pending: Gauge; lag: Gauge; lastSuccess: Gauge; lastFailure: Gauge; failing: Gauge } | null;

  constructor(
    private readonly group: string,
    registry?: Registry,
  ) {
    const registers = registry ? [registry] : [];
    this.gauges = registry
      ? {
          pending: new Gauge({
            name: 'portcullis_alerts_pending',
            help: 'Alerts group entries read and not yet acknowledged (sending, retrying, in a digest)',
            registers,
          }),
          lag: new Gauge({ name: 'portcullis_alerts_lag', help: 'Alerts group entries not read yet', registers }),
          lastSuccess: new Gauge({
            name: 'portcullis_alerts_last_success_timestamp_seconds',
            help: 'When a channel last took an alert (unix seconds)',
            registers,
          }),
          lastFailure: new Gauge({
            name: 'portcullis_alerts_last_failure_timestamp_seconds',
            help: 'When an alert attempt last failed (unix seconds)',
            registers,
          }),
          failing: new Gauge({
            name: 'portcullis_alerts_failing_channels',
            help: 'Channels whose latest attempt failed (0 when all deliver)',
            registers,
          }),
        }
      : null;
  }

  delivered(channel: string, at = Date.now()): void {
    this.lastSuccessAt = at;
    this.failingSince.delete(channel);
    this.gauges?.lastSuccess.set(Math.floor(at / 1000));
    this.gauges?.failing.set(this.failingSince.size);
  }

  failed(channel: string, message: string, at = Date.now()): void {
    this.lastError = { channel, message, at };
    if (!this.failingSince.has(channel)) this.failingSince.set(channel, at);
    this.gauges?.lastFailure.set(Math.floor(at / 1000));
    this.gauges?.failing.set(this.failingSince.size);
  }

  /** the alert loop's Redis trouble (null: a round went through) */
  loop(error: string | null): void {
    this.loopError = error;
  }

  backlog(pending: number, lag: number | null): void {
    this.pending = pending;
    this.lag = lag;
    this.gauges?.pending.set(pending);
    if (lag !== null) this.gauges?.lag.set(lag);
  }

  report(ready: boolean, inFlight: number): AlertsHealth {
    const iso = (ms: number) => new Date(ms).toISOString();
    const problems: string[] = [];
    for (const [channel, since] of this.failingSince) problems.push(`alerts: ${channel} failing since ${iso(since)}`);
    if (this.loopError) problems.push(`alerts: ${this.loopError}`);
    const failing = Object.fromEntries([...this.failingSince].map(([channel, since]) => [channel, iso(since)]));
    return {
      enabled: true,
      status: problems.length > 0 ? 'degraded' : ready ? 'ok' : 'starting',
      group: this.group,
      pending: this.pending,
      lag: this.lag,
      inFlight,
      lastSuccessAt: this.lastSuccessAt ? iso(this.lastSuccessAt) : null,
      lastError: this.lastError ? { channel: this.lastError.channel, message: this.lastError.message, at: iso(this.lastError.at) } : null,
      failing,
      problems,
    };
  }
}
