import { formatDuration } from '@portcullis/core';

/** ms since epoch → "2026-11-25 01:02:03Z"; -1 → "forever" */
export function formatUntil(until: number): string {
  if (until === -1) return 'forever';
  return formatTime(until);
}

export function formatTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** time left of a ban: "59m58s", "forever" */
export function formatLeft(until: number, now: number): string {
  if (until === -1) return 'forever';
  return formatDuration(Math.max(0, until - now));
}
