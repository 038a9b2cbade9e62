import { isIP } from 'node:net';

/**
 * Where Redis is, in the forms the config, REDIS_URL and --redis accept:
 *
 *   redis://[user:pass@]host:6379[/db]            one server (rediss:// = TLS)
 *   redis+sentinel://[user:pass@]h1:26379,h2:26379/mymaster[/db][?sentinelPassword=…]
 *   redis+cluster://[user:pass@]h1:7000,h2:7001    startup nodes of a Cluster
 *   (rediss+sentinel://, rediss+cluster://: TLS)
 *
 * or an object: { mode, nodes | sentinels, name, username, password,
 * sentinelUsername, sentinelPassword, db, tls }.
 */
export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export interface RedisTls {
  servername?: string;
  rejectUnauthorized?: boolean;
  /** a PEM file of the CA(s) to trust, read when the client is created */
  caFile?: string;
}

/** One normalised form for the client factory: every field checked. */
export interface RedisTarget {
  mode: RedisMode;
  /** the server (standalone), the sentinels (sentinel) or startup nodes (cluster) */
  nodes: RedisNodeAddress[];
  /** sentinel: the master's name */
  name?: string;
  db: number;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls: false | RedisTls;
}

/** The object form of the `redis` setting (what portcullis.yml may hold). */
export interface RedisObjectSetting {
  mode: RedisMode;
  nodes?: Array<string | RedisNodeAddress>;
  sentinels?: Array<string | RedisNodeAddress>;
  name?: string;
  db?: number;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls?: boolean | RedisTls;
}

/** the `redis` setting: a URL or an object */
export type RedisSetting = string | RedisObjectSetting;

/** A malformed address or URL: the message says what is wrong, the schema adds the field's path. */
export class RedisTargetError extends Error {}

const DEFAULT_PORT: Record<RedisMode, number> = { standalone: 6379, sentinel: 26379, cluster: 6379 };
const SCHEMES: Record<string, { mode: RedisMode; tls: boolean }> = {
  'redis:': { mode: 'standalone', tls: false },
  'rediss:': { mode: 'standalone', tls: true },
  'redis+sentinel:': { mode: 'sentinel', tls: false },
  'rediss+sentinel:': { mode: 'sentinel', tls: true },
  'redis+cluster:': { mode: 'cluster', tls: false },
  'rediss+cluster:': { mode: 'cluster', tls: true },
};
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MASTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const URL_FORM = /^([a-z+]+:)\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/;

/** "host:port", "[v6]:port", "host" (default port) or { host, port } */
export function parseNodeAddress(value: string | RedisNodeAddress, defaultPort: number): RedisNodeAddress {
  if (typeof value !== 'string') return checkedNode(value.host, value.port);
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (v6) return checkedNode(v6[1]!, v6[2] === undefined ? defaultPort : Number(v6[2]));
  const m = /^([^:]+)(?::(\d*))?$/.exec(value);
  if (!m || m[2] === '') throw new RedisTargetError(`expected host:port, got ${JSON.stringify(value)}`);
  return checkedNode(m[1]!, m[2] === undefined ? defaultPort : Number(m[2]));
}

