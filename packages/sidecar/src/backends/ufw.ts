import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizeCidr, portsKey, sortedPorts, type FirewallConfig } from '@portcullis/core';
import { CommandFailedError, CommandNotFoundError, type Runner } from '../exec.js';
import type { Logger } from 'pino';
import { checkBan } from './ban-length.js';
import { DOCKER_CHAIN, DockerUserChain } from './docker-user.js';
import {
  FirewallError,
  ruleKey,
  untilText,
  type Ban,
  type FirewallBackend,
  type FirewallBatch,
  type FirewallHealth,
  type OwnedRule,
} from './firewall.js';

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
 * One line of ufw's own rule store (`/etc/ufw/user.rules`, `user6.rules`): each
 * rule has a line `### tuple ### <action> <proto> <dport> <dst> <sport> <src> <dir> comment=<hex>`
 * (route rules: `route:<action>`) followed by its iptables lines and a blank
 * line. Only rules whose comment carries our tag are returned.
 */
export function parseUfwTupleLine(line: string): ParsedUfwRule | null {
  if (!line.startsWith('### tuple ### ')) return null;
  const words = line.slice('### tuple ### '.length).trim().split(/\s+/);
  const commentWord = words.find((w) => w.startsWith('comment='));
  if (!commentWord) return null;
  const comment = decodeHex(commentWord.slice('comment='.length));
  const tag = comment === null ? null : parseUfwComment(comment);
  if (!tag) return null;
  const [actionWord, proto, dport, , , src] = words;
  if (!actionWord || !proto || !dport || !src) return null;
  const route = actionWord.startsWith('route:');
  const action = (route ? actionWord.slice(6) : actionWord).replace(/_log(-all)?$/, '');
  if (action !== 'deny' && action !== 'reject') return null;
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'any') return null;
  const cidr = normalizeCidr(src);
  if (!cidr) return null;
  const ports =
    dport === 'any'
      ? []
      : dport
          .split(',')
          .map(Number)
          .filter((p) => Number.isInteger(p))
          .sort((a, b) => a - b);
  return { ip: cidr.text, jail: tag.jail, until: tag.until, spec: { route, action, src: cidr.text, ports, proto } };
}

/** Our rules in the text of user.rules / user6.rules. */
export function parseUfwUserRules(text: string): ParsedUfwRule[] {
  return text
    .split('\n')
    .map(parseUfwTupleLine)
    .filter((r): r is ParsedUfwRule => r !== null);
}

/**
 * Edits the text of user.rules / user6.rules: for each rule of ours `decide`
 * says null (drop the rule: its tuple line, iptables lines and blank line),
 * the comment it gets, or undefined (left as it is). Everything else (other people's rules, ufw's headers)
 * is left byte for byte.
 */
export function editUfwUserRules(text: string, decide: (rule: ParsedUfwRule) => string | null | undefined): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const rule = parseUfwTupleLine(line);
    if (!rule) {
      out.push(line);
      continue;
    }
    const comment = decide(rule);
    if (comment === undefined) {
      out.push(line);
      continue;
    }
    if (comment === null) {
      while (i + 1 < lines.length && lines[i + 1] !== '' && !lines[i + 1]!.startsWith('###')) i++;
      if (lines[i + 1] === '') i++;
      continue;
    }
    out.push(line.replace(/comment=[0-9a-fA-F]*/, `comment=${Buffer.from(comment, 'utf8').toString('hex')}`));
  }
  return out.join('\n');
}

export interface UfwBackendOptions {
  firewall: FirewallConfig;
  /** runs ufw; MUST be serialised (ufw is not safe concurrently) */
  run: Runner;
  /** where ufw keeps user.rules / user6.rules (default /etc/ufw) */
  rulesDir?: string;
  logger?: Logger;
  /** every port list a jail's ban can get (JailPorts.shapes): checked at construction */
  shapes?: ReadonlyArray<readonly number[]>;
}

/**
 * ufw: rules tagged with a comment, kept in ufw's own store (user.rules,
 * user6.rules) so `ufw status` shows them and ufw reloads them at boot.
 *
 * Adding goes through `ufw prepend` (ufw renders its iptables lines, and
 * nobody should re-implement that). Everything else is one edit of ufw's rule
 * files plus one `iptables-restore -n` / `ip6tables-restore -n` of them per
 * batch, the way ufw itself loads user rules (the declared user chains are
 * flushed and refilled in one atomic commit):
 *   - lifting: each `ufw delete` costs ~150 ms and more as the ruleset grows
 *     (20 bans ending together were lifted 15.8 s late); the file edit lifts
 *     any number at once in a few ms.
 *   - a re-ban (increment, a second jail) only changes the until in the
 *     rule's comment, which lives in user.rules and not in the kernel: the
 *     kernel rule is never touched, so no gap opens. A rule of an old shape
 *     (ports changed in the config) is replaced by adding the new one first.
 * The files are replaced atomically (rename). ufw's own lock is a POSIX lock
 * Node cannot take: an administrator's ufw command racing the sidecar's edit
 * by milliseconds could lose one of the two writes (reconcile re-adds ours).
 */
