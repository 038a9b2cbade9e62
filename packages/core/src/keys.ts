/**
 * The Redis key schema: a public contract (users read it with redis-cli).
 * Every key shares the hash tag {prefix}, so each script touches one slot
 * and runs unchanged on Redis Cluster.
 *
 *   {p}:fail:<jail>:<ip>   ZSET    one member per failure, score = ms; PEXPIRE findtime
 *   {p}:held:<jail>:<ip>   ZSET    attempts in flight (request-time budget), score = expiry ms
 *   {p}:ban:<ip>           HASH    jail reason at until count by, until:<jail> per jail; PEXPIREAT until
 *   {p}:bans               ZSET    ip or CIDR → until ms (+inf = forever)
 *   {p}:jailbans           ZSET    <jail>:<ip> → that jail's until ms (+inf = forever)
 *   {p}:offenses:<ip>      STRING  bans so far (for the increment)
 *   {p}:stats:<jail>       HASH    failed, banned (totals)
 *   {p}:recent:<jail>:<ip> LIST    last failing requests (JSON, newest first), for ban alerts
 *   {p}:events             STREAM  ban/unban events for the sidecars
 *   {p}:events:dead        STREAM  malformed events parked by a sidecar
 *   {p}:sidecar:<host>:lock STRING the live sidecar of one host id (PX, renewed)
 *   {p}:changes            pub/sub ban/unban notices for gateways (sharded on a Cluster)
 *   {p}:meta               HASH    epoch, by, accepted: "this Redis holds our data" marker
 */
export class Keys {
  readonly tag: string;
  readonly bans: string;
  /** one member per (jail, address) ban: what each jail's firewall rule needs */
  readonly jailBans: string;
  readonly events: string;
  readonly deadEvents: string;
  readonly changes: string;
  readonly meta: string;

  constructor(readonly prefix: string) {
    this.tag = `{${prefix}}`;
    this.bans = `${this.tag}:bans`;
    this.jailBans = `${this.tag}:jailbans`;
    this.events = `${this.tag}:events`;
    this.deadEvents = `${this.tag}:events:dead`;
    this.changes = `${this.tag}:changes`;
    this.meta = `${this.tag}:meta`;
  }

  fail(jail: string, ip: string): string {
    return `${this.tag}:fail:${jail}:${ip}`;
  }
  held(jail: string, ip: string): string {
    return `${this.tag}:held:${jail}:${ip}`;
  }
  /** pattern for SCAN over one jail's failure windows */
  failPattern(jail: string): string {
    return `${this.tag}:fail:${jail}:*`;
  }
  ban(ip: string): string {
    return `${this.tag}:ban:${ip}`;
  }
  offenses(ip: string): string {
    return `${this.tag}:offenses:${ip}`;
  }
  recent(jail: string, ip: string): string {
    return `${this.tag}:recent:${jail}:${ip}`;
  }
  stats(jail: string): string {
    return `${this.tag}:stats:${jail}`;
  }
  sidecarLock(hostId: string): string {
    return `${this.tag}:sidecar:${hostId}:lock`;
  }
}

/** `{p}:jailbans` member of one jail's ban of an address: `sshd:203.0.113.7` (jail names hold no colon) */
export function jailBanMember(jail: string, ip: string): string {
  return `${jail}:${ip}`;
}

/** the jail and address of a `{p}:jailbans` member, or null */
export function parseJailBanMember(member: string): { jail: string; ip: string } | null {
  const at = member.indexOf(':');
  if (at <= 0) return null;
  return { jail: member.slice(0, at), ip: member.slice(at + 1) };
}
