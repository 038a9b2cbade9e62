import { z } from 'zod';
import safeRegex from 'safe-regex2';
import { FOREVER, formatDuration, parseDuration } from '../duration.js';
import { InvalidDurationError } from '../errors.js';
import { normalizeCidr } from '../ip.js';
import { PRESET_NAMES } from '../presets.js';
import { RedisTargetError, redisTarget, type RedisSetting } from '../redis-target.js';

/**
 * fail2ban duration forms → milliseconds (FOREVER = -1 where allowed), at
 * most MAX_DURATION_MS; `min` (ms) for lengths that must not be tiny.
 */
const duration = (opts: { forever?: boolean; zero?: boolean; min?: number } = {}) =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    if (opts.zero && (value === 0 || value === '0')) return 0;
    try {
      const ms = parseDuration(value);
      if (ms === FOREVER && !opts.forever) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: '-1 (forever) is not allowed here' });
        return z.NEVER;
      }
      if (ms !== FOREVER && opts.min !== undefined && ms < opts.min) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `at least ${formatDuration(opts.min)}, got ${JSON.stringify(value)}` });
        return z.NEVER;
      }
      return ms;
    } catch (err) {
      if (err instanceof InvalidDurationError && /out of range/.test(err.message)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message });
        return z.NEVER;
      }
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `expected a duration like 600, "10m", "1h", "1d", "1w"${opts.forever ? ' or -1 (forever)' : ''}, got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
  });

/** a ban or failure-window length: under a second is a typo (and 0 would mean forever) */
const SECOND = 1000;

const cidr = z.string().transform((value, ctx) => {
  const parsed = normalizeCidr(value.trim());
  if (parsed === null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected an IP address or CIDR, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return parsed.text;
});

/** Names end up in Redis keys and firewall comments: keep them plain. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const jailName = z.string().regex(NAME, 'expected letters, digits, "_", "." or "-" (at most 64)');

const pathString = z.string().startsWith('/', 'a path starts with "/"');
/**
 * A pattern matched against request paths, which attackers choose: nested
 * quantifiers such as ^/(a+)+$ backtrack exponentially, so they are refused
 * here (safe-regex2's star-height check), not found out at request time.
 */
const regex = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid regular expression: ${(err as Error).message}` });
    return;
  }
  if (!safeRegex(value)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `unsafe regular expression ${JSON.stringify(value)}: nested quantifiers can take exponential time on a crafted path; write it without a repeated group that itself repeats (e.g. ^/a+$ instead of ^/(a+)+$)`,
    });
  }
});
const httpStatus = z.number().int().min(100).max(599);
const maxretry = z.number().int('maxretry must be a whole number').min(1, 'maxretry must be at least 1');
/** an ignoreIp entry: a range that covers every address would switch banning off */
const ignoredRange = cidr.refine((text) => typeof text !== 'string' || !text.endsWith('/0'), {
  message: 'ignoring every address switches banning off; list the addresses to ignore',
});

export const jailSchema = z
  .object({
    preset: z
      .enum(PRESET_NAMES as [string, ...string[]], {
        errorMap: () => ({ message: `unknown preset; expected one of ${PRESET_NAMES.join(', ')}` }),
      })
      .optional(),
    enabled: z.boolean().default(true),
    bantime: duration({ forever: true, min: SECOND }).optional(),
    findtime: duration({ min: SECOND }).optional(),
    maxretry: maxretry.optional(),
    methods: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z]+$/, 'expected an HTTP method')
          .transform((m) => m.toUpperCase()),
      )
      .optional(),
    path: z.union([pathString, z.array(pathString).min(1)]).optional(),
    pathPrefix: z.union([pathString, z.array(pathString).min(1)]).optional(),
    pathRegex: regex.optional(),
    statuses: z.array(httpStatus).min(1).optional(),
    responseHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'expected a header name')
      .optional(),
    exclude: z.array(pathString).optional(),
    ignoreIp: z.array(ignoredRange).optional(),
    /** log-fed jails (sidecar): sshd's lines from a file it follows … */
    logpath: z.string().startsWith('/', 'expected an absolute path').optional(),
    /** … or from journald (units; `file` reads a journal file instead of the system journal) */
    journal: z
      .object({
        units: z
          .array(z.string().regex(/^[A-Za-z0-9@_.:-]+$/, 'expected a systemd unit name'))
          .min(1)
          .default(['ssh', 'sshd']),
        file: z.string().startsWith('/', 'expected an absolute path').optional(),
      })
      .strict()
      .optional(),
    /** count failures of an address that has an SSH session open right now (default false: never lock out a logged-in admin) */
    banLoggedIn: z.boolean().optional(),
    /** flood jails: an address's local count goes to Redis at this many (default maxretry / 10); bound: maxretry + gateways × (flushAt - 1) */
    flushAt: z.number().int().min(1).optional(),
    /** ports this jail protects: its bans' firewall rules close these instead of firewall.ports (JailPorts) */
    ports: z.array(z.number().int().min(1).max(65535)).min(1).optional(),
    ipv6Prefix: z.number().int().min(32).max(128).optional(),
  })
  .strict()
  .superRefine((jail, ctx) => {
    // log sources only mean something to a log-fed preset; silently ignoring them would hide a typo
    for (const field of ['logpath', 'journal', 'banLoggedIn'] as const) {
      if (jail[field] !== undefined && jail.preset !== 'sshd') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: `${field} belongs to a log-fed jail (preset: sshd)` });
      }
    }
    if (jail.flushAt !== undefined && jail.preset !== 'http.flood') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['flushAt'], message: 'flushAt belongs to a flood jail (preset: http.flood)' });
    }
  });

