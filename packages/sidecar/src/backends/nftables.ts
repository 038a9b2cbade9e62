import type { FirewallConfig } from '@portcullis/core';
import { normalizeCidr } from '@portcullis/core';
import { CommandFailedError, CommandNotFoundError, type Runner } from '../exec.js';
import type { Ban, FirewallBackend, FirewallBatch, FirewallHealth, OwnedRule } from './firewall.js';

export interface NftBackendOptions {
  firewall: FirewallConfig;
  run: Runner;
  /** clock, for timeouts (tests) */
  now?: () => number;
}

/**
 * nftables: a table of our own (`inet <firewall.table>`) holding four sets and
 * an input chain (plus forward with docker) that drops or rejects their members:
 *
 *   v4, v6        single addresses   flags timeout            (hash: O(1) per add)
 *   v4net, v6net  CIDR ranges        flags interval, timeout  (ranges stay ranges)
 *
 * Why two kinds: nft 1.0.6 re-reads a whole interval set for every transaction
 * that touches it, so 100k addresses in one interval set cost ~67 s to load in
 * batches of 1000 (2 s per batch at 80k) against ~1.2 s for a plain timeout set
 * (measured on this machine). Ranges are rare and stay in the interval sets.
 * A batch of any size is ONE `nft -f -` transaction; the kernel expires
 * elements itself.
 */
export class NftablesBackend implements FirewallBackend {
  readonly name = 'nftables' as const;
  readonly expiresItself = true;
  private readonly fw: FirewallConfig;
  private readonly run: Runner;
  private readonly now: () => number;

  constructor(opts: NftBackendOptions) {
    this.fw = opts.firewall;
    this.run = opts.run;
    this.now = opts.now ?? Date.now;
  }

  get table(): string {
    return this.fw.table;
  }

  async init(): Promise<void> {
    try {
      await this.run('nft', ['-f', '-'], { input: nftSetupScript(this.fw) });
    } catch (err) {
      if (err instanceof CommandNotFoundError) throw new CommandNotFoundError('nft', 'apt-get install nftables, or choose another firewall.backend');
      throw err;
    }
  }

  async check(): Promise<FirewallHealth> {
    try {
      const { stdout } = await this.run('nft', ['-j', 'list', 'chain', 'inet', this.table, 'input']);
      const items = (JSON.parse(stdout) as { nftables?: Array<{ chain?: { hook?: string } }> }).nftables ?? [];
      if (!items.some((i) => i.chain?.hook === 'input')) return { ok: false, enforcing: false, message: `nft chain inet ${this.table} input has no input hook` };
      return { ok: true, enforcing: true, message: `nftables table inet ${this.table} in place` };
    } catch (err) {
      if (err instanceof CommandNotFoundError) return { ok: false, enforcing: false, message: 'nft is not installed (apt-get install nftables)' };
      return { ok: false, enforcing: false, message: (err as Error).message };
    }
  }

  async listOwned(): Promise<OwnedRule[]> {
    const out: OwnedRule[] = [];
    const now = this.now();
    for (const set of NFT_SETS) {
      const { stdout } = await this.run('nft', ['-j', 'list', 'set', 'inet', this.table, set]);
      out.push(...parseNftSetJson(stdout, now));
    }
    return out;
  }

  describe(batch: FirewallBatch): string[] {
    return [`nft -f - <<'EOF'\n${nftBatchScript(this.table, batch, this.now())}EOF`];
  }

  async apply(batch: FirewallBatch, owned?: ReadonlyMap<string, OwnedRule>): Promise<void> {
    if (batch.add.length === 0 && batch.remove.length === 0) return;
    const now = this.now();
    try {
      // fast path: trust what we know is live (a delete is only written for those)
      await this.run('nft', ['-f', '-'], { input: nftBatchScript(this.table, batch, now, owned) });
      return;
    } catch (err) {
      if (!(err instanceof CommandFailedError)) throw err;
    }
    try {
      // safe path: an element we thought live had expired (delete failed), or we knew nothing
      await this.run('nft', ['-f', '-'], { input: nftBatchScript(this.table, batch, now) });
      return;
    } catch (err) {
      // An interval set refuses overlapping ranges (a /16 ban and a /24 inside
      // it): the whole transaction fails. Retry element by element so one overlap
      // does not hold back the others; a range covered by a banned range is
      // enforced already, so it counts as applied. (Addresses live in their own
      // sets and never overlap a range.)
      if (!(err instanceof CommandFailedError) || !isOverlap(err)) throw err;
      if (batch.add.length + batch.remove.length === 1) return;
    }
    for (const ban of batch.remove) await this.applyOne({ add: [], remove: [ban] }, now);
    for (const ban of batch.add) await this.applyOne({ add: [ban], remove: [] }, now);
  }

  private async applyOne(batch: FirewallBatch, now: number): Promise<void> {
    try {
      await this.run('nft', ['-f', '-'], { input: nftBatchScript(this.table, batch, now) });
    } catch (err) {
      if (err instanceof CommandFailedError && isOverlap(err)) return;
      throw err;
    }
  }
}

function isOverlap(err: CommandFailedError): boolean {
  return /overlap|conflicting intervals|File exists/i.test(err.stderr);
}

/** `tcp dport { 80, 443 }` etc.: the port match of the filter rules */
function portMatch(fw: FirewallConfig): string {
  if (fw.ports.length === 0) return fw.protocol === 'any' ? '' : `meta l4proto ${fw.protocol} `;
  const ports = `{ ${[...fw.ports].sort((a, b) => a - b).join(', ')} }`;
  if (fw.protocol === 'any') return `meta l4proto { tcp, udp } th dport ${ports} `;
  return `${fw.protocol} dport ${ports} `;
}