function checkedNode(host: string, port: number): RedisNodeAddress {
  if (typeof host !== 'string' || (!isIP(host) && !HOSTNAME.test(host))) {
    throw new RedisTargetError(`expected a host name or IP address, got ${JSON.stringify(host)}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RedisTargetError(`expected a port 1-65535, got ${JSON.stringify(port)}`);
  return { host, port };
}

function decode(part: string | undefined, what: string): string | undefined {
  if (part === undefined || part === '') return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RedisTargetError(`the ${what} is not valid percent-encoding`);
  }
}

/** A redis:// / rediss:// / redis+sentinel:// / redis+cluster:// URL as a target. */
export function parseRedisUrl(url: string): RedisTarget {
  const m = URL_FORM.exec(url.trim());
  const scheme = m ? SCHEMES[m[1]!] : undefined;
  if (!m || !scheme) {
    throw new RedisTargetError(
      'expected a redis://, rediss://, redis+sentinel://h1:26379,h2:26379/<master name> or redis+cluster://h1:7000,h2:7001 URL',
    );
  }
  const [, , userinfo, hostList, path = '', query = ''] = m;
  const { mode } = scheme;
  const nodes = hostList!.split(',').map((h) => parseNodeAddress(h, DEFAULT_PORT[mode]));
  if (mode === 'standalone' && nodes.length !== 1)
    throw new RedisTargetError('a redis:// URL names one server (use redis+sentinel:// or redis+cluster:// for several)');
  const [rawUser, rawPass] =
    userinfo === undefined
      ? []
      : userinfo.includes(':')
        ? [userinfo.slice(0, userinfo.indexOf(':')), userinfo.slice(userinfo.indexOf(':') + 1)]
        : [undefined, userinfo];
  const segments = path.split('/').filter(Boolean);
  let name: string | undefined;
  if (mode === 'sentinel') {
    name = decode(segments.shift(), 'master name');
    if (!name) throw new RedisTargetError('a redis+sentinel:// URL ends with the master name: redis+sentinel://h1:26379,h2:26379/mymaster');
  }
  const db = segments.length === 0 ? 0 : Number(segments[0]);
  if (segments.length > 1 || !Number.isInteger(db) || db < 0)
    throw new RedisTargetError(`unexpected path ${JSON.stringify(path)} (expected /<db number>)`);
  if (mode === 'cluster' && db !== 0) throw new RedisTargetError('a Redis Cluster has only database 0');
  const params = new URLSearchParams(query);
  for (const key of params.keys()) {
    if (key !== 'sentinelPassword' && key !== 'sentinelUsername')
      throw new RedisTargetError(`unknown URL parameter ${JSON.stringify(key)}`);
    if (mode !== 'sentinel') throw new RedisTargetError(`${key} applies to redis+sentinel:// URLs only`);
  }
  return checkTarget({
    mode,
    nodes,
    name,
    db,
    username: decode(rawUser, 'user name'),
    password: decode(rawPass, 'password'),
    sentinelUsername: params.get('sentinelUsername') ?? undefined,
    sentinelPassword: params.get('sentinelPassword') ?? undefined,
    tls: scheme.tls ? {} : false,
  });
}

/** Either form of the `redis` setting as one target. */
export function redisTarget(setting: RedisSetting): RedisTarget {
  if (typeof setting === 'string') return parseRedisUrl(setting);
  const { mode } = setting;
  const list = mode === 'sentinel' ? setting.sentinels : setting.nodes;
  const field = mode === 'sentinel' ? 'sentinels' : 'nodes';
  if (mode === 'sentinel' && setting.nodes) throw new RedisTargetError('mode sentinel takes "sentinels", not "nodes"');
  if (mode !== 'sentinel' && setting.sentinels) throw new RedisTargetError(`mode ${mode} takes "nodes", not "sentinels"`);
  if (!list || list.length === 0) throw new RedisTargetError(`mode ${mode} needs "${field}" (at least one host:port)`);
  if (mode === 'standalone' && list.length !== 1) throw new RedisTargetError('mode standalone takes exactly one node');
  if (mode !== 'sentinel' && setting.name !== undefined)
    throw new RedisTargetError('"name" (the master name) applies to mode sentinel only');
  if (mode !== 'sentinel' && (setting.sentinelPassword !== undefined || setting.sentinelUsername !== undefined)) {
    throw new RedisTargetError('sentinelUsername / sentinelPassword apply to mode sentinel only');
  }
  const nodes = list.map((n) => parseNodeAddress(n, DEFAULT_PORT[mode]));
  const tls = setting.tls === true ? {} : setting.tls === false || setting.tls === undefined ? false : setting.tls;
  return checkTarget({ ...setting, nodes, db: setting.db ?? 0, tls, mode });
}

function checkTarget(t: RedisTarget): RedisTarget {
  if (t.mode === 'sentinel' && (!t.name || !MASTER_NAME.test(t.name))) {
    throw new RedisTargetError(`mode sentinel needs "name", the master name the sentinels monitor (got ${JSON.stringify(t.name ?? '')})`);
  }
  if (t.mode === 'cluster' && t.db !== 0) throw new RedisTargetError('a Redis Cluster has only database 0');
  const out: RedisTarget = { mode: t.mode, nodes: t.nodes, db: t.db, tls: t.tls };
  for (const key of ['name', 'username', 'password', 'sentinelUsername', 'sentinelPassword'] as const) {
    if (t[key] !== undefined) out[key] = t[key];
  }
  return out;
}

/** The setting for logs and messages: mode and addresses, never a password. */
export function describeRedis(setting: RedisSetting): string {
  try {
    return describeTarget(redisTarget(setting));
  } catch {
    return 'redis (unparsable setting)';
  }
}

export function describeTarget(t: RedisTarget): string {
  const scheme = `${t.tls ? 'rediss' : 'redis'}${t.mode === 'standalone' ? '' : `+${t.mode}`}://`;
  const who = t.username ? `${t.username}:***@` : t.password ? '***@' : '';
  const hosts = t.nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  const path = [t.name, t.db ? String(t.db) : undefined].filter(Boolean).join('/');
  return `${scheme}${who}${hosts}${path ? `/${path}` : ''}`;
}
