import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizeCidr, type FirewallConfig } from '@portcullis/core';
import { CommandNotFoundError, type Runner } from '../exec.js';
import { untilText, type Ban, type FirewallBackend, type FirewallBatch, type FirewallHealth, type OwnedRule } from './firewall.js';

/** The tag every rule of ours carries in its ufw comment. */
export const UFW_TAG = 'portcullis';

/** The shape of one of our ufw rules (what identifies it to `ufw delete`). */
export interface UfwRuleSpec {
  route: boolean;
  action: 'deny' | 'reject';
  src: string;
  /** sorted port list, empty = every port */
  ports: number[];
  proto: 'tcp' | 'udp' | 'any';
}

/** `deny from <ip> [to any port <ports>] [proto <p>]`: the rule part shared by prepend and delete. */
export function ufwRuleWords(spec: UfwRuleSpec): string[] {
  const words: string[] = [spec.action, 'from', spec.src];
  if (spec.ports.length > 0 || spec.proto !== 'any') words.push('to', 'any');
  if (spec.ports.length > 0) words.push('port', spec.ports.join(','));
  if (spec.proto !== 'any') words.push('proto', spec.proto);
  return words;
}

export function ufwComment(ban: Ban): string {
  return `${UFW_TAG} ${ban.jail || 'manual'} until ${untilText(ban.until)}`;
}

/** argv for adding one rule: `ufw [route] prepend deny from … comment "portcullis <jail> until <iso>"` */
export function ufwAddArgs(spec: UfwRuleSpec, ban: Ban): string[] {
  return [...(spec.route ? ['route'] : []), 'prepend', ...ufwRuleWords(spec), 'comment', ufwComment(ban)];
}

/** argv for deleting one rule (the comment is not part of a rule's identity) */
export function ufwDeleteArgs(spec: UfwRuleSpec): string[] {
  return [...(spec.route ? ['route'] : []), 'delete', ...ufwRuleWords(spec)];
}

/** A rule of ours found in user.rules / user6.rules. */
export interface ParsedUfwRule extends Ban {
  spec: UfwRuleSpec;
}

function decodeHex(hex: string): string | null {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return null;
  return Buffer.from(hex, 'hex').toString('utf8');
}

/** Parses "portcullis <jail> until <iso|forever>"; null when not ours. */
export function parseUfwComment(comment: string): { jail: string; until: number } | null {
  const m = /^portcullis (\S+) until (\S+)$/.exec(comment);
  if (!m) return null;
  if (m[2] === 'forever') return { jail: m[1]!, until: -1 };
  const until = Date.parse(m[2]!);
  return Number.isFinite(until) ? { jail: m[1]!, until } : null;
}

/**
 * Reads ufw's own rule store (`/etc/ufw/user.rules`, `user6.rules`): each rule
 * has a line `### tuple ### <action> <proto> <dport> <dst> <sport> <src> <dir> comment=<hex>`
 * (route rules: `route:<action>`). Only rules whose comment carries our tag are returned.
 */
export function parseUfwUserRules(text: string): ParsedUfwRule[] {
  const out: ParsedUfwRule[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('### tuple ### ')) continue;
    const words = line.slice('### tuple ### '.length).trim().split(/\s+/);
    const commentWord = words.find((w) => w.startsWith('comment='));
    if (!commentWord) continue;
    const comment = decodeHex(commentWord.slice('comment='.length));
    const tag = comment === null ? null : parseUfwComment(comment);
    if (!tag) continue;
    const [actionWord, proto, dport, , , src] = words;
    if (!actionWord || !proto || !dport || !src) continue;
    const route = actionWord.startsWith('route:');
    const action = (route ? actionWord.slice(6) : actionWord).replace(/_log(-all)?$/, '');
    if (action !== 'deny' && action !== 'reject') continue;
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'any') continue;
    const cidr = normalizeCidr(src);
    if (!cidr) continue;
    const ports = dport === 'any' ? [] : dport.split(',').map(Number).filter((p) => Number.isInteger(p)).sort((a, b) => a - b);
    out.push({ ip: cidr.text, jail: tag.jail, until: tag.until, spec: { route, action, src: cidr.text, ports, proto } });
  }
  return out;
}

export interface UfwBackendOptions {
  firewall: FirewallConfig;
  /** runs ufw; MUST be serialised (ufw is not safe concurrently) */
  run: Runner;
  /** where ufw keeps user.rules / user6.rules (default /etc/ufw) */
  rulesDir?: string;
}

/**
 * ufw: one `ufw prepend` per rule (plus a `ufw route prepend` with docker),
 * tagged with a comment. ufw cannot batch and each call costs ~150 ms, so a
 * flood of bans is better served by the nftables backend.
 */
export class UfwBackend implements FirewallBackend {
  readonly name = 'ufw' as const;
  readonly expiresItself = false;
  readonly maxBatch = 50;
  private readonly fw: FirewallConfig;
  private readonly run: Runner;
  private readonly rulesDir: string;