/**
 * Creates the table, sets and chains if missing and rewrites the chain rules
 * (the config may have changed) WITHOUT touching set elements: a restart keeps
 * every ban in place.
 */
export function nftSetupScript(fw: FirewallConfig): string {
  const t = `inet ${fw.table}`;
  const verdict = fw.action === 'reject' ? 'reject' : 'drop';
  const match = portMatch(fw);
  const rules = (chain: string) =>
    NFT_SETS.map((set) => `add rule ${t} ${chain} ${set.startsWith('v4') ? 'ip' : 'ip6'} saddr @${set} ${match}counter ${verdict}`);
  const lines = [
    `add table ${t}`,
    `add set ${t} v4 { type ipv4_addr; flags timeout; }`,
    `add set ${t} v6 { type ipv6_addr; flags timeout; }`,
    `add set ${t} v4net { type ipv4_addr; flags interval, timeout; }`,
    `add set ${t} v6net { type ipv6_addr; flags interval, timeout; }`,
    `add chain ${t} input { type filter hook input priority filter - 10; policy accept; }`,
    `flush chain ${t} input`,
    ...rules('input'),
  ];
  // forward: Docker-published ports are DNATed and never pass input
  lines.push(`add chain ${t} forward { type filter hook forward priority filter - 10; policy accept; }`, `flush chain ${t} forward`);
  if (fw.docker) {
    lines.push(...rules('forward'));
  } else {
    lines.push(`delete chain ${t} forward`);
  }
  return `${lines.join('\n')}\n`;
}

function element(ban: Ban, now: number): string | null {
  if (ban.until === -1) return ban.ip;
  const ms = ban.until - now;
  if (ms <= 0) return null;
  return `${ban.ip} timeout ${Math.max(1, Math.ceil(ms))}ms`;
}

/**
 * One transaction for a whole batch. `add element` does not refresh the
 * timeout of a live element on every kernel, and `delete element` fails on a
 * missing one. With `live` (the addresses we know are in the set): new bans
 * are plain adds, live ones are deleted and re-added with the new timeout,
 * removals of live ones are plain deletes. Without it (or for addresses not
 * known live) every touched element is first added bare (so it exists), then
 * deleted, then (bans) added again. Either way it is one atomic commit: no
 * moment without the rule.
 */
export function nftBatchScript(table: string, batch: FirewallBatch, now: number, live?: { has(ip: string): boolean }): string {
  const t = `inet ${table}`;
  const lines: string[] = [];
  const stmt = (verb: 'add' | 'delete', set: string, els: string[]) => {
    for (const chunk of chunks(els)) lines.push(`${verb} element ${t} ${set} { ${chunk.join(', ')} }`);
  };
  for (const set of NFT_SETS) {
    const mine = (b: Ban) => nftSetFor(b.ip) === set;
    const adds = batch.add.filter(mine).map((b) => ({ ip: b.ip, el: element(b, now) }));
    const removes = batch.remove.filter(mine).map((b) => b.ip);
    const addIps = adds.map((a) => a.ip);
    const known = (ip: string) => live?.has(ip) ?? false;
    // state unknown: make it exist first, so the delete below cannot fail
    stmt('add', set, live ? removes.filter((ip) => !known(ip)) : [...removes, ...addIps]);
    stmt('delete', set, live ? [...removes, ...addIps.filter(known)] : [...removes, ...addIps]);
    stmt('add', set, adds.filter((a) => a.el !== null).map((a) => a.el!));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** our sets: addresses (hash) and ranges (interval), per family */
export const NFT_SETS = ['v4', 'v6', 'v4net', 'v6net'] as const;

/** which set holds an address or range */
export function nftSetFor(ip: string): (typeof NFT_SETS)[number] | null {
  const c = normalizeCidr(ip);
  if (!c) return null;
  const single = c.prefix === (c.kind === 'ipv4' ? 32 : 128);
  return `${c.kind === 'ipv4' ? 'v4' : 'v6'}${single ? '' : 'net'}` as (typeof NFT_SETS)[number];
}

function chunks<T>(list: T[], size = 1000): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

interface NftElem {
  val?: unknown;
  timeout?: number;
  expires?: number;
}

function elemText(val: unknown): string | null {
  if (typeof val === 'string') return val;
  if (val && typeof val === 'object' && 'prefix' in val) {
    const p = (val as { prefix: { addr: string; len: number } }).prefix;
    return `${p.addr}/${p.len}`;
  }
  return null;
}

/** Parses `nft -j list set inet <t> v4|v6`: elements with their remaining time. */
export function parseNftSetJson(json: string, now: number): OwnedRule[] {
  const data = JSON.parse(json) as { nftables?: Array<{ set?: { elem?: unknown[] } }> };
  const out: OwnedRule[] = [];
  for (const item of data.nftables ?? []) {
    for (const raw of item.set?.elem ?? []) {
      let val: unknown = raw;
      let expires: number | undefined;
      if (raw && typeof raw === 'object' && 'elem' in raw) {
        const e = (raw as { elem: NftElem }).elem;
        val = e.val;
        expires = e.expires ?? e.timeout;
      }
      const text = elemText(val);
      const cidr = text === null ? null : normalizeCidr(text);
      if (!cidr) continue;
      // nft -j reports whole seconds: until is known to ±1 s
      out.push({ ip: cidr.text, jail: '', until: expires === undefined ? -1 : now + expires * 1000, current: true });
    }
  }
  return out;
}
