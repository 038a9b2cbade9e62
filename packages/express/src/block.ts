import type { ServerResponse } from 'node:http';

/**
 * Answers a banned client at the gateway: the request never reaches Django.
 * Retry-After tells well-behaved clients when to come back.
 */
export function sendBlocked(res: ServerResponse, status: number, body: string, until: number, now: number): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  if (until > 0) res.setHeader('Retry-After', retryAfter(until, now));
  res.end(body);
}

/** Retry-After in whole seconds (at least 1) until `until` (ms). */
export function retryAfter(until: number, now: number): string {
  return String(Math.max(1, Math.ceil((until - now) / 1000)));
}
