import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** The request as the hooks see it (an Express request at run time). */
export type HookRequest = IncomingMessage & { originalUrl?: string; log?: Logger };
export type HookNext = (err?: unknown) => void;

/** What a blocked-client handler is told about the ban. */
export interface BlockedInfo {
  /** the client's address (as trustProxy resolved it) */
  ip: string;
  /** the keyGenerator's key when the ban is held under it, not under the address */
  key?: string;
  /** when the ban ends: ms since epoch, -1 forever */
  until: number;
  /** whole seconds until it ends (the Retry-After value, already set); undefined for a ban that never ends */
  retryAfter?: number;
  /** gateway.blockStatus and gateway.blockBody from the config (the default answer) */
  status: number;
  message: string;
}

/**
 * The hooks an Express user knows from express-rate-limit. Method syntax on
 * purpose: a hook typed with Express's own Request/Response is accepted.
 */
export interface PortcullisHooks {
  /**
   * Who the client is, when it is not its address: a tenant, an API key.
   * Failures are counted and bans held under this key (hashed: the text never
   * reaches Redis); undefined or null falls back to the address. Loopback,
   * trusted proxies and ignoreIp stay exempt whatever the key.
   */
  keyGenerator?(req: HookRequest): string | null | undefined;
  /**
   * true: the request is neither checked nor counted (health checks, an
   * internal network). Runs after the target is made canonical, so req.url is
   * what the upstream will see.
   */
  skip?(req: HookRequest): boolean;
  /**
   * Answers a banned client instead of the default (blockStatus + blockBody).
   * Retry-After and Cache-Control: no-store are already set. Upgrade
   * (WebSocket) requests keep the default: they have no response object.
   */
  handler?(req: HookRequest, res: ServerResponse, next: HookNext, info: BlockedInfo): void;
  /**
   * Failures no config rule expresses: called as the response head leaves
   * (status and headers known, body not), returns the name(s) of the jail(s)
   * the response counts as a failure for, or nothing. E.g. a GraphQL login
   * answering 200 with an error, flagged by a response header the app sets.
   */
  classify?(req: HookRequest, res: Pick<ServerResponse, 'statusCode' | 'getHeader'>): string | readonly string[] | null | undefined | false;
}
