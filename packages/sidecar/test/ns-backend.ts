import { parseConfig, type FirewallConfig, type PortcullisConfigInput } from '@portcullis/core';
import { createBackend, netnsRunner, type FirewallBackend, type Runner } from '@portcullis/sidecar';
import type { TestNet } from '../../../test/helpers/netns.js';

/** the firewall config of a test (defaults of the schema plus `firewall`) */
export function firewallConfig(firewall: PortcullisConfigInput['firewall']): FirewallConfig {
  return parseConfig({ firewall }).firewall;
}

/** a runner whose commands act on the test's server namespace only */
export function nsRunner(net: TestNet): Runner {
  return netnsRunner(net.server, { etcUfw: net.etcUfw, libUfw: net.libUfw });
}

/** a real backend acting on the server namespace, initialised */
export async function nsBackend(net: TestNet, firewall: PortcullisConfigInput['firewall']): Promise<FirewallBackend> {
  const backend = createBackend(firewallConfig(firewall), { run: nsRunner(net), ufwRulesDir: net.etcUfw });
  await backend.init();
  return backend;
}
