import type { IncomingMessage, ServerResponse } from 'node:http';
import { FAILURE_HEADER, type Jail, type ResponseFacts } from '@portcullis/core';

/**
 * The jails a finished response counts for: every jail whose rule matches,
 * plus the jail named by the upstream's X-Portcullis-Failure header (set by
 * the Django helper on user_login_failed). Each jail at most once.
 */
export function failedJails(
  jails: readonly Jail[],
  byName: ReadonlyMap<string, Jail>,
  req: IncomingMessage & { originalUrl?: string },
  res: Pick<ServerResponse, 'statusCode' | 'getHeader'>,
  headerValue: string | undefined,
  /** the decoded canonical path (canonicalTarget), when the gateway decided it */
  path?: string,
): Jail[] {
  let hits: Jail[] | null = null;
  const facts: ResponseFacts = {
    method: req.method ?? 'GET',
    url: req.originalUrl ?? req.url ?? '/',
    ...(path !== undefined ? { path } : {}),
    status: res.statusCode,
    header: (name) => res.getHeader(name),
  };
  for (const jail of jails) {
    if (!jail.matches(facts)) continue;
    hits ??= [];
    hits.push(jail);
  }
  if (headerValue !== undefined) {
    for (const name of headerValue.split(',')) {
      const jail = byName.get(name.trim());
      if (!jail || hits?.includes(jail)) continue;
      hits ??= [];
      hits.push(jail);
    }
  }
  return hits ?? [];
}

/** Reads and removes the failure header so the client never sees it. */
export function takeFailureHeader(res: ServerResponse): string | undefined {
  const value = res.getHeader(FAILURE_HEADER);
  if (value === undefined) return undefined;
  res.removeHeader(FAILURE_HEADER);
  return Array.isArray(value) ? value.join(',') : String(value);
}
