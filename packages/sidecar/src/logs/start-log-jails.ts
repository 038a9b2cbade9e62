import { RedisBanStore, resolveJails, type PortcullisConfig, type RedisSetting } from '@portcullis/core';
import type { Logger } from 'pino';
import { LogJail } from './log-jail.js';

export interface LogJailsOptions {
  hostId: string;
  redis: RedisSetting;
  logger: Logger;
  /** default config.sidecar.stateDir */
  stateDir?: string;
  pollMs?: number;
  journalctl?: string;
}

export interface RunningLogJails {
  jails: LogJail[];
  stop(): Promise<void>;
}

/** Starts every enabled log-fed jail of the config (none: nothing runs, no Redis client). */
export async function startLogJails(config: PortcullisConfig, opts: LogJailsOptions): Promise<RunningLogJails> {
  const specs = [...resolveJails(config).values()].filter((j) => j.log !== null);
  if (specs.length === 0) return { jails: [], stop: async () => {} };
  // bans made here say which host saw the failures
  const store = new RedisBanStore({ config, redis: opts.redis, by: `sidecar@${opts.hostId}`, retry: true, commandTimeout: 5000 });
  void store.connect(60_000).catch(() => {});
  const jails = specs.map(
    (jail) =>
      new LogJail({
        jail,
        source: jail.log!.source,
        banLoggedIn: jail.log!.banLoggedIn,
        store,
        stateDir: opts.stateDir ?? config.sidecar.stateDir,
        logger: opts.logger,
        pollMs: opts.pollMs,
        journalctl: opts.journalctl,
      }),
  );
  await Promise.all(jails.map((j) => j.start()));
  return {
    jails,
    async stop() {
      await Promise.all(jails.map((j) => j.stop()));
      await store.close();
    },
  };
}
