import { MalformedEventError, normalizeCidr, parseBanEvent, type BanEvent, type Cidr } from '@portcullis/core';
import type { Ban, FirewallBatch } from './backends/firewall.js';

/** A raw stream entry as XREADGROUP returns it. */
export type StreamEntry = [id: string, fields: string[]];

export interface MalformedEntry {
  id: string;
  fields: string[];
  error: string;
}

export interface MergedBatch {
  /** every id read (acked once the batch holds) */
  ids: string[];
  /** the latest valid event per address, in stream order */
  events: Array<{ id: string; event: BanEvent }>;
  malformed: MalformedEntry[];
  /** what the firewall must do */
  firewall: FirewallBatch;
  /** bans already over when read: acked, no rule added */
  expired: Ban[];
}

/**
 * Turns a run of stream entries into one firewall batch: each entry is
 * validated (a bad one is set aside, never reaches a command), and the latest
 * event per address wins (ban then unban = unban; unban then ban = ban).
 * A ban whose `until` has passed becomes a removal.
 */
export function mergeEntries(
  entries: readonly StreamEntry[],
  now: number,
  /** why a ban must never be applied (loopback, trustProxy, ignoreIp, too wide, absurd until), or null */
  refuse?: (cidr: Cidr, until: number) => string | null,
): MergedBatch {
  const latest = new Map<string, { id: string; event: BanEvent }>();
  const malformed: MalformedEntry[] = [];
  const ids: string[] = [];
  for (const [id, fields] of entries) {
    ids.push(id);
    let event: BanEvent;
    try {
      event = parseBanEvent(fields ?? []);
    } catch (err) {
      if (!(err instanceof MalformedEventError)) throw err;
      malformed.push({ id, fields: fields ?? [], error: err.message });
      continue;
    }
    if (event.type === 'ban' && refuse) {
      const why = refuse(normalizeCidr(event.ip)!, event.until);
      if (why) {
        // a ban of 0.0.0.0/0 or of our own proxy would lock everybody out, one until 300 millennia
        // away wedges the firewall: never applied
        malformed.push({ id, fields, error: `refused to ban ${event.ip}: ${why}` });
        continue;
      }
    }
    latest.delete(event.ip); // keep stream order of the winners
    latest.set(event.ip, { id, event });
  }
  const add: Ban[] = [];
  const remove: Ban[] = [];
  const expired: Ban[] = [];
  for (const { event } of latest.values()) {
    if (event.type === 'unban') {
      remove.push({ ip: event.ip, jail: event.jail, until: 0 });
    } else if (event.until !== -1 && event.until <= now) {
      const ban = { ip: event.ip, jail: event.jail, until: event.until };
      expired.push(ban);
      remove.push(ban);
    } else {
      add.push({ ip: event.ip, jail: event.jail, until: event.until });
    }
  }
  return { ids, events: [...latest.values()], malformed, firewall: { add, remove }, expired };
}

/**
 * What reconcile must change: `owned` is what the firewall holds, `active`
 * what Redis says. Missing → add; stale, expired or of an old shape → remove
 * (or replace); an until that differs by more than `slackMs` → refresh.
 */
export function diffReconcile(
  owned: ReadonlyArray<Ban & { current: boolean }>,
  active: readonly Ban[],
  now: number,
  slackMs = 2000,
): FirewallBatch {
  const want = new Map<string, Ban>();
  for (const b of active) if (b.until === -1 || b.until > now) want.set(b.ip, b);
  const have = new Map(owned.map((o) => [o.ip, o]));
  const add: Ban[] = [];
  const remove: Ban[] = [];
  for (const o of owned) {
    const w = want.get(o.ip);
    if (!w) remove.push(o);
  }
  for (const w of want.values()) {
    const o = have.get(w.ip);
    if (!o?.current || !sameUntil(o.until, w.until, slackMs)) add.push(w);
  }
  return { add, remove };
}

function sameUntil(a: number, b: number, slack: number): boolean {
  if (a === -1 || b === -1) return a === b;
  return Math.abs(a - b) <= slack;
}
