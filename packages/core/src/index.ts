// The public API of @portcullis/core, by name: what users of the packages
// and the other Portcullis packages (express, sidecar, cli) import. Anything
// else is internal; the package's own tests import it from its module.

// errors: every one thrown on purpose, with its ERR_PORTCULLIS_* code (docs/error-codes.md)
export {
  PortcullisError,
  ConfigError,
  InvalidIpError,
  InvalidDurationError,
  UnknownJailError,
  ProtectedIpError,
  RedisTopologyError,
  RedisWipedError,
} from './errors.js';
export { MalformedEventError } from './events.js';
export { RedisTargetError } from './redis-target.js';

// the config: loading, validating, finding it
export { parseConfig, loadConfig, discoverConfig, type DiscoverConfigOptions, type DiscoveredConfig } from './config/load.js';
export type {
  PortcullisConfig,
  PortcullisConfigInput,
  JailConfig,
  IncrementConfig,
  FirewallConfig,
  SidecarConfig,
  AlertsConfig,
  GatewayConfig,
} from './config/schema.js';
export { JailPorts, portsKey, sortedPorts } from './firewall-ports.js';

// durations, fail2ban's forms
export { parseDuration, formatDuration, FOREVER, MAX_DURATION_MS } from './duration.js';

// jails and the Django presets
export { resolveJail, resolveJails, type Jail, type ResponseFacts } from './jail.js';
export { PRESETS, PRESET_NAMES, FAILURE_HEADER, type PresetName, type RuleFields } from './presets.js';
export { decodeFailureDetail, type FailureDetail } from './failure-detail.js';

// addresses and paths: strict, so a malformed one never reaches a key or a firewall command
export { normalizeIp, normalizeHostAddress, normalizeCidr, parseCidr, clientPrefix, IpSet, LOOPBACK, type Cidr } from './ip.js';
export { normalizePath, canonicalTarget, plainTargetPath, type CanonicalTarget } from './path.js';
export { Protection } from './protection.js';

// the Redis key schema (a public contract) and the ban event stream
export { Keys, jailBanMember, parseJailBanMember } from './keys.js';
export { jailName } from './config/schema.js';
export { parseBanEvent, type BanEvent, type BanChange, type BanRecord } from './events.js';

// the ban stores: one contract, two implementations
export type {
  BanStore,
  StoreState,
  BanOptions,
  UnbanOptions,
  RecordResult,
  Reservation,
  JailStatus,
  ActiveBan,
  ActiveBanPage,
} from './store/types.js';
export { RedisBanStore, type RedisBanStoreOptions } from './store/redis-store.js';
export { MemoryBanStore, type MemoryBanStoreOptions } from './store/memory-store.js';
export { resolveManualBan, type ManualBan } from './store/manual-ban.js';
export { countedKey } from './store/counted-key.js';
export { DataMarker } from './store/data-marker.js';

// Redis connections: one client factory, and what a topology problem means
export { createRedis, isCluster, type RedisClient, type RedisConnectOptions } from './redis.js';
export { describeRedis, type RedisSetting } from './redis-target.js';
export { topologyProblem, explainRedisError } from './store/topology-check.js';
export { watchSlotOwner } from './store/slot-owner.js';
