import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { normalizeIp, type BanStore, type Jail } from '@portcullis/core';
import type { Logger } from 'pino';
import { backoffDelay } from '../exec.js';
import { Sleeper } from '../sleeper.js';
import { FileFollower } from './file-follower.js';
import { JournalFollower } from './journal-follower.js';
import { parseSshdLine } from './sshd-filter.js';
import { StateFile } from './state-file.js';

/** a session whose logout line never came (sshd killed) is forgotten after this */
const SESSION_MAX_AGE = 7 * 24 * 3600_000;

export type LogSource = { kind: 'file'; path: string } | { kind: 'journal'; units: string[]; file?: string };

export interface LogJailOptions {
  jail: Jail;
  source: LogSource;
  store: BanStore;
  /** offsets and cursors live here, one file per jail */
  stateDir: string;
  /** count failures of an address that has an SSH session open right now (default: never) */
  banLoggedIn: boolean;
  logger: Logger;
  pollMs?: number;
  journalctl?: string;
  /** this host's addresses (default: every interface's, read again each minute) */
  ownAddresses?: () => Set<string>;
}

/** this host's own addresses (fail2ban's ignoreself), read again now and then: interfaces come and go */
export function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = normalizeIp(a.address);
      if (ip) out.add(ip);
    }
  }
  return out;
}

/**
 * One log-fed jail (sshd): reads its source, recognises failures, and records
 * each through the same store and script as the gateways, so an address that
 * guesses SSH passwords on one host is banned on every host and gateway.
 * A failure is recorded before the source's position is saved: a crash or a
 * Redis outage re-reads, it never skips.
 */
export class LogJail {
  private readonly follower: FileFollower | JournalFollower;
  private readonly log: Logger;
  /** open SSH sessions: address -> client port -> since (ms); kept across restarts */
  private readonly sessions = new Map<string, Map<number, number>>();
  private readonly sessionState: StateFile<{ sessions: Array<[string, number, number]> }>;
  private sessionsChanged = false;
  private own: Set<string>;
  private ownReadAt = Date.now();
  private stopping = false;
  private readonly sleeper = new Sleeper();
  /** failures recorded so far */
  counted = 0;
  /** a failure is waiting for Redis */
  retrying = false;

  constructor(private readonly opts: LogJailOptions) {
    this.log = opts.logger.child({ jail: opts.jail.name });
    this.own = (opts.ownAddresses ?? ownAddresses)();
    const onLines = (lines: string[]) => this.handle(lines);
    const stateFile = join(opts.stateDir, `${opts.jail.name}.${opts.source.kind}.json`);
    this.sessionState = new StateFile(join(opts.stateDir, `${opts.jail.name}.sessions.json`));
    this.follower =
      opts.source.kind === 'file'
        ? new FileFollower(opts.source.path, { stateFile, onLines, logger: this.log, pollMs: opts.pollMs })
        : new JournalFollower({
            units: opts.source.units,
            file: opts.source.file,
            stateFile,
            onLines,
            logger: this.log,
            journalctl: opts.journalctl,
          });
  }

  async start(): Promise<void> {
    // sessions opened before a restart: their "Accepted" lines are behind the saved position
    const now = Date.now();
    for (const [ip, port, since] of (await this.sessionState.read())?.sessions ?? []) {
      if (now - since < SESSION_MAX_AGE) this.openSession(ip, port, since);
    }
    await this.follower.start();
    this.log.info({ source: this.opts.source }, 'log jail started');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wakeAll();
    await this.follower.stop();
  }

  /** addresses with an SSH session open now, as the log told us */
  loggedIn(): string[] {
    return [...this.sessions.keys()];
  }

  private isOwn(ip: string): boolean {
    if (Date.now() - this.ownReadAt > 60_000) {
      this.own = (this.opts.ownAddresses ?? ownAddresses)();
      this.ownReadAt = Date.now();
    }
    return this.own.has(ip);
  }

  private openSession(ip: string, port: number, since: number): void {
    let ports = this.sessions.get(ip);
    if (!ports) {
      ports = new Map();
      this.sessions.set(ip, ports);
    }
    ports.set(port, since);
    this.sessionsChanged = true;
  }

  private async handle(lines: string[]): Promise<void> {
    await this.handleLines(lines);
    if (this.sessionsChanged) {
      this.sessionsChanged = false;
      const all: Array<[string, number, number]> = [];
      for (const [ip, ports] of this.sessions) for (const [port, since] of ports) all.push([ip, port, since]);
      await this.sessionState.write({ sessions: all });
    }
  }

  private async handleLines(lines: string[]): Promise<void> {
    for (const line of lines) {
      const event = parseSshdLine(line);
      if (!event) continue;
      if (event.kind === 'login') {
        this.openSession(event.ip, event.port, Date.now());
        continue;
      }
      if (event.kind === 'logout') {
        const ports = this.sessions.get(event.ip);
        if (ports?.delete(event.port)) this.sessionsChanged = true;
        if (ports?.size === 0) this.sessions.delete(event.ip);
        continue;
      }
      if (this.isOwn(event.ip)) continue;
      if (!this.opts.banLoggedIn && this.sessions.has(event.ip)) {
        this.log.debug({ ip: event.ip }, 'failure from an address with an open SSH session: not counted');
        continue;
      }
      await this.record(event.ip, event.message);
    }
  }

  /** retried until Redis takes it: the follower waits, the position is not saved */
  private async record(ip: string, message: string): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const now = Date.now();
        const result = await this.opts.store.recordFailure(this.opts.jail, ip, now, { at: now, line: message });
        this.counted++;
        this.retrying = false;
        if (result.banned) this.log.warn({ ip, bans: result.bans, until: result.until }, 'banned');
        return;
      } catch (err) {
        this.retrying = true;
        const delay = backoffDelay(attempt, 100, 5000);
        if (attempt === 0) this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot record a failure; retrying');
        await this.sleeper.sleep(delay);
      }
    }
    // stopped before Redis took it: fail the batch so its position is not saved
    throw new Error('stopped before the failure was recorded');
  }
}
