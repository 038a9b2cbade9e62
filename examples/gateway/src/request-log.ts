import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import { IpSet, type PortcullisConfig } from '@portcullis/core';
import { ClientIpResolver } from '@portcullis/express';

/**
 * One short line per request: method, url, status, response time and the
 * client address as the guard sees it (trustProxy applied). No headers: they
 * were ~700 bytes a line, and they carry cookies and tokens.
 */
export function requestLogger(
  logger: Logger,
  who: Pick<PortcullisConfig, 'trustProxy' | 'clientHeader'> = { trustProxy: [], clientHeader: 'x-forwarded-for' },
): HttpLogger<IncomingMessage, ServerResponse> {
  // the guard warns about forwarding headers once; this copy stays quiet
  const clients = new ClientIpResolver(new IpSet(who.trustProxy), pino({ level: 'silent' }), who.clientHeader);
  return pinoHttp({
    logger,
    genReqId: () => '',
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    customProps: (req) => ({ client: clients.resolve(req) }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
  });
}
