/** Base class: every error Portcullis throws on purpose carries a stable code. */
export class PortcullisError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A config file or object that does not match the schema; `issues` name each bad field. */
export class ConfigError extends PortcullisError {
  readonly issues: ReadonlyArray<{ path: string; message: string }>;
  /** the file, flag or variable the config came from, when known */
  readonly source: string | undefined;
  constructor(issues: ReadonlyArray<{ path: string; message: string }>, source?: string) {
    const where = source ? ` in ${source}` : '';
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`);
    super('ERR_PORTCULLIS_CONFIG', `Invalid Portcullis config${where}:\n${lines.join('\n')}`);
    this.issues = issues;
    this.source = source;
  }
}

/** A string that is not an IPv4/IPv6 address (or CIDR, where one is allowed). */
export class InvalidIpError extends PortcullisError {
  constructor(value: string, what = 'IP address') {
    super('ERR_PORTCULLIS_INVALID_IP', `Not a valid ${what}: ${JSON.stringify(value)}`);
  }
}

/** A duration string that is not one of fail2ban's forms. */
export class InvalidDurationError extends PortcullisError {
  /** `outOfRange`: a well-formed duration outside the accepted bounds, and why */
  constructor(value: unknown, outOfRange?: string) {
    super(
      'ERR_PORTCULLIS_DURATION',
      outOfRange
        ? `Duration out of range: ${JSON.stringify(value)} is ${outOfRange}`
        : `Not a duration: ${JSON.stringify(value)} (use seconds like 600, or 10m, 1h, 1d, 1w; -1 means forever)`,
    );
  }
}

/** A jail name that is not configured. */
export class UnknownJailError extends PortcullisError {
  constructor(jail: string) {
    super('ERR_PORTCULLIS_UNKNOWN_JAIL', `Unknown jail: ${JSON.stringify(jail)}`);
  }
}

/** Refused: the address is loopback, a trusted proxy or in ignoreIp. */
export class ProtectedIpError extends PortcullisError {
  constructor(ip: string, why: string) {
    super('ERR_PORTCULLIS_PROTECTED_IP', `Refusing to ban ${ip}: ${why}`);
  }
}

/** Redis answers, but it is the wrong node for Portcullis (a replica, a Sentinel, a non-owner Cluster node…). */
export class RedisTopologyError extends PortcullisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PORTCULLIS_REDIS_TOPOLOGY', message, options);
  }
}

/**
 * The {p}:meta marker this client saw is gone (or replaced): the Redis it
 * talks to looks wiped (an empty former master, a flush). Nothing replaces
 * a cache or lifts a firewall rule from it until an operator accepts it.
 */
export class RedisWipedError extends PortcullisError {
  constructor(message: string) {
    super('ERR_PORTCULLIS_REDIS_WIPED', message);
  }
}
