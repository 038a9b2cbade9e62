import type { BanStore, Jail, Reservation } from '@portcullis/core';
import type { OutageLog } from './outage.js';

/** What an attempt that a jail could count gets when it arrives. */
export type Admission =
  | Reservation
  /** the store did not answer: fail open, nothing held */
  | { state: 'open' };

/** how often a waiting arrival looks for a ban in the local cache (no Redis call) */
const BAN_POLL_MS = 20;

interface Local {
  /** this gateway's attempts of the key still waiting for their verdict */
  inFlight: number;
  /** over-budget arrivals waiting for one of those verdicts */
  waiters: Set<() => void>;
}

/**
 * The request-time guess budget. An attempt that a jail could count (its
 * method and path match; the status is not known yet) reserves one unit of
 * the client's budget in the store before it may reach the upstream:
 * maxretry − failures in the window − attempts still in flight, counted
 * atomically across every gateway sharing the store. When the response is
 * classified the unit is given back: by the failure's own recording (one
 * atomic step: counted as failed and no longer held) or, for an attempt that
 * did not fail, by a release.
 *
 * An arrival over budget is not refused at once: it waits for the verdicts
 * of this gateway's attempts in flight (at most `waitMs`) and asks again,
 * so a client whose attempts turn out fine goes on, and one whose attempts
 * fail meets its ban. The store failing fails open (as recording does).
 */
export class AttemptBudget {
  private readonly local = new Map<string, Local>();

  constructor(
    private readonly store: BanStore,
    private readonly outage: OutageLog,
    /** how long a reservation lives if never given back (a crashed gateway) */
    private readonly lifetimeMs: number,
    /** how long an arrival over budget waits for verdicts */
    private readonly waitMs: number,
  ) {}

  /**
   * Reserves a unit for `key` in `jail`, waiting for verdicts while over
   * budget. `bannedUntil` reads the gateway's ban cache (no Redis call).
   */
  async admit(jail: Jail, key: string, bannedUntil: () => number): Promise<Admission> {
    const id = `${jail.name}\0${key}`;
    const deadline = Date.now() + this.waitMs;
    let last = false;
    for (;;) {
      let answer: Reservation;
      try {
        answer = await this.store.reserve(jail, key, this.lifetimeMs);
      } catch (err) {
        this.outage.failed(err);
        return { state: 'open' };
      }
      if (answer.state === 'reserved') this.localOf(id).inFlight++;
      if (answer.state !== 'over' || last) return answer;
      // wait for a verdict here (then ask again), for a ban to reach the cache
      // (a verdict at another gateway), or for the deadline (then ask once more)
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) {
          last = true;
          break;
        }
        const settled = await this.verdict(id, Math.min(left, BAN_POLL_MS));
        const until = bannedUntil();
        if (until !== 0) return { state: 'banned', until };
        if (settled) break;
      }
    }
  }

  /**
   * The attempt holding `token` did not fail (or got no verdict): gives the
   * unit back, then wakes the waiters of the key.
   */
  settle(jail: Jail, key: string, token: string): void {
    this.settled(
      jail,
      key,
      this.store.release(jail, key, token).catch((err: unknown) => this.outage.failed(err)),
    );
  }

  /**
   * The attempt failed and `recording` records it with its unit (recordFailure's
   * `held`: the store gives the unit back in the same step). Wakes the waiters
   * of the key once the recording is done, so their next ask sees the failure.
   */
  settled(jail: Jail, key: string, recording: Promise<unknown>): void {
    const id = `${jail.name}\0${key}`;
    const local = this.local.get(id);
    const wake = () => {
      if (!local) return;
      local.inFlight--;
      for (const w of local.waiters) w();
      local.waiters.clear();
      if (local.inFlight <= 0) this.local.delete(id);
    };
    recording.then(wake, wake);
  }

  /** true when an attempt of `id` settles here within `ms`, false after `ms` */
  private verdict(id: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const local = this.local.get(id);
      const finish = (settled: boolean) => {
        clearTimeout(timer);
        local?.waiters.delete(done);
        resolve(settled);
      };
      const done = () => finish(true);
      const timer = setTimeout(() => finish(false), ms);
      timer.unref();
      local?.waiters.add(done);
    });
  }

  private localOf(id: string): Local {
    let local = this.local.get(id);
    if (!local) {
      local = { inFlight: 0, waiters: new Set() };
      this.local.set(id, local);
    }
    return local;
  }
}
