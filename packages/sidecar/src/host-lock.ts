import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PortcullisError, type RedisClient } from '@portcullis/core';
import type { Logger } from 'pino';

/** Another live sidecar already runs with this host id. */
export class HostIdInUseError extends PortcullisError {
  constructor(hostId: string, holder: string) {
    super(
      'ERR_PORTCULLIS_HOST_ID_IN_USE',
      `another sidecar is running with host id "${hostId}" (${holder}): every host needs its own sidecar.hostId ` +
        '(--host-id, PORTCULLIS_HOST_ID); refusing to start a second consumer of the same group',
    );
  }
}

// renew only our own lock; take it back if it vanished (Redis restarted without persistence)
const RENEW = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * One live sidecar per host id: `SET {p}:sidecar:<host>:lock <token> NX PX ttl`,
 * renewed every ttl/3 by its holder. A crashed holder stops renewing and the
 * lock passes on after ttl; a second live one never gets it.
 */
export class HostLock {
  /** false once another sidecar took the lock from under us */
  held = false;
  private readonly value: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly hostId: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    this.value = JSON.stringify({
      token: randomBytes(8).toString('hex'),
      pid: process.pid,
      host: hostname(),
      since: new Date().toISOString(),
    });
  }

  /**
   * Takes the lock, waiting up to one ttl for a crashed holder's lock to
   * expire; throws HostIdInUseError when a live holder keeps renewing it.
   */
  async acquire(stopping: () => boolean): Promise<void> {
    const deadline = Date.now() + this.ttlMs + 1000;
    let holder: string | null = null;
    while (!stopping()) {
      if ((await this.redis.set(this.key, this.value, 'PX', this.ttlMs, 'NX')) === 'OK') {
        this.held = true;
        this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.ttlMs / 3)));
        this.timer.unref();
        return;
      }
      if (holder === null) {
        holder = await this.redis.get(this.key);
        this.log.warn(
          { key: this.key, holder },
          'host id lock held: waiting for it to expire (a crashed sidecar) or refusing (a live one)',
        );
      }
      if (Date.now() > deadline) throw new HostIdInUseError(this.hostId, describeHolder(await this.redis.get(this.key)));
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(50, this.ttlMs / 10))));
    }
  }

  private async renew(): Promise<void> {
    try {
      const r = await this.redis.eval(RENEW, 1, this.key, this.value, this.ttlMs);
      if (r === 0 && this.held) {
        this.held = false;
        this.log.error(
          { key: this.key, holder: describeHolder(await this.redis.get(this.key)) },
          `ANOTHER SIDECAR HOLDS HOST ID "${this.hostId}": two consumers of one group`,
        );
      } else if (r !== 0 && !this.held) {
        this.held = true;
        this.log.info({ key: this.key }, 'host id lock held again');
      }
    } catch {
      // Redis unreachable: health reports that; the next renewal tries again
    }
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.held) return;
    this.held = false;
    await this.redis.eval(RELEASE, 1, this.key, this.value).catch(() => {});
  }
}

function describeHolder(value: string | null): string {
  if (!value) return 'its lock just expired';
  try {
    const v = JSON.parse(value) as { pid?: number; host?: string; since?: string };
    return `pid ${v.pid} on ${v.host}, since ${v.since}`;
  } catch {
    return 'holder unknown';
  }
}
