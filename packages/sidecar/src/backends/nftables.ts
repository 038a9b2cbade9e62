import type { FirewallConfig } from '@portcullis/core';
import { normalizeCidr, sortedPorts, type Cidr } from '@portcullis/core';
import { CommandFailedError, CommandNotFoundError, type Runner } from '../exec.js';
import { checkBan } from './ban-length.js';
import {
  FirewallError,
  ruleKey,
  type Ban,
  type FirewallBackend,
  type FirewallBatch,
  type FirewallHealth,
  type OwnedRule,
} from './firewall.js';

export interface NftBackendOptions {
  firewall: FirewallConfig;
  run: Runner;
  /** clock, for timeouts (tests) */
  now?: () => number;
  /** every port list a jail's ban can get now (JailPorts.shapes): the sets of other ones are pruned once empty */
  shapes?: ReadonlyArray<readonly number[]>;
}

/**
 * nftables: a table of our own (`inet <firewall.table>`) holding plain timeout
 * sets (hash sets: O(1) per add, no interval tree) and an input chain (plus
 * forward with docker) that drops or rejects their members, one rule per set:
 *
 *   v4, v6            single addresses                   ip saddr @v4 tcp dport { 80, 443 }
 *   v4p<n>, v6p<n>    ranges of prefix length n, one set   ip saddr & <mask n> @v4p24 …
 *                     per length in use, created on first use
 *   v4_22, v4p24_22   the same for a jail's own ports      ip saddr @v4_22 tcp dport { 22 }
 *                     (sshd): one set per port list in use
 *
 * The sets without a suffix hold bans closing `firewall.ports` (hand bans,
 * jails without ports of their own); a suffix names the ports of the others
 * (`_all`: every port). An address banned in the login jail and in sshd is
 * an element of v4 and of v4_22, each with its own timeout.
 *
 * Why one set per prefix length rather than one interval set: an interval set
 * holds disjoint intervals only. The kernel refuses a /28 over a live /30 (and
 * nft's auto-merge would fuse them under one timeout), so overlapping bans were
 * either lost or ended together. Here every ban is its own element with its
 * own timeout; a /30 and the /28 around it live in v4p30 and v4p28 side by
 * side, both enforced, each expired by the kernel at its own until, and the
 * sets hold exactly the bans (listOwned reads back what the kernel holds).
 * The price is one rule per prefix length and port list in use (a handful in
 * practice). Hash sets also load far faster than interval sets (nft 1.0.6
 * re-reads an interval set on every transaction).
 *
 * A batch of any size is ONE `nft -f -` transaction.
 */
export class NftablesBackend implements FirewallBackend {
  readonly name = 'nftables' as const;
  readonly expiresItself = true;
  private readonly fw: FirewallConfig;
  private readonly run: Runner;
  private readonly now: () => number;
  private readonly shapes: Set<string>;
  /** the sets beyond v4 and v6 our table holds (ranges, other ports), with a rule each */
  private extraSets = new Set<string>();

  constructor(opts: NftBackendOptions) {
    this.fw = opts.firewall;
    this.run = opts.run;
    this.now = opts.now ?? Date.now;
    this.shapes = new Set((opts.shapes ?? []).map((p) => portsSuffix(sortedPorts(p))));
  }

  get table(): string {
    return this.fw.table;
  }