export const incrementSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** fail2ban's bantime.factor: bantime × 2^(bans so far) × factor */
    factor: z.number().positive().default(1),
    /** fail2ban's bantime.multipliers: used instead of the formula when set */
    multipliers: z.array(z.number().positive()).min(1).optional(),
    maxtime: duration({ min: SECOND }).default('1w'),
    rndtime: duration({ zero: true }).default(0),
    /** how long past its end a ban is remembered for the increment */
    memory: duration({ min: SECOND }).default('1w'),
  })
  .strict();

export const firewallSchema = z
  .object({
    backend: z.enum(['ufw', 'nftables', 'dry-run']).default('ufw'),
    /** ports to close to a banned address; empty = every port */
    ports: z.array(z.number().int().min(1).max(65535)).default([]),
    protocol: z.enum(['tcp', 'udp', 'any']).default('tcp'),
    action: z.enum(['deny', 'reject']).default('deny'),
    /** also cover Docker-published ports (FORWARD chain) */
    docker: z.boolean().default(false),
    /** nftables table name (family inet) */
    table: jailName.default('portcullis'),
    /** end established connections of a banned address */
    killConnections: z.boolean().default(true),
  })
  .strict();

export const gatewaySchema = z
  .object({
    /** a client error or server error: a 2xx/3xx answer would tell a banned client it got through */
    blockStatus: httpStatus.min(400, 'a block answers 4xx or 5xx (403 or 429), not a success or redirect').default(403),
    blockBody: z.string().default('Forbidden: too many failed attempts. Try again later.\n'),
    /** how often the local ban cache is reloaded from Redis (heals a missed message) */
    resyncInterval: duration({ min: SECOND }).default('30s'),
    /** a Redis command slower than this fails open */
    commandTimeout: z.number().int().positive().default(250),
    /** an attempt in flight holds its unit of the budget at most this long (keep it ≥ the proxy's timeout) */
    attemptTimeout: duration().default('30s'),
    /** login attempts sent by a browser on behalf of another site (Sec-Fetch-Site: cross-site): refused uncounted, or counted */
    crossSite: z.enum(['refuse', 'count']).default('refuse'),
  })
  .strict();

export const sidecarSchema = z
  .object({
    /** this host's consumer group on the events stream; default: the host name */
    hostId: jailName.optional(),
    healthHost: z.string().default('127.0.0.1'),
    healthPort: z.number().int().min(0).max(65535).default(9464),
    reconcileInterval: duration().default('1m'),
    /** pending events idle this long are reclaimed from a dead consumer */
    claimIdle: duration().default('30s'),
    batchSize: z.number().int().min(1).max(10000).default(5000),
    /** where log jails keep their file offsets and journal cursors */
    stateDir: z.string().startsWith('/', 'expected an absolute path').default('/var/lib/portcullis'),
    /** widest range one ban may cover; a wider one is parked, never applied */
    maxRangePrefix: z
      .object({ ipv4: z.number().int().min(0).max(32).default(8), ipv6: z.number().int().min(0).max(128).default(32) })
      .strict()
      .default({}),
    /** how often the firewall is checked (and restored when it lost our rules) */
    checkInterval: duration().default('5s'),
    /** /healthz fails when Redis has not answered for this long */
    unhealthyAfter: duration().default('5s'),
    /** a change that keeps failing for a reason not known to be transient is parked after this many attempts */
    maxAttempts: z.number().int().min(1).max(100).default(5),
    /** one live sidecar per host id: its lock expires this long after a crash */
    lockTtl: duration().default('15s'),
  })
  .strict();

const smtpUrl = z.string().regex(/^smtps?:\/\/\S+$/, 'expected an smtp:// or smtps:// URL (e.g. smtp://user:pass@mail.example.com:587)');

