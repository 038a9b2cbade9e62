import { jailName, Keys, type RedisBanStore, type JailConfig, type PortcullisConfig } from '@portcullis/core';

/**
 * The jails Redis knows: every {p}:stats:<jail> key (a jail that ever
 * counted a failure or a ban), whatever the local config lists. Another
 * gateway's config, a removed jail or hand bans ("manual") show up here.
 */
export async function jailsInRedis(store: RedisBanStore, prefix: string): Promise<string[]> {
  const head = new Keys(prefix).stats('');
  const names = new Set<string>();
  for (const server of servers(store.redis)) {
    for await (const batch of server.scanStream({ match: `${head}*`, count: 1000 })) {
      for (const key of batch as string[]) {
        const name = key.slice(head.length);
        // a key that is not a jail name (written by hand) is not shown
        if (jailName.safeParse(name).success) names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** one server's SCAN, as ioredis's Redis client offers it */
interface Scannable {
  scanStream(opts: { match: string; count: number }): AsyncIterable<unknown>;
}

/** SCAN runs per server: on a Redis Cluster, each master (the {p} keys sit on one of them). */
function servers(client: object): Scannable[] {
  const cluster = client as { nodes?: (role: 'master') => Scannable[] };
  return typeof cluster.nodes === 'function' ? cluster.nodes('master') : [client as Scannable];
}

/**
 * The config with the jails Redis knows added (as header-only jails: only
 * their names are used), so the store's status() reads them like the rest.
 */
export function withRedisJails(config: PortcullisConfig, names: string[]): PortcullisConfig {
  const jails: Record<string, JailConfig> = { ...config.jails };
  for (const name of names) jails[name] ??= { enabled: true };
  return { ...config, jails };
}
