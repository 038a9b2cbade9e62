import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import { normalizeHostAddress } from '@portcullis/core';

/** Who the client of a request is (the guard's `clientIp`). */
export type ClientOf = (req: IncomingMessage) => string | null;

// without a guard to ask: the socket peer
const peerOf: ClientOf = (req) => normalizeHostAddress(req.socket.remoteAddress);

/**
 * One short line per request: method, url, status, response time and the
 * client address as the guard sees it (`guard.clientIp`: trustProxy
 * applied, the forwarding header read once for the log and the guard). No
 * headers: they were ~700 bytes a line, and they carry cookies and tokens.
 */
export function requestLogger(logger: Logger, clientOf: ClientOf = peerOf): HttpLogger<IncomingMessage, ServerResponse> {
  return pinoHttp({
    logger,
    genReqId: () => '',
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    customProps: (req) => ({ client: clientOf(req) }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
  });
}