export class UfwBackend implements FirewallBackend {
  readonly name = 'ufw' as const;
  readonly expiresItself = false;
  readonly maxBatch = 50;
  private readonly fw: FirewallConfig;
  private readonly run: Runner;
  private readonly rulesDir: string;
  private installed = false;
  /** with docker: our bans in DOCKER-USER too (see docker-user.ts) */
  private readonly docker: DockerUserChain | null;
  private readonly log?: Logger;

  constructor(opts: UfwBackendOptions) {
    this.fw = opts.firewall;
    this.run = opts.run;
    this.rulesDir = opts.rulesDir ?? '/etc/ufw';
    this.log = opts.logger;
    this.docker = this.fw.docker ? new DockerUserChain(this.fw, this.run) : null;
    for (const [ports, field] of [
      [this.fw.ports, 'firewall.ports'],
      ...(opts.shapes ?? []).map((p) => [p, "a jail's ports"] as const),
    ] as const) {
      const problem = this.portsProblem(ports, field);
      if (problem) throw new TypeError(problem);
    }
  }

  /** why ufw cannot write one rule closing `ports`, or null */
  private portsProblem(ports: readonly number[], field: string): string | null {
    if (this.fw.protocol === 'any' && ports.length > 1) {
      return `firewall.protocol "any" with several ports (${field}: ${ports.join(', ')}) is not possible with ufw: use "tcp" or "udp"`;
    }
    if (ports.length > 15) return `ufw accepts at most 15 ports per rule (${field}: ${ports.length})`;
    return null;
  }

  /** the rules one ban needs under the current config: its ports (firewall.ports unless it says), input and with docker route */
  specsFor(ban: string | Pick<Ban, 'ip' | 'ports'>): UfwRuleSpec[] {
    const { ip, ports } = typeof ban === 'string' ? { ip: ban, ports: undefined } : ban;
    const base = {
      action: this.fw.action,
      src: ip,
      ports: sortedPorts(ports ?? this.fw.ports),
      proto: this.fw.protocol,
    } as const;
    const specs: UfwRuleSpec[] = [{ ...base, route: false }];
    if (this.fw.docker) specs.push({ ...base, route: true });
    return specs;
  }

  /** written the way the config writes rules now (action, protocol, input/route), whatever its ports */
  private isCurrent(spec: UfwRuleSpec): boolean {
    return this.specsFor({ ip: spec.src, ports: spec.ports }).some((s) => sameSpec(s, spec));
  }

  /** the ban a rule belongs to: its address, and its ports unless they are firewall.ports */
  private keyOf(spec: UfwRuleSpec): string {
    return ruleKey({ ip: spec.src, ports: this.portsOf(spec) });
  }

  private portsOf(spec: Pick<UfwRuleSpec, 'ports'>): readonly number[] | undefined {
    return portsKey(spec.ports) === portsKey(sortedPorts(this.fw.ports)) ? undefined : spec.ports;
  }

  /** a ban's rule key, its ports read as the rules files will show them */
  private banKey(ban: Pick<Ban, 'ip' | 'ports'>): string {
    return ruleKey({ ip: ban.ip, ports: ban.ports ? this.portsOf({ ports: sortedPorts(ban.ports) }) : undefined });
  }

  async init(): Promise<void> {
    await this.check();
    if (this.docker) {
      await this.syncDocker();
      this.log?.info(
        { backend: 'ufw', chain: DOCKER_CHAIN },
        `docker: bans also go to DOCKER-USER (chain ${DOCKER_CHAIN}), where Docker-published ports are filtered before Docker's own ACCEPT rules`,
      );
    }
  }

  /** our chain in DOCKER-USER holds exactly the bans ufw's files hold */
  private async syncDocker(): Promise<void> {
    if (this.docker) await this.docker.sync(await this.bannedRules());
  }

  /** (address, ports) of every input rule of ours */
  private async bannedRules(): Promise<Array<{ ip: string; ports: readonly number[] }>> {
    const out = new Map<string, { ip: string; ports: readonly number[] }>();
    for (const r of await this.listRules())
      if (!r.spec.route) out.set(`${r.ip} ${portsKey(r.spec.ports)}`, { ip: r.ip, ports: r.spec.ports });
    return [...out.values()];
  }