  /**
   * Creates what is missing and rewrites the chains (the config may have
   * changed) without touching elements: a restart keeps every ban. Elements
   * whose set's rule closed other ports than its name says now (an older
   * version closed the union of every jail's ports for every ban;
   * `firewall.ports` changed) move to the set of the ports they were banned
   * with, so no rule narrows under a live ban; reconcile then gives each its
   * jail's ports. Elements of the interval sets of earlier versions (v4net,
   * v6net) move to the per-length sets. All in one transaction.
   */
  async init(): Promise<void> {
    const present = await this.listTable(true);
    const sets = new Set([...(present?.sets.keys() ?? [])].filter((s) => parseSetName(s) !== null));
    const moves = present ? this.misplacedSets(present) : new Map<string, readonly number[] | undefined>();
    const legacy = ['v4net', 'v6net'].filter((s) => present?.sets.has(s));
    for (const s of legacy) if (!moves.has(s)) moves.set(s, undefined);
    const lines: string[] = [];
    if (moves.size > 0) {
      const full = await this.listTable(false);
      for (const [source, ports] of moves) {
        for (const e of full?.sets.get(source) ?? []) {
          const cidr = normalizeCidr(e.text);
          if (!cidr) continue;
          const set = nftSetFor(cidr, ports ?? setPorts(source));
          sets.add(set);
          lines.push(
            `add element inet ${this.table} ${set} { ${elementValue(cidr)}${e.expiresMs === undefined ? '' : ` timeout ${nftTimeout(e.expiresMs)}`} }`,
          );
        }
        if (!legacy.includes(source)) lines.push(`flush set inet ${this.table} ${source}`);
      }
    }
    const extra = [...sets].filter((s) => s !== 'v4' && s !== 'v6');
    const script = [nftSetupScript(this.fw, extra), ...lines, ...legacy.map((s) => `delete set inet ${this.table} ${s}`)].join('\n');
    await this.nft(script);
    this.extraSets = new Set(extra);
  }

  /**
   * The sets whose rule in the kernel closes other ports than the set's name
   * says under this config, with the ports it closes (before the chains are
   * rewritten): their elements were banned with those ports.
   */
  private misplacedSets(table: NftTable): Map<string, readonly number[] | undefined> {
    const out = new Map<string, readonly number[] | undefined>();
    const rules = table.chains.get('input')?.rules ?? [];
    for (const set of table.sets.keys()) {
      const legacy = set === 'v4net' || set === 'v6net';
      if (!legacy && parseSetName(set) === null) continue;
      const rule = rules.find((r) => r.includes(`"@${set}"`));
      const closes = rule === undefined ? null : rulePorts(rule);
      if (closes === null) continue;
      const named = legacy ? undefined : setPorts(set);
      const now = named ?? sortedPorts(this.fw.ports);
      if (portsSuffix(now) === portsSuffix(closes)) continue;
      // the name that holds these ports now: unsuffixed when they are firewall.ports
      out.set(set, portsSuffix(closes) === portsSuffix(sortedPorts(this.fw.ports)) ? undefined : closes);
    }
    return out;
  }

  /**
   * Cheap (no elements listed): the table, every set we created, and the
   * chains with their hook and a rule per set are still in the kernel.
   */
  async check(): Promise<FirewallHealth> {
    let table: NftTable | null;
    try {
      table = await this.listTable(true);
    } catch (err) {
      if (err instanceof CommandNotFoundError)
        return { ok: false, enforcing: false, intact: false, message: 'nft is not installed (apt-get install nftables)' };
      return { ok: false, enforcing: false, intact: false, message: (err as Error).message };
    }
    const lost = table === null ? [`table inet ${this.table}`] : missingStructure(table, this.expectedSets(), this.fw.docker);
    if (lost.length > 0) {
      return { ok: true, enforcing: false, intact: false, message: `nftables lost our ${lost.join(', ')} (flushed under us?)` };
    }
    return { ok: true, enforcing: true, intact: true, message: `nftables table inet ${this.table} in place` };
  }

  /** every element of our sets, read from the kernel (one `nft -j list table`) */
  async listOwned(): Promise<OwnedRule[]> {
    const table = await this.listTable(false);
    if (!table) return [];
    const now = this.now();
    const out: OwnedRule[] = [];
    for (const [set, elems] of table.sets) {
      const name = parseSetName(set);
      if (!name) continue;
      for (const e of elems) {
        const cidr = normalizeCidr(e.text);
        if (!cidr) continue;
        // nft -j reports whole seconds: until is known to ±1 s
        out.push({
          ip: cidr.text,
          jail: '',
          until: e.expiresMs === undefined ? -1 : now + e.expiresMs,
          ...(name.ports ? { ports: name.ports } : {}),
          current: true,
        });
      }
    }
    return out;
  }

