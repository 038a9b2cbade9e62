import type { FirewallConfig } from '@portcullis/core';
import type { Logger } from 'pino';
import { runCommand, serialized, type Runner } from '../exec.js';
import { DryRunBackend } from './dry-run.js';
import type { FirewallBackend } from './firewall.js';
import { NftablesBackend } from './nftables.js';
import { UfwBackend } from './ufw.js';

export * from './firewall.js';
export * from './ban-length.js';
export * from './docker-user.js';
export * from './ufw.js';
export * from './nftables.js';
export * from './dry-run.js';

export interface BackendOptions {
  /** command runner (default: execa); it is serialised here */
  run?: Runner;
  logger?: Logger;
  /** ufw's rule files (default /etc/ufw) */
  ufwRulesDir?: string;
  /** every port list a jail's ban can get (JailPorts.shapes): ufw checks it can write them, nftables prunes the others */
  shapes?: ReadonlyArray<readonly number[]>;
}

/** The backend named by `firewall.backend`. Every firewall command goes through one serialised runner. */
export function createBackend(firewall: FirewallConfig, opts: BackendOptions = {}): FirewallBackend {
  const run = serialized(opts.run ?? runCommand);
  switch (firewall.backend) {
    case 'ufw':
      return new UfwBackend({ firewall, run, rulesDir: opts.ufwRulesDir, logger: opts.logger, shapes: opts.shapes });
    case 'nftables':
      return new NftablesBackend({ firewall, run, shapes: opts.shapes });
    case 'dry-run':
      return new DryRunBackend(firewall, opts.logger);
  }
}
