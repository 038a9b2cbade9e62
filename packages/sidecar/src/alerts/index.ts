export * from './alert-consumer.js';
export * from './alert-health.js';
export * from './channel.js';
export * from './digest.js';
export * from './email.js';
export * from './message.js';
export * from './webhook.js';