  describe(batch: FirewallBatch): string[] {
    return [`nft -f - <<'EOF'\n${nftBatchScript(this.table, batch, this.now())}EOF`];
  }

  async apply(batch: FirewallBatch, owned?: ReadonlyMap<string, OwnedRule>): Promise<void> {
    if (batch.add.length === 0 && batch.remove.length === 0) return;
    const now = this.now();
    for (const b of batch.add) checkBan(b, now);
    // a range or port list not seen yet: its set and rule come in the same transaction
    const wanted = new Set(this.extraSets);
    for (const b of batch.add) {
      const set = nftSetFor(normalizeCidr(b.ip)!, b.ports);
      if (set !== 'v4' && set !== 'v6') wanted.add(set);
    }
    // nothing to lift from a set that never existed (an unban reaching every shape of an address)
    const exists = (b: Ban) => {
      const set = nftSetFor(normalizeCidr(b.ip)!, b.ports);
      return wanted.has(set) || set === 'v4' || set === 'v6';
    };
    const work = { add: batch.add, remove: batch.remove.filter(exists) };
    const grow = wanted.size > this.extraSets.size ? nftSetupScript(this.fw, [...wanted]) : '';
    try {
      // fast path: trust what we know is live (a delete is only written for those)
      await this.nft(grow + nftBatchScript(this.table, work, now, owned));
    } catch (err) {
      if (!(err instanceof FirewallError) || err.transient === false) throw err;
      // an element we thought live had expired (its delete failed), or we knew nothing
      await this.nft(grow + nftBatchScript(this.table, work, now));
    }
    this.extraSets = wanted;
  }

  /** rebuilds the table from scratch with every owned ban, in one transaction (no moment half-built) */
  async restore(owned: ReadonlyMap<string, OwnedRule>): Promise<void> {
    const now = this.now();
    const bans: Ban[] = [];
    for (const o of owned.values()) {
      try {
        checkBan(o, now);
        bans.push(o);
      } catch {
        // never reached the kernel through apply either
      }
    }
    const extra = new Set<string>();
    for (const b of bans) {
      const set = nftSetFor(normalizeCidr(b.ip)!, b.ports);
      if (set !== 'v4' && set !== 'v6') extra.add(set);
    }
    const t = `inet ${this.table}`;
    const script = `add table ${t}\ndelete table ${t}\n${nftSetupScript(this.fw, [...extra])}${addElements(this.table, bans, now)}`;
    await this.nft(script);
    this.extraSets = extra;
  }

  /**
   * Drops the sets (and rules) of port lists no jail has any more once they
   * are empty: after an upgrade from the union shape, or a jail's ports
   * changed in the config. The sets of current port lists stay (the next ban
   * of that shape needs no new rule).
   */
  async prune(owned: ReadonlyMap<string, OwnedRule>): Promise<void> {
    const used = new Set<string>();
    for (const o of owned.values()) {
      const cidr = normalizeCidr(o.ip);
      if (cidr) used.add(nftSetFor(cidr, o.ports));
    }
    const defaults = portsSuffix(sortedPorts(this.fw.ports));
    const candidates = [...this.extraSets].filter((set) => {
      const ports = setPorts(set);
      if (ports === undefined || used.has(set)) return false;
      // firewall.ports' bans live in the unsuffixed sets: a suffixed set of them is left over
      return portsSuffix(ports) === defaults || !this.shapes.has(portsSuffix(ports));
    });
    if (candidates.length === 0) return;
    // the kernel says whether they are empty (elements can only have timed out since)
    const table = await this.listTable(false);
    const empty = candidates.filter((set) => (table?.sets.get(set)?.length ?? 0) === 0);
    if (empty.length === 0) return;
    const keep = [...this.extraSets].filter((set) => !empty.includes(set));
    await this.nft(
      [nftSetupScript(this.fw, keep), ...empty.filter((s) => table?.sets.has(s)).map((s) => `delete set inet ${this.table} ${s}`), ''].join(
        '\n',
      ),
    );
    this.extraSets = new Set(keep);
  }

