import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Logger } from 'pino';
import { LOOPBACK, normalizeHostAddress } from '@portcullis/core';
import type { PortcullisMiddleware } from '@portcullis/express';
import { requestLogger } from './request-log.js';

/**
 * The gateway's own endpoints, answered by the gateway and never proxied:
 * under a prefix no Django URLconf uses (Django's own /metrics, e.g.
 * django-prometheus, stays Django's). Metrics only to this host's loopback.
 */
export const ADMIN_PATHS = { health: '/_portcullis/healthz', metrics: '/_portcullis/metrics' } as const;

/**
 * The gateway: request logging, then Portcullis, then the proxy to Django.
 * Portcullis must come before the proxy so banned clients never reach it.
 */
export interface GatewayAppOptions {
  /** sees every response Django sends to the gateway, before the client does (tests count attempts with it) */
  onUpstreamResponse?: (upstream: IncomingMessage, req: IncomingMessage) => void;
}

export function createGatewayApp(
  guard: PortcullisMiddleware,
  djangoUrl: string,
  logger: Logger,
  opts: GatewayAppOptions = {},
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // before request logging: a load balancer's checks every few seconds would drown the log
  // (the bench's pass-through guard has neither)
  if (guard.health) app.get(ADMIN_PATHS.health, guard.health);
  if (guard.metrics) {
    app.get(ADMIN_PATHS.metrics, (req, res) => {
      const peer = normalizeHostAddress(req.socket.remoteAddress);
      if (peer !== null && LOOPBACK.has(peer)) guard.metrics.handler(req, res);
      else res.status(404).end();
    });
  }
  // (the bench's pass-through guard has no clientIp: its log shows the socket peer)
  app.use(requestLogger(logger, guard.clientIp));
  app.use(guard);
  app.use(
    createProxyMiddleware({
      target: djangoUrl,
      // Django sees the client in X-Forwarded-For (set trustProxy there too, if it reads it)
      xfwd: true,
      // reuse upstream connections: a new one per request halves throughput (bench/FINDINGS.md)
      agent: djangoUrl.startsWith('https:') ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }),
      proxyTimeout: 30_000,
      // WebSocket (Channels) too: Upgrade requests skip Express, the guard covers them
      // on the server it runs on (guard.upgrade(server); see README "Upgrade requests")
      ws: true,
      on: {
        // Connection is hop-by-hop (RFC 9110 §7.6.1) and http-proxy forwards it: a client's
        // "Connection: close" would close a pooled upstream socket the agent still reuses (a 504
        // for the next request). The agent decides about its own connections.
        proxyReq: (proxyReq) => proxyReq.removeHeader('connection'),
        ...(opts.onUpstreamResponse ? { proxyRes: opts.onUpstreamResponse } : {}),
      },
    }),
  );
  return app;
}
