import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { Logger } from 'pino';
import { normalizeHostAddress } from '@portcullis/core';
import { usageError } from './usage-error.js';

type TrustFn = (addr: string, i: number) => boolean;
interface ExpressApp {
  get(setting: string): unknown;
}

/**
 * Who is the client, by the app's own `trust proxy` setting (option
 * trustProxy: "express"): proxy-addr with the function Express compiled,
 * so req.ip and Portcullis agree. Unlike req.ip, a client that is itself
 * a trusted hop (the proxy's own requests) is marked, never counted or
 * banned; `trust proxy` true (trust everyone: any client picks its
 * address) is refused and such requests are treated as of an unknown client.
 */
export class ExpressTrustResolver {
  private readonly proxies = new WeakSet<IncomingMessage>();
  private readonly warned = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** The canonical client address, or null when it cannot be known. */
  resolve(req: IncomingMessage): string | null {
    const app = (req as { app?: ExpressApp }).app;
    if (!app || typeof app.get !== 'function') {
      return this.refuse(
        'ERR_PORTCULLIS_NOT_EXPRESS',
        'trustProxy "express" needs an Express app (req.app); use the config\'s trustProxy list elsewhere',
      );
    }
    if (app.get('trust proxy') === true) {
      return this.refuse(
        'ERR_PORTCULLIS_TRUST_PROXY_ALL',
        'the app\'s "trust proxy" is true, so any client can pick its address with X-Forwarded-For; set it to your proxies\' addresses or a hop count',
      );
    }
    const trust = app.get('trust proxy fn') as TrustFn;
    const chain = proxyaddr.all(req, trust);
    const last = chain.length - 1;
    const ip = normalizeHostAddress(chain[last]);
    // the chain ran out of hops: the client is a trusted proxy itself
    if (ip !== null && trust(chain[last]!, last)) this.proxies.add(req);
    return ip;
  }

  /** true when the resolved client is one of the trusted proxies (never counted, never banned) */
  isProxy(req: IncomingMessage): boolean {
    return this.proxies.has(req);
  }

  private refuse(code: `ERR_PORTCULLIS_${string}`, message: string): null {
    if (!this.warned.has(code)) {
      this.warned.add(code);
      const err = usageError(code, `portcullis: ${message}; meanwhile requests are of an unknown client (unknownClient decides)`);
      this.log.error({ code }, err.message);
    }
    return null;
  }
}