  /**
   * Cheap after the first call (which runs `ufw status` to know ufw is there):
   * ufw.conf says whether ufw is enabled, and `iptables -S` / `ip6tables -S` of
   * the user chains must hold as many rules as user.rules / user6.rules list
   * (a flushed chain or table holds fewer).
   */
  async check(): Promise<FirewallHealth> {
    try {
      if (!this.installed) {
        await this.run('ufw', ['status']);
        this.installed = true;
      }
      if (!(await this.enabled())) {
        return {
          ok: true,
          enforcing: false,
          intact: true,
          message: 'ufw is INACTIVE: its rules do nothing, bans are NOT enforced (run `ufw enable`, or use firewall.backend: nftables)',
        };
      }
      const lost = await this.lostChains();
      if (this.docker) lost.push(...(await this.docker.lost(await this.bannedRules())));
      if (lost.length > 0)
        return {
          ok: true,
          enforcing: false,
          intact: false,
          message: `ufw's kernel chains lost rules user.rules holds: ${lost.join(', ')}`,
        };
      return { ok: true, enforcing: true, intact: true, message: 'ufw active' };
    } catch (err) {
      if (err instanceof CommandNotFoundError) {
        return {
          ok: false,
          enforcing: false,
          intact: false,
          message: 'ufw is not installed (apt-get install ufw, or set firewall.backend: nftables)',
        };
      }
      return { ok: false, enforcing: false, intact: false, message: (err as Error).message };
    }
  }

  /** `ufw reload` rebuilds every ufw chain from its files; bans the files lack are added again */
  async restore(owned: ReadonlyMap<string, OwnedRule>): Promise<void> {
    try {
      await this.run('ufw', ['reload']);
      const have = new Set((await this.listOwned()).filter((o) => o.current).map((o) => ruleKey(o)));
      const now = Date.now();
      const missing = [...owned.values()].filter((o) => !have.has(this.banKey(o)) && (o.until === -1 || o.until > now));
      if (missing.length > 0) await this.apply({ add: missing, remove: [] });
      await this.syncDocker();
    } catch (err) {
      throw ufwError(err);
    }
  }

  async listRules(): Promise<ParsedUfwRule[]> {
    const out: ParsedUfwRule[] = [];
    for (const file of RULE_FILES) {
      const text = await this.readRules(file);
      if (text !== null) out.push(...parseUfwUserRules(text));
    }
    return out;
  }

  async listOwned(): Promise<OwnedRule[]> {
    // one entry per (address, ports): its input rule and, with docker, its route rule; a rule
    // written for an old action or protocol makes the whole entry non-current
    const byKey = new Map<string, OwnedRule>();
    const present = new Map<string, UfwRuleSpec[]>();
    for (const r of await this.listRules()) {
      const key = this.keyOf(r.spec);
      const list = present.get(key) ?? [];
      list.push(r.spec);
      present.set(key, list);
      const prev = byKey.get(key);
      const current = this.isCurrent(r.spec) && (prev?.current ?? true);
      const ports = this.portsOf(r.spec);
      byKey.set(key, {
        ip: r.ip,
        jail: r.jail,
        ...(ports ? { ports } : {}),
        until: prev ? Math.min(prev.until === -1 ? Infinity : prev.until, r.until === -1 ? Infinity : r.until) : r.until,
        current,
      });
    }
    for (const [key, owned] of byKey) {
      if (owned.until === Infinity) owned.until = -1;
      // every rule the config wants must be there (e.g. docker turned on later)
      const have = present.get(key) ?? [];
      if (!this.specsFor(owned).every((s) => have.some((h) => sameSpec(h, s)))) owned.current = false;
    }
    return [...byKey.values()];
  }

  describe(batch: FirewallBatch): string[] {
    const lines: string[] = [];
    for (const b of batch.remove) for (const s of this.specsFor(b)) lines.push(shellLine(['ufw', ...ufwDeleteArgs(s)]));
    for (const b of batch.add) for (const s of this.specsFor(b)) lines.push(shellLine(['ufw', ...ufwAddArgs(s, b)]));
    return lines;
  }

