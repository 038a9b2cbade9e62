import type { IncomingMessage } from 'node:http';
import type { FailureDetail } from '@portcullis/core';

/**
 * What a ban alert may quote of a failing request: time, method, path,
 * status, user agent. Never the body, a cookie or an Authorization header;
 * the store drops the query string.
 */
export function failureDetail(req: IncomingMessage & { originalUrl?: string }, status: number): FailureDetail {
  const ua = req.headers['user-agent'];
  return {
    at: Date.now(),
    method: req.method,
    path: req.originalUrl ?? req.url,
    status,
    userAgent: typeof ua === 'string' ? ua : undefined,
  };
}
