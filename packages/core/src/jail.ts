import type { JailConfig, PortcullisConfig } from './config/schema.js';
import { IpSet } from './ip.js';
import { normalizePath } from './path.js';
import { PRESETS, type RuleFields } from './presets.js';
import { parseDuration } from './duration.js';
import { UnknownJailError } from './errors.js';

/** The parts of a response a jail rule looks at. */
export interface ResponseFacts {
  method: string;
  /** raw request URL (req.originalUrl); normalised only when needed */
  url: string;
  /** the decoded path the upstream resolves (canonicalTarget), when the gateway knows it */
  path?: string;
  status: number;
  header(name: string): unknown;
}

/** A configured jail, resolved: durations in ms, rule compiled. */
export interface Jail {
  readonly name: string;
  readonly bantime: number;
  readonly findtime: number;
  readonly maxretry: number;
  /** per-jail ignoreIp (the global list is checked separately) */
  readonly ignore: IpSet | null;
  /** false for jails that only count the X-Portcullis-Failure header */
  readonly hasRule: boolean;
  /** the response statuses the rule counts; null = any */
  readonly statuses: ReadonlySet<number> | null;
  /** IPv6 clients are counted and banned by their network of this many bits */
  readonly ipv6Prefix: number;
  /** the rule names a path: its attempts are budgeted when they arrive */
  readonly budgeted: boolean;
  matches(facts: ResponseFacts): boolean;
  /** before the response: could this request be counted (method and decoded path match; status unknown)? */
  mayCount(method: string, path: string): boolean;
  /** ports its bans' firewall rules close (instead of firewall.ports, see JailPorts); null = none of its own */
  readonly ports: readonly number[] | null;
  /**
   * a request-flood jail counts every request its paths take, whatever the
   * answer (the gateway counts locally, see FloodCounter); null for the rest
   */
  readonly flood: { flushAt: number; matchesRequest(method: string, path: string): boolean } | null;
  /** a log-fed jail (the sidecar reads it; the gateway never matches it); null for HTTP jails */
  readonly log: LogJailSpec | null;
}

/** Where a log-fed jail reads its lines, and how. */
export interface LogJailSpec {
  filter: 'sshd';
  source: { kind: 'file'; path: string } | { kind: 'journal'; units: string[]; file?: string };
  banLoggedIn: boolean;
}

const asList = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

interface CompiledRule {
  hasRule: boolean;
  statuses: Set<number> | null;
  budgeted: boolean;
  matches(f: ResponseFacts): boolean;
  mayCount(method: string, path: string): boolean;
}

function compileRule(rule: RuleFields, anyRequest = false): CompiledRule {
  const statuses = rule.statuses ? new Set(rule.statuses) : null;
  const methods = rule.methods ? new Set(rule.methods.map((m) => m.toUpperCase())) : null;
  const exact = asList(rule.path);
  const exactSet = exact ? new Set(exact) : null;
  const prefixes = asList(rule.pathPrefix) ?? null;
  const re = rule.pathRegex ? new RegExp(rule.pathRegex) : null;
  const exclude = rule.exclude && rule.exclude.length > 0 ? rule.exclude : null;
  const header = rule.responseHeader?.toLowerCase() ?? null;
  const hasRule = anyRequest || Boolean(statuses || exactSet || prefixes || re);
  const budgeted = Boolean(exactSet || prefixes || re);
  const pathMatches = (path: string): boolean => {
    if (exclude) for (const p of exclude) if (path.startsWith(p)) return false;
    if (exactSet && !exactSet.has(path)) return false;
    if (prefixes && !prefixes.some((p) => path.startsWith(p))) return false;
    if (re && !re.test(path)) return false;
    return true;
  };
  if (!hasRule) return { hasRule, statuses, budgeted, matches: () => false, mayCount: () => false };
  return {
    hasRule,
    statuses,
    budgeted,
    matches(f) {
      // cheapest tests first: most responses leave at the status check
      if (statuses && !statuses.has(f.status)) return false;
      if (methods && !methods.has(f.method)) return false;
      if (header && f.header(header) === undefined) return false;
      if (!exactSet && !prefixes && !re && !exclude) return true;
      return pathMatches(f.path ?? normalizePath(f.url));
    },
    mayCount(method, path) {
      return budgeted && (!methods || methods.has(method)) && pathMatches(path);
    },
  };
}

