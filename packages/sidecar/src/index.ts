// The public API of @portcullis/sidecar, by name: the daemon for programmatic
// use (the `portcullis-sidecar` bin is the usual way), its firewall backends
// and the command runner they go through. Anything else is internal; the
// package's own tests import it from its module.

// the daemon
export { startSidecar, Sidecar, type SidecarOptions } from './sidecar.js';
export type { HealthReport } from './health.js';
export type { SidecarMetrics } from './metrics.js';
export { HostIdInUseError } from './host-lock.js';

// firewall backends: the contract, the three kinds, the factory the config names
export {
  createBackend,
  type BackendOptions,
  type FirewallBackend,
  type FirewallBatch,
  type FirewallHealth,
  type Ban,
  type OwnedRule,
  FirewallError,
  UfwBackend,
  type UfwBackendOptions,
  NftablesBackend,
  type NftBackendOptions,
  DryRunBackend,
} from './backends/index.js';
// the one writer of a firewall: its queue, the rules it holds and their expiry (the example's embedded banner)
export { Applier, type ApplierOptions } from './applier.js';

// every firewall, ss and conntrack command goes through a Runner (argument arrays, never a shell)
export { runCommand, CommandFailedError, CommandNotFoundError, type Runner, type RunOptions, type RunResult } from './exec.js';
