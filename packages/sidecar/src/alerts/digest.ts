import type { BanEvent } from '@portcullis/core';

type Ban = Extract<BanEvent, { type: 'ban' }>;

/** What the policy decided for one ban. */
export type Admission = 'single' | 'listed' | 'counted';

/** A digest ready to go: the bans it lists (to look up) and every event id it covers. */
export interface DueDigest {
  from: number;
  to: number;
  total: number;
  byJail: Record<string, number>;
  listed: Ban[];
  ids: string[];
}

/**
 * The flood guard of the alerts: in each window the first `maxSingle` bans
 * get a message each, the rest wait for one digest at the window's end. So
 * a window sends at most maxSingle + 1 messages per channel, whatever the
 * number of bans (100,000 bans in a minute: 6 mails with the defaults).
 */
export class DigestPolicy {
  private windowStart = -1;
  private singles = 0;
  private pending: DueDigest | null = null;

  constructor(
    private readonly window: number,
    private readonly maxSingle: number,
    private readonly listedMax: number,
  ) {}

  /** single: send it now; listed / counted: it went into the digest (listed ones are looked up for it) */
  admit(ban: Ban, id: string, now: number): Admission {
    if (this.windowStart < 0 || now >= this.windowStart + this.window) {
      // a window with a pending digest is closed by due() first; here the previous one was quiet
      if (this.pending === null) {
        this.windowStart = now;
        this.singles = 0;
      }
    }
    if (this.singles < this.maxSingle && this.pending === null) {
      this.singles++;
      return 'single';
    }
    this.pending ??= { from: now, to: now, total: 0, byJail: {}, listed: [], ids: [] };
    const d = this.pending;
    d.to = now;
    d.total++;
    d.byJail[ban.jail] = (d.byJail[ban.jail] ?? 0) + 1;
    d.ids.push(id);
    if (d.listed.length < this.listedMax) {
      d.listed.push(ban);
      return 'listed';
    }
    return 'counted';
  }

  /** ms until the pending digest is due (Infinity when none) */
  dueIn(now: number): number {
    return this.pending === null ? Infinity : Math.max(0, this.windowStart + this.window - now);
  }

  /** the digest, once its window is over; the next window starts empty */
  due(now: number): DueDigest | null {
    if (this.pending === null || now < this.windowStart + this.window) return null;
    const d = this.pending;
    this.pending = null;
    // the next window starts now: it also gets maxSingle singles at most
    this.windowStart = now;
    this.singles = this.maxSingle;
    return d;
  }
}
