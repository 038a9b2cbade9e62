import type { BanStore } from '@portcullis/core';
import type { GatewayMetrics, StoreCommand } from './metrics.js';

const TIMED = new Map<PropertyKey, StoreCommand>([
  ['reserve', 'reserve'],
  ['recordFailure', 'record_failure'],
  ['release', 'release'],
]);

/**
 * The store as the request path uses it, with the login-path commands
 * (reserve, recordFailure, release) timed into the metrics. Everything else
 * goes to the store unchanged (`this` is always the store itself).
 */
export function timedStore(store: BanStore, metrics: GatewayMetrics): BanStore {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const command = TIMED.get(prop);
      if (!command) return value.bind(target);
      return (...args: unknown[]) => {
        const done = metrics.startCommand(command);
        return (value.apply(target, args) as Promise<unknown>).then(
          (result) => {
            done(false);
            return result;
          },
          (err: unknown) => {
            done(true);
            throw err;
          },
        );
      };
    },
  });
}
