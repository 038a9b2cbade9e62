import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the gateway's health handler reports (JSON). */
export interface HealthReport {
  /**
   * ok: the store answers; degraded: it does not, and the gateway fails open
   * (serves, counts nothing): keep routing traffic to it; starting / closed:
   * ready() has not finished yet / close() was called (503).
   */
  status: 'ok' | 'degraded' | 'starting' | 'closed';
  store: { kind: 'redis' | 'memory'; state: 'up' | 'down' };
  cache: {
    /** active bans held locally */
    bans: number;
    /** when the cache last loaded from the store (ISO), null before the first load */
    loadedAt: string | null;
    /** seconds since then */
    ageSeconds: number | null;
  };
  /** live ban notices from the store: held or not (then the periodic resync is all) */
  subscription: 'held' | 'none';
}

/** The inputs of a report, read at each request. */
export interface HealthState {
  started: boolean;
  closed: boolean;
  storeKind: 'redis' | 'memory';
  storeUp: boolean;
  cachedBans: number;
  loadedAt: number | null;
  subscribed: boolean;
}

export function healthReport(s: HealthState, now = Date.now()): HealthReport {
  return {
    status: s.closed ? 'closed' : !s.started ? 'starting' : s.storeUp ? 'ok' : 'degraded',
    store: { kind: s.storeKind, state: s.storeUp ? 'up' : 'down' },
    cache: {
      bans: s.cachedBans,
      loadedAt: s.loadedAt === null ? null : new Date(s.loadedAt).toISOString(),
      ageSeconds: s.loadedAt === null ? null : Math.max(0, Math.round((now - s.loadedAt) / 1000)),
    },
    subscription: s.subscribed ? 'held' : 'none',
  };
}

/**
 * A /healthz handler: 200 while the gateway serves (ok, or degraded: Redis
 * down must not take the site down, so a load balancer keeps the gateway),
 * 503 before ready() finished and after close().
 */
export function healthHandler(state: () => HealthState): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    const report = healthReport(state());
    res.statusCode = report.status === 'ok' || report.status === 'degraded' ? 200 : 503;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(`${JSON.stringify(report)}\n`);
  };
}
