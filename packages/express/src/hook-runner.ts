import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { keyAddress } from './client-key.js';
import type { BlockedInfo, HookNext, HookRequest, PortcullisHooks } from './hooks.js';
import { usageError } from './usage-error.js';

/** A client named by the keyGenerator: the key, and the address it is held under. */
export interface ClientKey {
  key: string;
  address: string;
}

/**
 * Calls the user's hooks for the guard. A hook that throws or answers
 * nonsense never takes a request down: the guard falls back to what it
 * would do without the hook, and the misuse is logged once, with its code.
 */
export class HookRunner {
  private readonly warned = new Set<string>();

  constructor(
    private readonly hooks: PortcullisHooks,
    private readonly log: Logger,
  ) {}

  get hasSkip(): boolean {
    return this.hooks.skip !== undefined;
  }

  get hasKeyGenerator(): boolean {
    return this.hooks.keyGenerator !== undefined;
  }

  get hasHandler(): boolean {
    return this.hooks.handler !== undefined;
  }

  get hasClassifier(): boolean {
    return this.hooks.classify !== undefined;
  }

  /** true when skip() says so; a throwing skip() skips nothing */
  skip(req: HookRequest): boolean {
    const skip = this.hooks.skip;
    if (!skip) return false;
    try {
      return skip(req) === true;
    } catch (err) {
      this.once('ERR_PORTCULLIS_SKIP_FAILED', 'skip() threw; the request is checked and counted as usual', err);
      return false;
    }
  }

  /** The keyGenerator's key for `req`, or null: the client is its address. */
  key(req: HookRequest): ClientKey | null {
    const generate = this.hooks.keyGenerator;
    if (!generate) return null;
    let key: unknown;
    try {
      key = generate(req);
    } catch (err) {
      this.once('ERR_PORTCULLIS_KEY_GENERATOR_FAILED', 'keyGenerator() threw; the client is counted under its address', err);
      return null;
    }
    if (key === undefined || key === null || key === '') return null;
    if (typeof key !== 'string') {
      this.once(
        'ERR_PORTCULLIS_KEY_GENERATOR_RESULT',
        `keyGenerator() must return a string (or null/undefined for the address), got ${key instanceof Promise ? 'a Promise (it must be synchronous)' : typeof key}; the client is counted under its address`,
      );
      return null;
    }
    return { key, address: keyAddress(key) };
  }

  /** The jail names classify() gives the response, comma-joined like X-Portcullis-Failure; undefined for none. */
  classify(req: HookRequest, res: Pick<ServerResponse, 'statusCode' | 'getHeader'>): string | undefined {
    const classify = this.hooks.classify;
    if (!classify) return undefined;
    let names: unknown;
    try {
      names = classify(req, res);
    } catch (err) {
      this.once('ERR_PORTCULLIS_CLASSIFY_FAILED', 'classify() threw; the response is classified by the config rules only', err);
      return undefined;
    }
    if (names === undefined || names === null || names === false || names === '') return undefined;
    if (typeof names === 'string') return names;
    if (Array.isArray(names) && names.every((n) => typeof n === 'string')) return names.length > 0 ? names.join(',') : undefined;
    this.once('ERR_PORTCULLIS_CLASSIFY_RESULT', `classify() must return a jail name, an array of them, or nothing; got ${typeof names}`);
    return undefined;
  }

  /** classify() named a jail the config does not have */
  unknownJail(name: string): void {
    this.once(
      'ERR_PORTCULLIS_CLASSIFY_JAIL',
      `classify() named the jail ${JSON.stringify(name.slice(0, 64))}, which the config does not define; the response is not counted for it`,
    );
  }

  /**
   * Lets handler() answer a banned client. false when there is no handler or
   * it threw before answering: the caller sends the default answer.
   */
  blocked(req: HookRequest, res: ServerResponse, next: HookNext, info: BlockedInfo): boolean {
    const handler = this.hooks.handler;
    if (!handler) return false;
    try {
      handler(req, res, next, info);
      return true;
    } catch (err) {
      this.once('ERR_PORTCULLIS_HANDLER_FAILED', 'handler() threw; banned clients get the default answer', err);
      return res.headersSent;
    }
  }

  private once(code: `ERR_PORTCULLIS_${string}`, message: string, cause?: unknown): void {
    if (this.warned.has(code)) return;
    this.warned.add(code);
    const err = usageError(code, `portcullis: ${message}`, cause);
    this.log.error({ code, err: { message: err.message, ...(cause instanceof Error ? { cause: cause.message } : {}) } }, err.message);
  }
}
