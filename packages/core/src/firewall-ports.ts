import type { PortcullisConfig } from './config/schema.js';
import { PRESETS, type RuleFields } from './presets.js';

/**
 * The ports a ban's firewall rule closes, by jail, as fail2ban's `port =` of
 * each jail: the jail's own `ports` (its preset's: `sshd` → 22) when it has
 * some, else `firewall.ports`. An empty list means every port. Hand bans
 * ("manual") and jails the config no longer names get `firewall.ports`.
 *
 * An sshd ban closes 22, a login ban the web ports; an address banned in both
 * jails gets both rules, each ending at its own jail's until.
 */
export class JailPorts {
  private readonly byJail = new Map<string, readonly number[]>();
  private readonly fallback: readonly number[];
  private readonly covering = new Map<string, string[]>();

  constructor(config: Pick<PortcullisConfig, 'firewall' | 'jails'>) {
    this.fallback = sortedPorts(config.firewall.ports);
    for (const [name, jail] of Object.entries(config.jails)) {
      // a disabled jail's bans may outlive its switch-off: they keep its ports
      const preset: RuleFields | undefined = jail.preset ? PRESETS[jail.preset as keyof typeof PRESETS] : undefined;
      const own = jail.ports ?? preset?.ports;
      this.byJail.set(name, own ? sortedPorts(own) : this.fallback);
    }
  }

  /** sorted, without duplicates; [] = every port */
  of(jail: string): readonly number[] {
    return this.byJail.get(jail) ?? this.fallback;
  }

  /**
   * the jail's ports when they differ from `firewall.ports`, else undefined:
   * the sidecar's rules name only the ports that are not the default
   */
  ownPorts(jail: string): readonly number[] | undefined {
    const ports = this.of(jail);
    return portsKey(ports) === portsKey(this.fallback) ? undefined : ports;
  }

  /** `firewall.ports`: the shape of hand bans and of jails without ports of their own */
  get defaults(): readonly number[] {
    return this.fallback;
  }

  /**
   * The jails (configured ones and "manual") whose ban already closes every
   * port `jail` protects: a failure in `jail` of an address banned in one of
   * them cannot reach its service, so it is not counted again. A ban in any
   * other jail leaves `jail`'s ports open, and its failures count.
   */
  coveredBy(jail: string): readonly string[] {
    let names = this.covering.get(jail);
    if (!names) {
      const inner = this.of(jail);
      names = ['manual', ...this.byJail.keys()].filter((name) => name === jail || portsCover(this.of(name), inner));
      if (!names.includes(jail)) names.push(jail);
      this.covering.set(jail, names);
    }
    return names;
  }

  /** every distinct port list a ban can get under this config ([] = every port), firewall.ports first */
  shapes(): Array<readonly number[]> {
    const seen = new Map<string, readonly number[]>([[portsKey(this.fallback), this.fallback]]);
    for (const ports of this.byJail.values()) seen.set(portsKey(ports), ports);
    return [...seen.values()];
  }
}

/** does a rule closing `outer` close every port of `inner`? ([] = every port) */
export function portsCover(outer: readonly number[], inner: readonly number[]): boolean {
  if (outer.length === 0) return true;
  if (inner.length === 0) return false;
  const set = new Set(outer);
  return inner.every((p) => set.has(p));
}

/** `80,443`, or `*` for every port: one port list as a map key */
export function portsKey(ports: readonly number[]): string {
  return ports.length === 0 ? '*' : ports.join(',');
}

/** sorted ascending, duplicates dropped */
export function sortedPorts(ports: readonly number[]): number[] {
  return [...new Set(ports)].sort((a, b) => a - b);
}
