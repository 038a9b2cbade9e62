import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { backoffDelay } from '../exec.js';
import { Sleeper } from '../sleeper.js';
import { StateFile } from './state-file.js';

export interface JournalOptions {
  /** systemd units whose entries are read (`-u` each) */
  units: string[];
  /** read this journal file instead of the system journal (`--file`) */
  file?: string;
  stateFile: string;
  /** handles the MESSAGE of each entry; the cursor is saved only after it resolves */
  onLines(lines: string[]): Promise<void>;
  logger: Logger;
  /** the journalctl binary (default: journalctl on PATH) */
  journalctl?: string;
}

/** Entries read before a cursor is saved; a restart re-reads at most this many. */
const SAVE_EVERY = 200;

/**
 * Follows journald: `journalctl -f -o json -u ssh -u sshd`, resuming after the
 * last handled entry (`--after-cursor`, the cursor kept in a state file). The
 * unit filter is journald's trusted _SYSTEMD_UNIT field, so another program
 * cannot write lines that pass for sshd's (a syslog file cannot tell).
 * journalctl is restarted with backoff if it exits.
 */
export class JournalFollower {
  private readonly state: StateFile<{ cursor: string }>;
  private child: ChildProcess | null = null;
  private stopping = false;
  private cursor: string | null = null;
  private loop: Promise<void> = Promise.resolve();
  private readonly sleeper = new Sleeper();

  constructor(private readonly opts: JournalOptions) {
    this.state = new StateFile(opts.stateFile);
  }

  async start(): Promise<void> {
    this.cursor = (await this.state.read())?.cursor ?? null;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.child?.kill('SIGTERM');
    this.sleeper.wakeAll();
    await this.loop;
  }

  private args(): string[] {
    const args = ['-f', '-o', 'json', '--no-pager'];
    for (const unit of this.opts.units) args.push('-u', unit);
    if (this.opts.file) args.push(`--file=${this.opts.file}`);
    // first start: only what comes next; afterwards: everything after the last entry handled
    if (this.cursor) args.push(`--after-cursor=${this.cursor}`);
    else args.push('-n', '0');
    return args;
  }

  private async run(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      const started = Date.now();
      await this.follow().catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'journal follow error'));
      if (this.stopping) return;
      if (Date.now() - started > 60_000) attempt = 0;
      const delay = backoffDelay(attempt, 500, 30_000);
      this.opts.logger.warn({ retryInMs: delay }, 'journalctl exited; restarting');
      await this.sleeper.sleep(delay);
    }
  }

  private async follow(): Promise<void> {
    const child = spawn(this.opts.journalctl ?? 'journalctl', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const exited = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', (err) => {
        this.opts.logger.error({ err: err.message }, 'cannot run journalctl');
        resolve();
      });
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => this.opts.logger.debug({ journalctl: text.trim() }, 'journalctl stderr'));
    const rl = createInterface({ input: child.stdout! });
    let batch: string[] = [];
    let unsaved = 0;
    let last: string | null = null;
    const flush = async () => {
      if (batch.length) await this.opts.onLines(batch);
      batch = [];
      if (last && last !== this.cursor) {
        this.cursor = last;
        await this.state.write({ cursor: last });
      }
      unsaved = 0;
    };
    // entries arrive in bursts; a timer flushes a burst's tail
    let idle: NodeJS.Timeout | null = null;
    let chain: Promise<void> = Promise.resolve();
    for await (const line of rl) {
      const entry = parseEntry(line);
      if (!entry) continue;
      batch.push(entry.message);
      last = entry.cursor;
      if (++unsaved >= SAVE_EVERY) chain = chain.then(flush);
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => {
        chain = chain.then(flush);
      }, 20);
    }
    if (idle) clearTimeout(idle);
    chain = chain.then(flush);
    await chain;
    await exited;
  }
}

/** MESSAGE (text, or bytes as a number array when not UTF-8) and __CURSOR of one `-o json` line. */
export function parseEntry(line: string): { message: string; cursor: string } | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.__CURSOR !== 'string') return null;
  const m = r.MESSAGE;
  const message =
    typeof m === 'string'
      ? m
      : Array.isArray(m) && m.every((b) => typeof b === 'number')
        ? Buffer.from(m as number[]).toString('utf8')
        : null;
  return message === null ? null : { message, cursor: r.__CURSOR };
}
