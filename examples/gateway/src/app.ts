import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Logger } from 'pino';
import type { PortcullisMiddleware } from '@portcullis/express';
import { requestLogger } from './request-log.js';

/**
 * The gateway: request logging, then Portcullis, then the proxy to Django.
 * Portcullis must come before the proxy so banned clients never reach it.
 */
export function createGatewayApp(guard: PortcullisMiddleware, djangoUrl: string, logger: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // (the bench's pass-through guard has no config)
  app.use(requestLogger(logger, guard.config?.trustProxy ?? []));
  app.use(guard);
  app.use(
    createProxyMiddleware({
      target: djangoUrl,
      // Django sees the client in X-Forwarded-For (set trustProxy there too, if it reads it)
      xfwd: true,
      // reuse upstream connections: a new one per request halves throughput (bench/FINDINGS.md)
      agent: djangoUrl.startsWith('https:') ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }),
      proxyTimeout: 30_000,
    }),
  );
  return app;
}
