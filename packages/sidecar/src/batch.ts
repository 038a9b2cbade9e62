import { MalformedEventError, normalizeCidr, parseBanEvent, type BanEvent, type Cidr } from '@portcullis/core';
import { ruleKey, type Ban, type FirewallBatch } from './backends/firewall.js';

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
  /** the valid events still in effect after the run (a ban lifted later in it is not), in stream order */
  events: Array<{ id: string; event: BanEvent }>;
  malformed: MalformedEntry[];
  /** what the firewall must do */
  firewall: FirewallBatch;
  /** bans already over when read: acked, no rule added */
  expired: Ban[];
}

/** the ports a jail's ban closes; undefined: firewall.ports (see Ban.ports) */
export type PortsOf = (jail: string) => readonly number[] | undefined;

/** what the firewall holds for an address (the applier's rules), to merge a run against */
export interface HeldRules {
  rulesOf(ip: string): ReadonlyArray<Ban>;
}

const NOTHING_HELD: HeldRules = { rulesOf: () => [] };

/** one port list's winning ban of an address in a run of events */
interface Winner {
  id: string;
  event: Extract<BanEvent, { type: 'ban' }>;
  ban: Ban;
}

/**
 * Turns a run of stream entries into one firewall batch: each entry is
 * validated (a bad one is set aside, never reaches a command), then per
 * address, in stream order:
 *
 *   - a ban is a rule closing its jail's ports (`portsOf`) until the jail's
 *     own end (`jailUntil`, else `until`). One rule per port list: jails of
 *     one port list share it, until the later end (a ban in the same jail
 *     replaces its earlier one);
 *   - an unban lifts every rule of the address (every jail), including those
 *     `held` says the firewall has; bans after it in the run add theirs again.
 *
 * A ban whose end has passed becomes a removal of its rule (unless another
 * jail still holds that rule longer).
 */
export function mergeEntries(
  entries: readonly StreamEntry[],
  now: number,
  /** why a ban must never be applied (loopback, trustProxy, ignoreIp, too wide, absurd until), or null */
  refuse?: (cidr: Cidr, until: number) => string | null,
  portsOf: PortsOf = () => undefined,
  held: HeldRules = NOTHING_HELD,
): MergedBatch {
  const perIp = new Map<
    string,
    { lift: { id: string; event: BanEvent; ports: Set<string>; bans: Ban[] } | null; wins: Map<string, Winner> }
  >();
  const malformed: MalformedEntry[] = [];
  const ids: string[] = [];
  const order = new Map<string, number>();
  for (const [id, fields] of entries) {
    order.set(id, ids.length);
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
    const state = perIp.get(event.ip) ?? { lift: null, wins: new Map<string, Winner>() };
    perIp.set(event.ip, state);
    if (event.type === 'unban') {
      // every rule of the address goes: its jail's, and whatever else the firewall holds for it
      const lifted = new Map<string, Ban>();
      for (const b of [withPorts({ ip: event.ip, jail: event.jail, until: 0 }, portsOf(event.jail)), ...held.rulesOf(event.ip)])
        lifted.set(ruleKey(b), b);
      state.lift = { id, event, ports: new Set(lifted.keys()), bans: [...lifted.values()] };
      state.wins.clear();
      continue;
    }
    const ports = portsOf(event.jail);
    const ban = withPorts({ ip: event.ip, jail: event.jail, until: event.jailUntil ?? event.until }, ports);
    const key = ruleKey(ban);
    const before = state.wins.get(key);
    // jails sharing a port list share its rule: another jail's later end stands
    if (before && before.ban.jail !== ban.jail && later(before.ban.until, ban.until) === before.ban.until) continue;
    state.wins.set(key, { id, event, ban });
  }
  const adds: Winner[] = [];
  const remove: Ban[] = [];
  const expired: Ban[] = [];
  const events: Array<{ id: string; event: BanEvent }> = [];
  for (const [ip, state] of perIp) {
    const wins = [...state.wins.values()];
    const live = wins.filter((w) => w.ban.until === -1 || w.ban.until > now);
    const over = wins.filter((w) => !(w.ban.until === -1 || w.ban.until > now));
    const adding = new Set(live.map((w) => ruleKey(w.ban)));
    if (state.lift) {
      for (const b of state.lift.bans) if (!adding.has(ruleKey(b))) remove.push(b);
      if (wins.length === 0) events.push({ id: state.lift.id, event: state.lift.event });
    }
    // without a lift in the run, the firewall's rule of another jail with a later end stands
    const heldRules = state.lift ? new Map<string, Ban>() : new Map(held.rulesOf(ip).map((b) => [ruleKey(b), b]));
    const outlasts = (w: Winner) => {
      const h = heldRules.get(ruleKey(w.ban));
      return h !== undefined && h.jail !== w.ban.jail && later(h.until, w.ban.until) === h.until && h.until !== w.ban.until;
    };
    for (const w of live) {
      events.push(w);
      if (!outlasts(w)) adds.push(w);
    }
    for (const w of over) {
      events.push(w);
      expired.push(w.ban);
      if (!outlasts(w) && !state.lift?.ports.has(ruleKey(w.ban))) remove.push(w.ban);
    }
  }
  const byStream = (x: { id: string }, y: { id: string }) => order.get(x.id)! - order.get(y.id)!;
  events.sort(byStream);
  const add = adds.sort(byStream).map((w) => w.ban);
  return { ids, events: events.map(({ id, event }) => ({ id, event })), malformed, firewall: { add, remove }, expired };
}

/** the later of two ends (-1 = forever) */
function later(a: number, b: number): number {
  return a === -1 || b === -1 ? -1 : Math.max(a, b);
}

function withPorts(ban: Ban, ports: readonly number[] | undefined): Ban {
  return ports ? { ...ban, ports } : ban;
}

/**
 * What reconcile must change: `owned` is what the firewall holds, `active`
 * what Redis says, one rule per address and port list (ruleKey). Missing →
 * add; stale, expired or of an old shape (other ports, action, protocol) →
 * remove (or replace); an until that differs by more than `slackMs` →
 * refresh.
 */
export function diffReconcile(
  owned: ReadonlyArray<Ban & { current: boolean }>,
  active: readonly Ban[],
  now: number,
  slackMs = 2000,
): FirewallBatch {
  const want = new Map<string, Ban>();
  for (const b of active) if (b.until === -1 || b.until > now) want.set(ruleKey(b), b);
  const have = new Map(owned.map((o) => [ruleKey(o), o]));
  const add: Ban[] = [];
  const remove: Ban[] = [];
  for (const [key, o] of have) if (!want.has(key)) remove.push(o);
  for (const [key, w] of want) {
    const o = have.get(key);
    if (!o?.current || !sameUntil(o.until, w.until, slackMs)) add.push(w);
  }
  return { add, remove };
}

function sameUntil(a: number, b: number, slack: number): boolean {
  if (a === -1 || b === -1) return a === b;
  return Math.abs(a - b) <= slack;
}
