import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { FirewallHealth } from './backends/firewall.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'failing';
  problems?: string[];
  [key: string]: unknown;
}

/** The facts /healthz judges. */
export interface HealthFacts {
  now: number;
  /** the first reconcile is done */
  ready: boolean;
  /** why the sidecar could not start (yet), if so */
  startError: string | null;
  firewall: FirewallHealth;
  dryRun: boolean;
  /** since when a firewall change has been failing (retrying) */
  failingSince: number | null;
  failingWhy: string | null;
  redisStatus: string;
  lastRedisReplyAt: number;
  /** the event loop's last error, if any */
  lastError: string | null;
  /** the consumer is busy with a batch (e.g. retrying a failing firewall), not waiting on Redis */
  consumerBusy: boolean;
  unhealthyAfterMs: number;
  /** another sidecar took this host id's lock */
  lockLost: boolean;
}

/**
 * ok only when every fact is: Redis answered lately, the firewall holds our
 * rules and enforces them (dry-run: enforcing nothing is what was asked for),
 * no change is failing, the first reconcile is done.
 */
export function healthReport(f: HealthFacts): HealthReport {
  const failing: string[] = [];
  const degraded: string[] = [];
  if (f.startError) failing.push(f.startError);
  if (!f.ready) degraded.push('starting: first reconcile not done');
  if (!f.firewall.ok) failing.push(f.firewall.message);
  else if (f.firewall.intact === false) failing.push(`firewall lost our rules (restoring): ${f.firewall.message}`);
  else if (!f.firewall.enforcing && !f.dryRun) failing.push(f.firewall.message);
  if (f.failingSince !== null) {
    failing.push(`firewall apply failing (retrying) for ${Math.round((f.now - f.failingSince) / 1000)} s: ${f.failingWhy}`);
  }
  const silentMs = f.now - f.lastRedisReplyAt;
  if (f.ready && !f.consumerBusy && silentMs > f.unhealthyAfterMs) {
    const why = f.lastError ? `; last error: ${f.lastError}` : '';
    failing.push(`no reply from Redis to the stream reads for ${Math.round(silentMs / 1000)} s (redis ${f.redisStatus}${why})`);
  } else if (f.redisStatus !== 'ready') degraded.push(`redis ${f.redisStatus}`);
  if (f.lockLost) failing.push('another sidecar holds this host id (two consumers of one group)');
  const problems = [...new Set([...failing, ...degraded])];
  return { status: failing.length ? 'failing' : degraded.length ? 'degraded' : 'ok', problems };
}

/**
 * GET /healthz → JSON (200 when ok, 503 otherwise); GET /metrics → Prometheus
 * text. Listens on a local address by default (sidecar.healthHost).
 */
export async function startHealthServer(opts: {
  host: string;
  port: number;
  health: () => HealthReport;
  registry: Registry;
}): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/healthz') {
      const report = opts.health();
      res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(report)}\n`);
      return;
    }
    if (url === '/metrics') {
      opts.health(); // refreshes the health gauges
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`${err.message}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
