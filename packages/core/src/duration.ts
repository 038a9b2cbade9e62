import { InvalidDurationError } from './errors.js';

/** Milliseconds value that stands for "forever" (fail2ban's bantime = -1). */
export const FOREVER = -1;

/**
 * The longest duration Portcullis accepts anywhere: 10 years. Far inside
 * what Redis (PEXPIREAT), Lua's integer formatting and the firewalls take,
 * so no ban time, however computed, can overflow one of them.
 */
export const MAX_DURATION_MS = 315_360_000_000;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

// fail2ban accepts plain seconds and compact unit forms; "1h30m" is fine too.
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/**
 * Parses fail2ban-style durations into milliseconds: `600` (seconds), `"10m"`,
 * `"1h"`, `"1d"`, `"1w"`, `"1h30m"`; `-1` / `"-1"` means forever (returns FOREVER).
 */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') {
    if (value === -1) return FOREVER;
    if (Number.isFinite(value) && value > 0) return bounded(value, Math.round(value * 1000));
    throw new InvalidDurationError(value);
  }
  if (typeof value !== 'string') throw new InvalidDurationError(value);
  const text = value.trim();
  if (text === '-1') return FOREVER;
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text));
  if (text === '') throw new InvalidDurationError(value);
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = PART.lastIndex;
  }
  if (consumed !== text.length || total <= 0) throw new InvalidDurationError(value);
  return bounded(value, Math.round(total));
}

/** A parsed duration is a whole, positive number of ms up to MAX_DURATION_MS: "0.4ms" is not 0 (which would mean forever). */
function bounded(value: unknown, ms: number): number {
  if (ms < 1) throw new InvalidDurationError(value, 'shorter than 1 ms');
  if (ms > MAX_DURATION_MS)
    throw new InvalidDurationError(value, `longer than ${formatDuration(MAX_DURATION_MS)} (10 years), the most Portcullis accepts`);
  return ms;
}

/** Human form for logs and the CLI: 3600000 → "1h", 5400000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (ms === FOREVER) return 'forever';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['w', 604800],
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
