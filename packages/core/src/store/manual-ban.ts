import type { PortcullisConfig } from '../config/schema.js';
import { FOREVER, MAX_DURATION_MS } from '../duration.js';
import { InvalidDurationError, InvalidIpError, ProtectedIpError } from '../errors.js';
import { assertKnownJail, MANUAL_JAIL } from '../jail.js';
import { normalizeCidr, type Cidr } from '../ip.js';
import type { Protection } from '../protection.js';
import type { BanOptions } from './types.js';

export interface ManualBan {
  cidr: Cidr;
  jail: string;
  /** ms, -1 forever */
  duration: number;
  reason: string;
}

/**
 * The checks and defaults of a hand-made ban, the same for every store:
 * a valid address or CIDR that covers nothing protected, a known jail
 * ("manual" when none), and the jail's (or default) bantime.
 */
export function resolveManualBan(rawIp: string, opts: BanOptions, config: PortcullisConfig, protection: Protection): ManualBan {
  const cidr = normalizeCidr(rawIp);
  if (cidr === null) throw new InvalidIpError(rawIp, 'IP address or CIDR');
  const why = protection.reasonForCidr(cidr);
  if (why) throw new ProtectedIpError(cidr.text, why);
  const jail = opts.jail ?? MANUAL_JAIL;
  assertKnownJail(config, jail);
  const duration = opts.duration ?? config.jails[jail]?.bantime ?? config.defaults.bantime;
  // checked where it enters, before anything is written: never 0 (it would read as forever), never past what Redis takes
  if (duration !== FOREVER && !(Number.isInteger(duration) && duration >= 1 && duration <= MAX_DURATION_MS)) {
    throw new InvalidDurationError(duration, `not a ban length: whole ms from 1 to ${MAX_DURATION_MS} (10 years), or -1 (forever)`);
  }
  return { cidr, jail, duration, reason: opts.reason ?? 'manual' };
}
