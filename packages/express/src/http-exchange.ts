import type { ServerResponse } from 'node:http';
import { takeFailureHeader } from './classify.js';
import type { Client, Held, Next, Outcome, Refusal, Req, RequestGuard } from './request-guard.js';
import { watchResponseHead, type HeadWatcher } from './response-head.js';

/**
 * One HTTP request through the guard: how it is refused or let through, and
 * the watch on its response head that classifies it. One object per request
 * where there was a closure per step: a clean request allocates this, its
 * client and one writeHead wrapper.
 */
export class HttpExchange implements Outcome, HeadWatcher {
  private client: Client | null = null;
  private path = '';
  private held: Held[] | null = null;
  /** the head was seen, or the response closed without one */
  private settled = false;

  constructor(
    private readonly guard: RequestGuard,
    private readonly req: Req,
    private readonly res: ServerResponse,
    private readonly next: Next,
  ) {}

  refuse(refusal: Refusal): void {
    this.guard.answer(this.req, this.res, this.next, refusal);
  }

  proceed(client: Client | null, path: string, held: Held[] | null): void {
    this.client = client;
    this.path = path;
    this.held = held;
    // every response is watched, even one nobody counts: X-Portcullis-Failure never reaches the client
    watchResponseHead(this.res, this);
    // no response head at all (the client went away, the proxy failed): the units held are given back
    if (held) this.res.once('close', () => this.closed());
    this.next();
  }

  /** Classifies the response as its head leaves; settles the units held. */
  head(res: ServerResponse): void {
    if (this.settled) return;
    this.settled = true;
    this.guard.verdict(this.req, this.client, this.path, this.held, res, takeFailureHeader(res));
  }

  private closed(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.held) this.guard.giveBack(this.held);
  }
}