/** Ban alerts (fail2ban's action_mwl), sent by the sidecars' shared `alerts` consumer group. */
export const alertsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** consumer group on {p}:events: every sidecar with alerts on joins it, each ban goes to one of them */
    group: jailName.default('alerts'),
    /** failing requests kept per address and jail for the alert (0 = none); written by the gateway's failure script */
    recent: z.number().int().min(0).max(20).default(5),
    webhook: z
      .object({
        url: z
          .string()
          .url()
          .regex(/^https?:\/\//, 'expected an http:// or https:// URL'),
        /** json: Portcullis's own shape; slack: {"text": …} for a Slack (or Mattermost, Rocket.Chat) incoming webhook */
        format: z.enum(['json', 'slack']).default('json'),
        headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), z.string()).default({}),
        timeout: duration().default('5s'),
      })
      .strict()
      .optional(),
    email: z
      .object({
        smtp: smtpUrl,
        from: z.string().min(3),
        to: z.array(z.string().email()).min(1),
        subjectPrefix: z.string().default('[portcullis]'),
      })
      .strict()
      .optional(),
    /** more bans than `maxSingle` within `window`: the rest go out as one digest per window */
    digest: z
      .object({
        window: duration().default('1m'),
        maxSingle: z.number().int().min(0).default(5),
        /** bans listed one by one in a digest; the rest are counted per jail */
        listed: z.number().int().min(1).max(1000).default(50),
      })
      .strict()
      .default({}),
    /** a failed send is retried with exponential backoff, then given up (logged, counted) */
    retry: z
      .object({
        attempts: z.number().int().min(1).max(50).default(8),
        base: duration().default('1s'),
        max: duration().default('5m'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((a) => !a.enabled || a.webhook !== undefined || a.email !== undefined, {
    message: 'alerts need a channel: set alerts.webhook or alerts.email (or enabled: false)',
  });

const defaultsSchema = z
  .object({
    bantime: duration({ forever: true, min: SECOND }).default('1h'),
    findtime: duration({ min: SECOND }).default('10m'),
    maxretry: maxretry.default(5),
  })
  .strict();

const nodeAddress = z.union([z.string(), z.object({ host: z.string(), port: z.number().int() }).strict()]);

const redisObjectSchema = z
  .object({
    mode: z.enum(['standalone', 'sentinel', 'cluster']),
    nodes: z.array(nodeAddress).optional(),
    sentinels: z.array(nodeAddress).optional(),
    /** sentinel: the master name */
    name: z.string().optional(),
    db: z.number().int().min(0).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    sentinelUsername: z.string().optional(),
    sentinelPassword: z.string().optional(),
    tls: z
      .union([
        z.boolean(),
        z.object({ servername: z.string().optional(), rejectUnauthorized: z.boolean().optional(), caFile: z.string().optional() }).strict(),
      ])
      .optional(),
  })
  .strict();

/**
 * The redis setting: a URL or an object, both checked by the one parser
 * (redis-target.ts). Not a z.union: a union reports only "invalid input",
 * this names the bad field (redis.mode, redis.nodes.0, …).
 */
export const redisSchema = z.unknown().transform((value, ctx): RedisSetting => {
  if (typeof value !== 'string' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'expected a redis:// URL or an object with mode: standalone | sentinel | cluster',
    });
    return z.NEVER;
  }
  const parsed = typeof value === 'string' ? { success: true as const, data: value } : redisObjectSchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue(issue);
    return z.NEVER;
  }
  try {
    redisTarget(parsed.data as RedisSetting);
  } catch (err) {
    if (!(err instanceof RedisTargetError)) throw err;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message });
    return z.NEVER;
  }
  return parsed.data as RedisSetting;
});

export const configSchema = z
  .object({
    /** a URL (redis://, rediss://, redis+sentinel://, redis+cluster://) or an object; absent = the embedded in-memory store */
    redis: redisSchema.optional(),
    prefix: jailName.default('portcullis'),
    /** peers allowed to set X-Forwarded-For; default nobody, never everybody */
    trustProxy: z
      .array(
        cidr.refine((text) => typeof text !== 'string' || !text.endsWith('/0'), {
          message: 'trusting every address lets any client forge X-Forwarded-For and get others banned; list your proxies',
        }),
      )
      .default([]),
    ignoreIp: z.array(ignoredRange).default(['127.0.0.0/8', '::1']),
    /** IPv6 clients are counted and banned by their network of this many bits (128 = per address) */
    ipv6Prefix: z.number().int().min(32).max(128).default(64),
    /** the header trusted proxies put the client in */
    clientHeader: z.enum(['x-forwarded-for', 'forwarded', 'x-real-ip']).default('x-forwarded-for'),
    /** a request whose client cannot be known (a trusted proxy sent garbage): refused with 400, or let through uncounted */
    unknownClient: z.enum(['block', 'allow']).default('block'),
    defaults: defaultsSchema.default({}),
    increment: incrementSchema.default({}),
    jails: z.record(jailName, jailSchema).default({ 'django-login': { preset: 'django.login' } as never }),
    firewall: firewallSchema.default({}),
    gateway: gatewaySchema.default({}),
    sidecar: sidecarSchema.default({}),
    alerts: alertsSchema.optional(),
    /** approximate cap on the events stream (XADD MAXLEN ~) */
    streamMaxLen: z.number().int().min(100).default(100_000),
  })
  .strict();

export type PortcullisConfigInput = z.input<typeof configSchema>;
export type PortcullisConfig = z.output<typeof configSchema>;
export type JailConfig = z.output<typeof jailSchema>;
export type IncrementConfig = z.output<typeof incrementSchema>;
export type FirewallConfig = z.output<typeof firewallSchema>;
export type SidecarConfig = z.output<typeof sidecarSchema>;
export type AlertsConfig = z.output<typeof alertsSchema>;
export type GatewayConfig = z.output<typeof gatewaySchema>;
