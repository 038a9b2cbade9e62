import { PortcullisError, portsKey } from '@portcullis/core';

/**
 * The firewall backend contract. A backend turns bans into kernel rules it
 * can later find again (by tag or by owning a whole table), so reconcile can
 * compare "what the firewall holds" with "what Redis says" and fix only the
 * difference.
 */

/**
 * One rule as the firewall sees it: an address and the ports its rule closes.
 * `ip` is canonical (core's normalizeCidr); `until` ms, -1 forever.
 *
 * `ports` (sorted; [] = every port) is set only when it differs from
 * `firewall.ports`, the shape of hand bans and of jails without ports of
 * their own: an sshd ban's rule closes [22], a login ban's leaves it unset.
 * An address banned in jails of two shapes has two rules, one per shape,
 * each until its own end; jails of one shape share a rule (until the later
 * end, `jail` naming the jail of that end).
 */
export interface Ban {
  ip: string;
  jail: string;
  until: number;
  ports?: readonly number[];
}

/** A rule (or set element) this program owns, as found in the firewall. */
export interface OwnedRule extends Ban {
  /**
   * false when the rule was written for another rule shape (action,
   * protocol, docker changed in the config since): reconcile replaces it.
   */
  current: boolean;
}

/** One rule's identity: its address, plus its ports when not firewall.ports (`203.0.113.7`, `203.0.113.7 22`). */
export function ruleKey(ban: Pick<Ban, 'ip' | 'ports'>): string {
  return ban.ports ? `${ban.ip} ${portsKey(ban.ports)}` : ban.ip;
}

/** One unit of work: every add and remove of one batch of events. */
export interface FirewallBatch {
  add: Ban[];
  remove: Ban[];
}

export interface FirewallHealth {
  /** the backend works (binary present, commands succeed) */
  ok: boolean;
  /** rules in place actually filter traffic (false e.g. when ufw is inactive) */
  enforcing: boolean;
  /** the kernel still holds our structure and rules (cheap to check); false: restore() */
  intact?: boolean;
  message: string;
}

export interface FirewallBackend {
  readonly name: 'ufw' | 'nftables' | 'dry-run';
  /**
   * true when the kernel removes a rule at its `until` by itself (nftables set
   * timeouts); otherwise the sidecar removes it with its expiry wheel.
   */
  readonly expiresItself: boolean;
  /**
   * most events worth reading per batch (ufw: each rule is one slow call, so
   * small batches get acked, logged and measured progressively)
   */
  readonly maxBatch?: number;
  /** prepares the firewall (tables, chains); idempotent, never flushes bans */
  init(): Promise<void>;
  /** is the backend usable, and are its rules enforced? */
  check(): Promise<FirewallHealth>;
  /** every rule this program owns, with its until */
  listOwned(): Promise<OwnedRule[]>;
  /**
   * Applies a batch. Idempotent: adding a rule that exists refreshes it,
   * removing a missing rule is not an error. Throws when the firewall does
   * not hold the result (the caller retries; events stay pending).
   * `owned` (what the caller knows is live, keyed by ruleKey) lets a backend
   * skip checks.
   */
  apply(batch: FirewallBatch, owned?: ReadonlyMap<string, OwnedRule>): Promise<void>;
  /** the commands a batch would run, for logs and the dry-run backend */
  describe(batch: FirewallBatch): string[];
  /** rebuilds our structure and re-applies every owned rule (after check() found it lost) */
  restore?(owned: ReadonlyMap<string, OwnedRule>): Promise<void>;
  /**
   * drops structure left empty by shapes no ban uses any more (nftables: the
   * sets and rules of ports a jail no longer has); reconcile calls it after
   * a pass, with what the firewall holds now
   */
  prune?(owned: ReadonlyMap<string, OwnedRule>): Promise<void>;
}

/** ISO form used in rule comments; "forever" for -1. */
export function untilText(until: number): string {
  return until === -1 ? 'forever' : new Date(until).toISOString();
}

/** A firewall command failed. `transient`: worth retrying as is (a lock held, a command missing for a moment); otherwise the same input will fail again. */
export class FirewallError extends PortcullisError {
  readonly transient: boolean;
  constructor(message: string, opts: { transient: boolean; cause?: unknown }) {
    super('ERR_PORTCULLIS_FIREWALL', message, { cause: opts.cause });
    this.transient = opts.transient;
  }
}