  private expectedSets(): string[] {
    return ['v4', 'v6', ...this.extraSets];
  }

  private async nft(script: string): Promise<void> {
    try {
      await this.run('nft', ['-f', '-'], { input: script });
    } catch (err) {
      if (err instanceof CommandNotFoundError) throw notInstalled();
      throw nftError(err);
    }
  }

  /** our table (null when missing); terse: sets without their elements */
  private async listTable(terse: boolean): Promise<NftTable | null> {
    let stdout: string;
    try {
      ({ stdout } = await this.run('nft', [...(terse ? ['-t'] : []), '-j', 'list', 'table', 'inet', this.table]));
    } catch (err) {
      if (err instanceof CommandFailedError && /No such file or directory/.test(err.stderr)) return null;
      if (err instanceof CommandNotFoundError) throw notInstalled();
      throw err;
    }
    return parseNftTableJson(stdout);
  }
}

function notInstalled(): CommandNotFoundError {
  return new CommandNotFoundError('nft', 'apt-get install nftables, or choose another firewall.backend');
}

/**
 * What a failed nft transaction deserves: a table or element missing, a busy
 * or starved kernel will pass on a later try (the table is rebuilt by
 * restore()); a value nft refuses will be refused again. Anything else is
 * passed on as is (the caller does not know either).
 */
function nftError(err: unknown): unknown {
  if (!(err instanceof CommandFailedError)) return err;
  if (
    /No such file or directory|Device or resource busy|Resource temporarily unavailable|Cannot allocate memory|Interrupted|timed out/i.test(
      err.stderr,
    )
  ) {
    return new FirewallError(err.message, { transient: true, cause: err });
  }
  if (/value too large|out of range|syntax error|Invalid|unexpected/i.test(err.stderr)) {
    return new FirewallError(err.message, { transient: false, cause: err });
  }
  return err;
}

/**
 * nft's form of a timeout: `1d2h3m4s5ms`. nft refuses `Nms` from 100,000,000 ms
 * up (27.7 h: "value too large") but takes days: 3650d (10 years) and more
 * were measured to pass on nft 1.0.6 / Linux 6.x.
 */
export function nftTimeout(ms: number): string {
  let rest = Math.max(1, Math.ceil(ms));
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return rest > 0 ? `${out}${rest}ms` : out;
}

/** `tcp dport { 80, 443 }` etc.: the port match of a rule closing `ports` ([] = every port) */
function portMatch(fw: FirewallConfig, ports: readonly number[], port: string): string {
  if (ports.length === 0) return fw.protocol === 'any' ? '' : `meta l4proto ${fw.protocol} `;
  const list = `{ ${ports.join(', ')} }`;
  if (fw.protocol === 'any') return `meta l4proto { tcp, udp } ${port === 'dport' ? 'th dport' : port} ${list} `;
  return port === 'dport' ? `${fw.protocol} dport ${list} ` : `meta l4proto ${fw.protocol} ${port} ${list} `;
}

/** `ip saddr @v4` or `ip saddr & 255.255.255.0 @v4p24` */
function sourceMatch(set: string): string {
  const { family, prefix } = parseSetName(set)!;
  const ip = family === 'v4' ? 'ip' : 'ip6';
  if (prefix === null) return `${ip} saddr @${set}`;
  const mask = normalizeCidr(`${family === 'v4' ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'}/${prefix}`)!.network;
  return `${ip} saddr & ${mask} @${set}`;
}

/**
 * Creates the table and sets if missing and rewrites the chain rules (the
 * config may have changed) WITHOUT touching set elements: a restart keeps
 * every ban in place. `extraSets`: the sets beyond v4 and v6 (ranges, other
 * port lists), each with its rule.
 *
 * Docker: a published port is DNATed in prerouting (8080 → the container's 80)
 * and then crosses forward, never input. The forward rules therefore match the
 * port the client asked for, `ct original proto-dst`, which conntrack keeps
 * from before the DNAT; and they run at filter - 10, before Docker's own
 * FORWARD accept rules (filter).
 */
