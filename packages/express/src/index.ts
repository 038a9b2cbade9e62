// The public API of @portcullis/express, by name. Anything else is internal;
// the package's own tests import it from its module.

// the middleware, its options and the guard it returns
export { portcullis, type PortcullisMiddleware, type PortcullisOptions } from './middleware.js';
export type { PortcullisHooks, HookRequest, HookNext, BlockedInfo } from './hooks.js';
// the address a keyGenerator key is recorded under (for `portcullis ban` / `unban`)
export { keyAddress } from './client-key.js';
// who the client is: the step the middleware and the example's request log share
export { ClientIpResolver } from './client-ip.js';

// what a guard exposes: guard.cache, guard.metrics, guard.healthReport()
export { BanCache } from './ban-cache.js';
export { GatewayMetrics, type BlockReason } from './metrics.js';
export type { HealthReport } from './health.js';