const PATH_FIELDS = ['path', 'pathPrefix', 'pathRegex'] as const;

export function resolveJail(name: string, jail: JailConfig, config: PortcullisConfig): Jail {
  const preset: RuleFields = jail.preset ? PRESETS[jail.preset as keyof typeof PRESETS] : {};
  // The jail's own rule fields replace the preset's; unset ones fall through.
  // The path fields go together: a jail's own path, pathPrefix or pathRegex
  // replaces every path field of the preset (never ANDed with them).
  const rule: RuleFields = { ...preset };
  if (PATH_FIELDS.some((key) => jail[key] !== undefined)) for (const key of PATH_FIELDS) delete rule[key];
  for (const key of ['methods', 'path', 'pathPrefix', 'pathRegex', 'statuses', 'responseHeader', 'exclude'] as const) {
    if (jail[key] !== undefined) (rule as Record<string, unknown>)[key] = jail[key];
  }
  // a flood jail never matches a response: it counts requests (statuses and headers play no part)
  const flood = preset.flood ? compileRule({ ...rule, statuses: undefined, responseHeader: undefined }, true) : null;
  const compiled: CompiledRule = flood
    ? { hasRule: false, statuses: null, budgeted: false, matches: () => false, mayCount: () => false }
    : compileRule(rule);
  const logpath = jail.logpath ?? preset.logpath;
  const log: LogJailSpec | null = preset.filter
    ? {
        filter: preset.filter,
        // journald when the jail says so, else the file (the preset's default path)
        source: jail.journal
          ? { kind: 'journal', units: jail.journal.units, ...(jail.journal.file ? { file: jail.journal.file } : {}) }
          : { kind: 'file', path: logpath ?? '/var/log/auth.log' },
        banLoggedIn: jail.banLoggedIn ?? false,
      }
    : null;
  return {
    name,
    bantime: jail.bantime ?? (preset.bantime !== undefined ? parseDuration(preset.bantime) : config.defaults.bantime),
    findtime: jail.findtime ?? (preset.findtime !== undefined ? parseDuration(preset.findtime) : config.defaults.findtime),
    maxretry: jail.maxretry ?? preset.maxretry ?? config.defaults.maxretry,
    ignore: jail.ignoreIp && jail.ignoreIp.length > 0 ? new IpSet(jail.ignoreIp) : null,
    hasRule: compiled.hasRule,
    statuses: compiled.statuses,
    ipv6Prefix: jail.ipv6Prefix ?? config.ipv6Prefix,
    budgeted: compiled.budgeted,
    matches: compiled.matches,
    mayCount: compiled.mayCount,
    ports: jail.ports ?? preset.ports ?? null,
    flood: flood
      ? {
          flushAt: jail.flushAt ?? Math.max(1, Math.floor((jail.maxretry ?? preset.maxretry ?? config.defaults.maxretry) / 10)),
          matchesRequest: (method, path) => flood.matches({ method, url: path, path, status: 0, header: () => undefined }),
        }
      : null,
    log,
  };
}

/** Hand bans outside any configured jail are recorded under this name. */
export const MANUAL_JAIL = 'manual';

/** Throws UnknownJailError unless `jail` is configured (or "manual"). */
export function assertKnownJail(config: PortcullisConfig, jail: string): void {
  if (jail !== MANUAL_JAIL && !(jail in config.jails)) throw new UnknownJailError(jail);
}

/** The enabled jails of a config, by name. */
export function resolveJails(config: PortcullisConfig): Map<string, Jail> {
  const jails = new Map<string, Jail>();
  for (const [name, jail] of Object.entries(config.jails)) {
    if (jail.enabled) jails.set(name, resolveJail(name, jail, config));
  }
  return jails;
}