  async apply(batch: FirewallBatch): Promise<void> {
    const now = Date.now();
    for (const b of batch.add) {
      checkBan(b, now);
      const problem = b.ports ? this.portsProblem(b.ports, `jail ${b.jail}`) : null;
      if (problem) throw new FirewallError(`ban of ${b.ip}: ${problem}`, { transient: false });
    }
    try {
      // ufw's own files are the truth (cheap to read): no rule added twice
      const byKey = new Map<string, ParsedUfwRule[]>();
      for (const r of await this.listRules()) {
        const key = this.keyOf(r.spec);
        byKey.set(key, [...(byKey.get(key) ?? []), r]);
      }
      for (const ban of batch.add) {
        const have = byKey.get(this.banKey(ban)) ?? [];
        for (const spec of this.specsFor(ban)) {
          if (!have.some((r) => sameSpec(r.spec, spec))) await this.run('ufw', ufwAddArgs(spec, ban));
        }
      }
      // then one edit: lifted rules and rules of an old shape out, every re-ban's until written.
      // A rule is its (address, ports): lifting an address's login-jail rule leaves its sshd rule.
      const comments = new Map(batch.add.map((b) => [this.banKey(b), ufwComment(b)]));
      const lifted = new Set(batch.remove.map((b) => this.banKey(b)).filter((k) => !comments.has(k)));
      await this.editRules((r) => {
        const key = this.keyOf(r.spec);
        if (lifted.has(key)) return null;
        const comment = comments.get(key);
        if (comment === undefined) return undefined;
        return this.isCurrent(r.spec) ? comment : null;
      });
      await this.syncDocker();
    } catch (err) {
      throw ufwError(err);
    }
  }

  private async readRules(file: string): Promise<string | null> {
    try {
      return await readFile(join(this.rulesDir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** rewrites each rule file that changes and loads it into the kernel (when ufw is enabled) */
  private async editRules(decide: (rule: ParsedUfwRule) => string | null | undefined): Promise<void> {
    const enabled = await this.enabled();
    for (const file of RULE_FILES) {
      const text = await this.readRules(file);
      if (text === null) continue;
      const edited = editUfwUserRules(text, decide);
      if (edited === text) continue;
      // kernel first, then the file: a crash between leaves the file saying "banned" and the
      // sidecar lifts it again, never a kernel rule no file knows about
      if (enabled && !sameKernelRules(text, edited)) {
        await this.run(file === 'user.rules' ? 'iptables-restore' : 'ip6tables-restore', ['-w', '-n'], { input: edited });
      }
      const path = join(this.rulesDir, file);
      const tmp = `${path}.portcullis.tmp`;
      const { mode } = await stat(path);
      await writeFile(tmp, edited, { mode });
      await rename(tmp, path);
    }
  }

  private async enabled(): Promise<boolean> {
    const conf = await readFile(join(this.rulesDir, 'ufw.conf'), 'utf8').catch(() => '');
    return /^\s*ENABLED\s*=\s*yes\s*$/im.test(conf);
  }

  /** user chains whose kernel copy does not hold as many rules as ufw's file lists */
  private async lostChains(): Promise<string[]> {
    const lost: string[] = [];
    for (const [file, cmd, chains] of [
      ['user.rules', 'iptables', ['ufw-user-input', 'ufw-user-forward']],
      ['user6.rules', 'ip6tables', ['ufw6-user-input', 'ufw6-user-forward']],
    ] as const) {
      const text = await this.readRules(file);
      if (text === null) continue;
      for (const chain of chains) {
        const want = text.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
        let have = -1;
        try {
          const { stdout } = await this.run(cmd, ['-w', '-S', chain]);
          have = stdout.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
        } catch (err) {
          if (!(err instanceof CommandFailedError)) throw err;
        }
        // fewer: flushed under us; more: a rule the files no longer hold (ufw reload fixes both)
        if (have !== want && !(want === 0 && have < 0))
          lost.push(`${chain} (${have < 0 ? 'missing' : `${have} rules, user rules hold ${want}`})`);
      }
    }
    return lost;
  }
}

const RULE_FILES = ['user.rules', 'user6.rules'] as const;

/** do two versions of a rule file differ only in their tuple lines (where comments live)? */
function sameKernelRules(a: string, b: string): boolean {
  const rules = (t: string) =>
    t
      .split('\n')
      .filter((l) => !l.startsWith('### tuple ###'))
      .join('\n');
  return rules(a) === rules(b);
}

/**
 * What a failed ufw / iptables call deserves: a lock held or a timeout passes;
 * a rule ufw calls bad will be bad again; anything else is passed on as is.
 */
function ufwError(err: unknown): unknown {
  if (!(err instanceof CommandFailedError)) return err;
  if (/lock|Resource temporarily unavailable|timed out|Another app/i.test(err.stderr))
    return new FirewallError(err.message, { transient: true, cause: err });
  if (/ERROR: (Bad|Invalid|Wrong|Unsupported)/i.test(err.stderr)) return new FirewallError(err.message, { transient: false, cause: err });
  return err;
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
