import { ConfigError, type PortcullisConfig, type RedisSetting } from '@portcullis/core';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AlertConsumer } from './alerts/alert-consumer.js';
import { startLogJails, type RunningLogJails } from './logs/start-log-jails.js';

export interface SideTaskOptions {
  hostId: string;
  redis: RedisSetting;
  logger: Logger;
  registry?: Registry;
  /** log follow interval (ms) */
  pollMs?: number;
}

/** What a sidecar runs beside its firewall loop, each on its own Redis connections. */
export interface SideTasks {
  logJails: RunningLogJails;
  alerts: AlertConsumer | null;
  stop(): Promise<void>;
}

/** Throws ConfigError when the alerts group would be this host's own firewall group. */
export function assertAlertsGroup(config: PortcullisConfig, hostId: string): void {
  if (config.alerts && config.alerts.group === hostId) {
    // the host's firewall group would be shared with the alerters: some bans would never reach its firewall
    throw new ConfigError([{ path: 'alerts.group', message: `must differ from the host id ${JSON.stringify(hostId)}` }]);
  }
}

/**
 * Starts this host's log jails (sshd) and, when `alerts` is configured, its
 * member of the alerts consumer group. Neither shares anything with the
 * firewall loop: a stuck mail server or a slow log never holds up a ban.
 */
export async function startSideTasks(config: PortcullisConfig, opts: SideTaskOptions): Promise<SideTasks> {
  assertAlertsGroup(config, opts.hostId);
  const alertsConfig = config.alerts?.enabled ? config.alerts : null;
  const logJails = await startLogJails(config, { hostId: opts.hostId, redis: opts.redis, logger: opts.logger, pollMs: opts.pollMs });
  let alerts: AlertConsumer | null = null;
  if (alertsConfig) {
    alerts = new AlertConsumer({
      config: alertsConfig,
      prefix: config.prefix,
      redis: opts.redis,
      consumer: opts.hostId,
      claimIdle: config.sidecar.claimIdle,
      logger: opts.logger,
      registry: opts.registry,
    });
    alerts.start();
  }
  return {
    logJails,
    alerts,
    async stop() {
      await Promise.all([logJails.stop(), alerts?.stop()]);
    },
  };
}