  constructor(opts: UfwBackendOptions) {
    this.fw = opts.firewall;
    this.run = opts.run;
    this.rulesDir = opts.rulesDir ?? '/etc/ufw';
    if (this.fw.protocol === 'any' && this.fw.ports.length > 1) {
      throw new TypeError('firewall.protocol "any" with several ports is not possible with ufw: use "tcp" or "udp"');
    }
    if (this.fw.ports.length > 15) throw new TypeError('ufw accepts at most 15 ports per rule (firewall.ports)');
  }

  /** the rules one ban needs under the current config */
  specsFor(ip: string): UfwRuleSpec[] {
    const base = {
      action: this.fw.action,
      src: ip,
      ports: [...this.fw.ports].sort((a, b) => a - b),
      proto: this.fw.protocol,
    } as const;
    const specs: UfwRuleSpec[] = [{ ...base, route: false }];
    if (this.fw.docker) specs.push({ ...base, route: true });
    return specs;
  }

  private isCurrent(spec: UfwRuleSpec): boolean {
    return this.specsFor(spec.src).some((s) => sameSpec(s, spec));
  }

  async init(): Promise<void> {
    await this.check();
  }

  async check(): Promise<FirewallHealth> {
    try {
      const { stdout } = await this.run('ufw', ['status']);
      if (/^Status: inactive/m.test(stdout)) {
        return {
          ok: true,
          enforcing: false,
          message: 'ufw is INACTIVE: its rules do nothing, bans are NOT enforced (run `ufw enable`, or use firewall.backend: nftables)',
        };
      }
      return { ok: true, enforcing: true, message: 'ufw active' };
    } catch (err) {
      if (err instanceof CommandNotFoundError) {
        return { ok: false, enforcing: false, message: 'ufw is not installed (apt-get install ufw, or set firewall.backend: nftables)' };
      }
      return { ok: false, enforcing: false, message: (err as Error).message };
    }
  }

  async listRules(): Promise<ParsedUfwRule[]> {
    const out: ParsedUfwRule[] = [];
    for (const file of ['user.rules', 'user6.rules']) {
      let text: string;
      try {
        text = await readFile(join(this.rulesDir, file), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      out.push(...parseUfwUserRules(text));
    }
    return out;
  }

  async listOwned(): Promise<OwnedRule[]> {
    // one entry per address; a rule of an old shape makes the whole entry non-current
    const byIp = new Map<string, OwnedRule>();
    const rules = await this.listRules();
    const present = new Map<string, UfwRuleSpec[]>();
    for (const r of rules) {
      const list = present.get(r.ip) ?? [];
      list.push(r.spec);
      present.set(r.ip, list);
      const prev = byIp.get(r.ip);
      const current = this.isCurrent(r.spec) && (prev?.current ?? true);
      byIp.set(r.ip, { ip: r.ip, jail: r.jail, until: prev ? Math.min(prev.until === -1 ? Infinity : prev.until, r.until === -1 ? Infinity : r.until) : r.until, current });
    }
    for (const [ip, owned] of byIp) {
      if (owned.until === Infinity) owned.until = -1;
      // every rule the config wants must be there (e.g. docker turned on later)
      const have = present.get(ip) ?? [];
      if (!this.specsFor(ip).every((s) => have.some((h) => sameSpec(h, s)))) owned.current = false;
    }
    return [...byIp.values()];
  }

  describe(batch: FirewallBatch): string[] {
    const lines: string[] = [];
    for (const b of batch.remove) for (const s of this.specsFor(b.ip)) lines.push(shellLine(['ufw', ...ufwDeleteArgs(s)]));
    for (const b of batch.add) for (const s of this.specsFor(b.ip)) lines.push(shellLine(['ufw', ...ufwAddArgs(s, b)]));
    return lines;
  }

  async apply(batch: FirewallBatch): Promise<void> {
    // ufw's own files are the truth (cheap to read): no rule added twice, none deleted blindly
    const rules = await this.listRules();
    const byIp = new Map<string, ParsedUfwRule[]>();
    for (const r of rules) byIp.set(r.ip, [...(byIp.get(r.ip) ?? []), r]);
    const existing = (ip: string) => byIp.get(ip) ?? [];
    for (const ban of batch.remove) {
      for (const r of existing(ban.ip)) await this.run('ufw', ufwDeleteArgs(r.spec));
    }
    for (const ban of batch.add) {
      const have = existing(ban.ip);
      const comment = ufwComment(ban);
      for (const r of have) {
        // a rule of another shape, or one whose comment says another until: replace it
        if (!this.isCurrent(r.spec) || ufwComment(r) !== comment) await this.run('ufw', ufwDeleteArgs(r.spec));
      }
      for (const spec of this.specsFor(ban.ip)) {
        const same = have.find((r) => sameSpec(r.spec, spec) && ufwComment(r) === comment);
        if (!same) await this.run('ufw', ufwAddArgs(spec, ban));
      }
    }
  }
}

function sameSpec(a: UfwRuleSpec, b: UfwRuleSpec): boolean {
  return (
    a.route === b.route &&
    a.action === b.action &&
    a.src === b.src &&
    a.proto === b.proto &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i])
  );
}

/** for logs only: how the argv would look typed in a shell (commands never run through one) */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
