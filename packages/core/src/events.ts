import { normalizeCidr } from './ip.js';

/** One active ban, as stored in {p}:ban:<ip>. `until` is ms since epoch, -1 = forever. */
export interface BanRecord {
  ip: string;
  jail: string;
  reason: string;
  at: number;
  until: number;
  /** how many times this address has been banned (1 = first ban) */
  count: number;
  by: string;
}

/**
 * An entry of the {p}:events stream, as the sidecars read it. A ban's `until`
 * is the address's (the latest end of its bans in every jail, what gateways
 * block by); `jailUntil`, present only when it is earlier, is this jail's own
 * end, where the jail's firewall rule ends.
 */
export type BanEvent =
  | { type: 'ban'; ip: string; jail: string; until: number; reason: string; at: number; jailUntil?: number }
  | { type: 'unban'; ip: string; jail: string; at: number; reason: string };

/** A notice on {p}:changes (JSON), as the gateways read it. */
export type BanChange = { type: 'ban'; ip: string; jail: string; until: number } | { type: 'unban'; ip: string };

/** Why an event could not be used. */
export class MalformedEventError extends Error {
  readonly code = 'ERR_PORTCULLIS_MALFORMED_EVENT';
}

const TS = /^-?\d{1,16}$/;

/**
 * Validates a raw stream entry (flat field/value list or record). Throws
 * MalformedEventError; a bad address never leaves this function.
 */
export function parseBanEvent(fields: string[] | Record<string, string>): BanEvent {
  const f: Record<string, string> = {};
  if (Array.isArray(fields)) {
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  } else Object.assign(f, fields);
  const cidr = normalizeCidr(f.ip);
  if (!cidr) throw new MalformedEventError(`bad ip ${JSON.stringify(f.ip ?? null)}`);
  const at = f.at !== undefined && TS.test(f.at) ? Number(f.at) : NaN;
  if (!Number.isFinite(at)) throw new MalformedEventError(`bad at ${JSON.stringify(f.at ?? null)}`);
  const jail = f.jail ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(jail) && !(f.type === 'unban' && jail === '')) {
    throw new MalformedEventError(`bad jail ${JSON.stringify(f.jail ?? null)}`);
  }
  if (f.type === 'ban') {
    const until = f.until !== undefined && TS.test(f.until) ? Number(f.until) : NaN;
    if (!Number.isFinite(until) || (until < 0 && until !== -1)) {
      throw new MalformedEventError(`bad until ${JSON.stringify(f.until ?? null)}`);
    }
    const event: BanEvent = { type: 'ban', ip: cidr.text, jail, until, reason: f.reason ?? '', at };
    if (f.jailUntil !== undefined) {
      const jailUntil = TS.test(f.jailUntil) ? Number(f.jailUntil) : NaN;
      if (!Number.isFinite(jailUntil) || (jailUntil < 0 && jailUntil !== -1) || (until !== -1 && (jailUntil === -1 || jailUntil > until))) {
        throw new MalformedEventError(`bad jailUntil ${JSON.stringify(f.jailUntil)} (until ${f.until})`);
      }
      if (jailUntil !== until) event.jailUntil = jailUntil;
    }
    return event;
  }
  if (f.type === 'unban') return { type: 'unban', ip: cidr.text, jail, at, reason: f.reason ?? '' };
  throw new MalformedEventError(`unknown type ${JSON.stringify(f.type ?? null)}`);
}