export function nftSetupScript(fw: FirewallConfig, extraSets: readonly string[] = []): string {
  const t = `inet ${fw.table}`;
  const verdict = fw.action === 'reject' ? 'reject' : 'drop';
  const sets = ['v4', 'v6', ...[...new Set(extraSets)].filter((s) => s !== 'v4' && s !== 'v6').sort(bySetOrder)];
  const closes = (set: string) => setPorts(set) ?? sortedPorts(fw.ports);
  const rules = (chain: string, port: string) =>
    sets.map((set) => `add rule ${t} ${chain} ${sourceMatch(set)} ${portMatch(fw, closes(set), port)}counter ${verdict}`);
  const lines = [
    `add table ${t}`,
    ...sets.map((set) => `add set ${t} ${set} { type ${set.startsWith('v4') ? 'ipv4_addr' : 'ipv6_addr'}; flags timeout; }`),
    `add chain ${t} input { type filter hook input priority filter - 10; policy accept; }`,
    `flush chain ${t} input`,
    ...rules('input', 'dport'),
    `add chain ${t} forward { type filter hook forward priority filter - 10; policy accept; }`,
    `flush chain ${t} forward`,
  ];
  if (fw.docker) lines.push(...rules('forward', 'ct original proto-dst'));
  else lines.push(`delete chain ${t} forward`);
  return `${lines.join('\n')}\n`;
}

/** v4 before v6, firewall.ports' sets before the others, then by prefix length: a stable rule order */
function bySetOrder(a: string, b: string): number {
  const x = parseSetName(a)!;
  const y = parseSetName(b)!;
  if (x.family !== y.family) return x.family < y.family ? -1 : 1;
  const px = x.ports ? portsSuffix(x.ports) : '';
  const py = y.ports ? portsSuffix(y.ports) : '';
  if (px !== py) return px < py ? -1 : 1;
  return (x.prefix ?? 0) - (y.prefix ?? 0);
}

/** `10.0.0.16` (the network address: the set of its prefix length gives the rest) */
function elementValue(cidr: Cidr): string {
  return cidr.network;
}

function element(ban: Ban, now: number): string | null {
  const value = elementValue(normalizeCidr(ban.ip)!);
  if (ban.until === -1) return value;
  const ms = ban.until - now;
  if (ms <= 0) return null;
  return `${value} timeout ${nftTimeout(ms)}`;
}

