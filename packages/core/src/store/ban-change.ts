import type { BanChange, BanEvent } from '../events.js';

/** The part of a ban/unban event a gateway's cache needs (the {p}:changes notice). */
export function toBanChange(event: BanEvent): BanChange {
  return event.type === 'ban' ? { type: 'ban', ip: event.ip, jail: event.jail, until: event.until } : { type: 'unban', ip: event.ip };
}
