import type { FirewallConfig, PortcullisConfig } from './config/schema.js';
import { resolveJails } from './jail.js';

/**
 * The firewall settings the sidecar applies. A ban is per address, not per
 * jail, so the rule closes `firewall.ports` plus every enabled jail's own
 * ports (the sshd jail's 22 with the guide's `ports: [80, 443]`): whichever
 * jail banned an address, what any jail protects is closed to it. Empty
 * `firewall.ports` already means every port.
 */
export function effectiveFirewall(config: PortcullisConfig): FirewallConfig {
  const fw = config.firewall;
  if (fw.ports.length === 0) return fw;
  const ports = new Set(fw.ports);
  for (const jail of resolveJails(config).values()) for (const p of jail.ports ?? []) ports.add(p);
  return ports.size === fw.ports.length ? fw : { ...fw, ports: [...ports].sort((a, b) => a - b) };
}
