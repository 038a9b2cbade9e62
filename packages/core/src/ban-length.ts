import type { IncrementConfig } from './config/schema.js';
import { FOREVER, MAX_DURATION_MS } from './duration.js';

/**
 * How long a ban lasts: the one place this rule is written. Both stores use
 * it (the Redis scripts get its answers as a ladder, see banLadder), so the
 * embedded store and Redis agree to the millisecond.
 *
 * fail2ban's bantime.increment: the first ban lasts bantime; after `previous`
 * earlier bans, bantime × multipliers[previous] when multipliers are set, else
 * bantime × 2^min(previous, 20) × factor; capped at max(maxtime, bantime);
 * whole ms (rounded down), never under MIN_BAN_MS (a length of 0 would read
 * as forever), never over MAX_DURATION_MS; then up to rndtime of jitter.
 * FOREVER stays forever.
 */

/** the shortest ban any computation yields */
export const MIN_BAN_MS = 1000;

const clamp = (ms: number) => Math.min(Math.max(Math.floor(ms), MIN_BAN_MS), MAX_DURATION_MS);

/** the length after `previous` earlier bans, without jitter */
export function banLength(bantime: number, previous: number, inc: IncrementConfig): number {
  if (bantime === FOREVER) return FOREVER;
  let ms = bantime;
  if (inc.enabled && previous > 0) {
    ms = inc.multipliers
      ? bantime * inc.multipliers[Math.min(previous, inc.multipliers.length - 1)]!
      : bantime * 2 ** Math.min(previous, 20) * inc.factor;
    ms = Math.min(ms, Math.max(inc.maxtime, bantime));
  }
  return clamp(ms);
}

/** the random part of one ban (increment.rndtime), whole ms */
export function banJitter(inc: IncrementConfig, random: () => number = Math.random): number {
  return inc.enabled && inc.rndtime > 0 ? Math.floor(random() * inc.rndtime) : 0;
}

/** A ban's length with its jitter added (still within MAX_DURATION_MS). */
export function withJitter(length: number, jitter: number): number {
  return length === FOREVER ? FOREVER : Math.min(length + jitter, MAX_DURATION_MS);
}

/** banLength plus jitter drawn from `random`. */
export function banDuration(bantime: number, previous: number, inc: IncrementConfig, random: () => number = Math.random): number {
  return withJitter(banLength(bantime, previous, inc), banJitter(inc, random));
}

/**
 * Every length the rule can give a jail, by number of earlier bans: entry i
 * is banLength(bantime, i); past the end the last entry holds (multipliers
 * run out, the cap or 2^20 is reached). A script indexes it with the count
 * it reads atomically, so no rule is written in Lua.
 */
export function banLadder(bantime: number, inc: IncrementConfig): number[] {
  const ladder = [banLength(bantime, 0, inc)];
  if (bantime === FOREVER || !inc.enabled) return ladder;
  const last = inc.multipliers ? inc.multipliers.length - 1 : 20;
  for (let previous = 1; previous <= last; previous++) {
    const ms = banLength(bantime, previous, inc);
    ladder.push(ms);
    // the formula only grows: once at the cap it stays there
    if (!inc.multipliers && ms >= Math.min(Math.max(inc.maxtime, bantime), MAX_DURATION_MS)) break;
  }
  return ladder;
}
