export { portcullis, type PortcullisMiddleware, type PortcullisOptions } from './middleware.js';
export { ClientIpResolver } from './client-ip.js';
export { BanCache } from './ban-cache.js';
export { sendBlocked } from './block.js';
export { failedJails, takeFailureHeader } from './classify.js';
export { FloodCounter, type FloodCounterOptions } from './flood-counter.js';
