import { randomBytes } from 'node:crypto';
import { RedisWipedError } from '../errors.js';
import type { RedisClient } from '../redis.js';

/**
 * The {p}:meta marker: a hash { epoch, createdAt, by } written once, at the
 * first use of a deployment's Redis. A client remembers the epoch it saw;
 * when the marker is later missing, or carries another epoch, this Redis is
 * not the data the client knew (an empty former master came back, a
 * FLUSHALL, the wrong database): `wiped` is set, and the callers that would
 * replace a cache or lift firewall rules from it refuse (assertIntact).
 *
 * An operator accepts the Redis as it is by setting the marker's
 * `accepted` field to a new value (README: "Redis looks wiped"):
 *   redis-cli HSET '{portcullis}:meta' accepted "$(date +%s)"
 * A client that sees `accepted` change adopts the marker and carries on.
 */
export class DataMarker {
  private epoch: string | null = null;
  private accepted: string | null = null;
  private wipedError: RedisWipedError | null = null;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: RedisClient,
    private readonly key: string,
    private readonly by: string,
    /** told once each time the Redis starts to look wiped */
    private readonly onWiped: (err: RedisWipedError) => void = () => {},
  ) {}

  get wiped(): RedisWipedError | null {
    return this.wipedError;
  }

  /** Reads the marker now (at start, after a reconnect or failover); connection errors leave the last verdict. */
  verify(): Promise<void> {
    this.current = this.check().catch(() => {});
    return this.current;
  }

  /**
   * Throws RedisWipedError while the Redis looks wiped (after the latest
   * verification ends). While it does, each call looks again (one HGETALL),
   * so an operator's acceptance is taken at the next reload or reconcile.
   */
  async assertIntact(): Promise<void> {
    await this.current;
    if (this.wipedError) await this.verify();
    if (this.wipedError) throw this.wipedError;
  }

  private async check(): Promise<void> {
    let m = await this.client.hgetall(this.key);
    if (m.epoch !== undefined && m.epoch === this.epoch) {
      this.adopt(m);
      return;
    }
    const firstSight = this.epoch === null;
    const operatorAccepted = m.accepted !== undefined && m.accepted !== this.accepted;
    if (!firstSight && !operatorAccepted) {
      if (!this.wipedError) {
        this.wipedError = new RedisWipedError(
          m.epoch === undefined
            ? `Redis looks wiped: the marker ${this.key} this process saw (epoch ${this.epoch}) is gone (an empty former master? a flush?). ` +
                'Keeping the ban cache and firewall rules as they are until an operator acts: restore the data, or accept this Redis with ' +
                `redis-cli HSET '${this.key}' accepted "$(date +%s)"`
            : `Redis holds other data: the marker ${this.key} changed from epoch ${this.epoch} to ${m.epoch}. ` +
                `Keeping the ban cache and firewall rules until an operator accepts it with redis-cli HSET '${this.key}' accepted "$(date +%s)"`,
        );
        this.onWiped(this.wipedError);
      }
      return;
    }
    if (m.epoch === undefined) {
      // first use of this Redis (or accepted by an operator): write the marker, once for everyone
      await this.client.hsetnx(this.key, 'epoch', `${Date.now()}-${randomBytes(4).toString('hex')}`);
      await this.client.hsetnx(this.key, 'by', this.by);
      m = await this.client.hgetall(this.key);
    }
    this.adopt(m);
  }

  private adopt(m: Record<string, string>): void {
    this.epoch = m.epoch ?? null;
    this.accepted = m.accepted ?? null;
    this.wipedError = null;
  }
}