function addElements(table: string, bans: readonly Ban[], now: number): string {
  const lines: string[] = [];
  for (const [set, mine] of groupBySet(bans)) {
    const els = mine.map((b) => element(b, now)).filter((e): e is string => e !== null);
    for (const chunk of chunks(els)) lines.push(`add element inet ${table} ${set} { ${chunk.join(', ')} }`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function groupBySet(bans: readonly Ban[]): Map<string, Ban[]> {
  const out = new Map<string, Ban[]>();
  for (const b of bans) {
    const cidr = normalizeCidr(b.ip);
    if (!cidr) continue;
    const set = nftSetFor(cidr, b.ports);
    out.set(set, [...(out.get(set) ?? []), b]);
  }
  return out;
}

/**
 * One transaction for a whole batch. `add element` does not refresh the
 * timeout of a live element on every kernel, and `delete element` fails on a
 * missing one. With `live` (the rules we know are in the kernel, by ruleKey):
 * new bans are plain adds, live ones are deleted and re-added with the new
 * timeout, removals of live ones are plain deletes. Without it (or for rules
 * not known live) every touched element is first added bare (so it exists),
 * then deleted, then (bans) added again. Either way it is one atomic commit:
 * no moment without the rule.
 */
export function nftBatchScript(table: string, batch: FirewallBatch, now: number, live?: { has(key: string): boolean }): string {
  const t = `inet ${table}`;
  const lines: string[] = [];
  const stmt = (verb: 'add' | 'delete', set: string, els: string[]) => {
    for (const chunk of chunks(els)) lines.push(`${verb} element ${t} ${set} { ${chunk.join(', ')} }`);
  };
  const adds = groupBySet(batch.add);
  const removes = groupBySet(batch.remove);
  const sets = [...new Set([...adds.keys(), ...removes.keys()])].sort(bySetOrder);
  const value = (b: Ban) => elementValue(normalizeCidr(b.ip)!);
  for (const set of sets) {
    const add = adds.get(set) ?? [];
    const remove = removes.get(set) ?? [];
    const known = (b: Ban) => live?.has(ruleKey({ ip: normalizeCidr(b.ip)!.text, ports: b.ports })) ?? false;
    // state unknown: make it exist first, so the delete below cannot fail
    stmt('add', set, (live ? remove.filter((b) => !known(b)) : [...remove, ...add]).map(value));
    stmt('delete', set, (live ? [...remove, ...add.filter(known)] : [...remove, ...add]).map(value));
    stmt(
      'add',
      set,
      add.map((b) => element(b, now)).filter((e): e is string => e !== null),
    );
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** which set holds an address (v4, v6) or a range (v4p<len>, v6p<len>) closing `ports` (undefined: firewall.ports) */
export function nftSetFor(cidr: Cidr, ports?: readonly number[]): string {
  const family = cidr.kind === 'ipv4' ? 'v4' : 'v6';
  const single = cidr.prefix === (cidr.kind === 'ipv4' ? 32 : 128);
  const base = single ? family : `${family}p${cidr.prefix}`;
  return ports ? `${base}_${portsSuffix(ports)}` : base;
}

/** `22_80_443`, `all` for every port: the ports part of a set's name */
function portsSuffix(ports: readonly number[]): string {
  return ports.length === 0 ? 'all' : ports.join('_');
}

const SET_NAME = /^v([46])(?:p(\d{1,3}))?(?:_(all|\d{1,5}(?:_\d{1,5})*))?$/;

/** one of our set names, read: family, prefix length (null: single addresses), ports (undefined: firewall.ports) */
export function parseSetName(set: string): { family: 'v4' | 'v6'; prefix: number | null; ports?: number[] } | null {
  const m = SET_NAME.exec(set);
  if (!m) return null;
  const prefix = m[2] === undefined ? null : Number(m[2]);
  if (prefix !== null && prefix > (m[1] === '4' ? 32 : 128)) return null;
  const out: { family: 'v4' | 'v6'; prefix: number | null; ports?: number[] } = { family: m[1] === '4' ? 'v4' : 'v6', prefix };
  if (m[3] !== undefined) out.ports = m[3] === 'all' ? [] : m[3].split('_').map(Number);
  return out;
}

/** the ports a set's name says its rule closes; undefined: firewall.ports (or not ours) */
function setPorts(set: string): number[] | undefined {
  return parseSetName(set)?.ports;
}

/** One statement of a rule in `nft -j` output, as far as rulePorts reads it (the rest is checked as it is read). */
interface NftRuleExpr {
  match?: {
    left?: { payload?: { field?: unknown }; ct?: { key?: unknown } };
    right?: number | string | { set?: unknown };
  };
}

/**
 * The ports one of our rules closes, read from its JSON (`tcp dport { 80, 443 }`,
 * `th dport 22`, `ct original proto-dst …`): [] when it matches no port (every
 * port), null when it is not a rule we could have written.
 */
export function rulePorts(ruleJson: string): number[] | null {
  let expr: unknown;
  try {
    expr = JSON.parse(ruleJson);
  } catch {
    return null;
  }
  if (!Array.isArray(expr)) return null;
  for (const e of expr as NftRuleExpr[]) {
    const left = e?.match?.left;
    const onPort = left?.payload?.field === 'dport' || left?.ct?.key === 'proto-dst';
    if (!onPort) continue;
    const right = e.match?.right;
    const values: unknown[] =
      typeof right === 'number' ? [right] : typeof right === 'object' && right !== null && Array.isArray(right.set) ? right.set : [];
    const ports: number[] = [];
    for (const v of values) {
      if (typeof v === 'number') ports.push(v);
      else if (Array.isArray((v as { range?: unknown })?.range)) {
        const [lo, hi] = (v as { range: [number, number] }).range;
        for (let p = lo; p <= hi && ports.length < 65536; p++) ports.push(p);
      } else return null;
    }
    return ports.length ? sortedPorts(ports) : null;
  }
  return [];
}

function chunks<T>(list: T[], size = 1000): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** one element as the kernel holds it: `10.0.0.16/28` (from its set), remaining ms or undefined (forever) */
export interface NftElement {
  text: string;
  expiresMs?: number;
}

/** our table as `nft -j list table` shows it */
export interface NftTable {
  /** set name → elements (empty with -t) */
  sets: Map<string, NftElement[]>;
  /** chain name → hook ('' when none) and the JSON of its rules */
  chains: Map<string, { hook: string; rules: string[] }>;
}

function elemText(val: unknown, set: string): string | null {
  const prefix = parseSetName(set)?.prefix ?? null;
  if (typeof val === 'string') return prefix !== null ? `${val}/${prefix}` : val;
  if (val && typeof val === 'object' && 'prefix' in val) {
    const p = (val as { prefix: { addr: string; len: number } }).prefix;
    return `${p.addr}/${p.len}`;
  }
  return null;
}

/** The objects of `nft -j list table` read here (nft leaves out what is empty); their contents are checked as they are read. */
interface NftJsonObject {
  set?: { name?: unknown; elem?: unknown[] };
  chain?: { name?: unknown; hook?: unknown };
  rule?: { chain?: unknown; expr?: unknown };
}

/** Parses `nft -j list table inet <t>`: sets with their elements and remaining time, chains with their rules. */
export function parseNftTableJson(json: string): NftTable {
  const data = JSON.parse(json) as { nftables?: NftJsonObject[] };
  const table: NftTable = { sets: new Map(), chains: new Map() };
  for (const item of data.nftables ?? []) {
    if (item.set) {
      const elems: NftElement[] = [];
      for (const raw of item.set.elem ?? []) {
        let val: unknown = raw;
        let expires: number | undefined;
        if (raw && typeof raw === 'object' && 'elem' in raw) {
          const e = (raw as { elem: { val?: unknown; timeout?: number; expires?: number } }).elem;
          val = e.val;
          expires = e.expires ?? e.timeout;
        }
        const text = elemText(val, String(item.set.name));
        if (text !== null) elems.push({ text, ...(expires === undefined ? {} : { expiresMs: expires * 1000 }) });
      }
      table.sets.set(String(item.set.name), elems);
    } else if (item.chain) {
      table.chains.set(String(item.chain.name), { hook: String(item.chain.hook ?? ''), rules: [] });
    } else if (item.rule) {
      table.chains.get(String(item.rule.chain))?.rules.push(JSON.stringify(item.rule.expr ?? []));
    }
  }
  return table;
}

/** what of our structure the kernel no longer holds (sets, chains, the rule of each set) */
function missingStructure(table: NftTable, sets: readonly string[], docker: boolean): string[] {
  const lost: string[] = [];
  for (const set of sets) if (!table.sets.has(set)) lost.push(`set ${set}`);
  for (const [name, hook] of docker
    ? [
        ['input', 'input'],
        ['forward', 'forward'],
      ]
    : [['input', 'input']]) {
    const chain = table.chains.get(name!);
    if (!chain || chain.hook !== hook) {
      lost.push(`chain ${name}`);
      continue;
    }
    for (const set of sets) if (!chain.rules.some((r) => r.includes(`"@${set}"`))) lost.push(`rule for @${set} in ${name}`);
  }
  return lost;
}
