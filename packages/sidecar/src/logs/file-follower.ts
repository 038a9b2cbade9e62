import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { StateFile } from './state-file.js';

export interface FollowerOptions {
  /** where the inode and offset are kept across restarts */
  stateFile: string;
  /** handles complete lines; the offset is saved only after it resolves (a crash re-reads, never skips) */
  onLines(lines: string[]): Promise<void>;
  logger: Logger;
  pollMs?: number;
}

interface Position {
  inode: number;
  offset: number;
}

/** an open file and how far into it we have read */
interface Cursor {
  fh: FileHandle;
  offset: number;
  /** bytes of a line whose newline has not come yet */
  partial: Buffer;
}

const CHUNK = 1 << 20;
const MAX_LINE = 64 * 1024;
/** after a rotation the writer may keep appending to the old file until it reopens (rsyslog's HUP): read it this long */
const RETIRED_GRACE_MS = 5000;

/**
 * `tail -F` that remembers: follows a log file through rotation (the name
 * now points at a new inode: the old file is read to its end first, then the
 * new one from its start) and truncation (copytruncate: the size fell below
 * our offset), and resumes after a restart where it stopped (inode + offset
 * in a state file). The first start ever begins at the end: old lines are
 * history, not attacks. Polls with stat(): works on every filesystem.
 */
export class FileFollower {
  private readonly state: StateFile<Position>;
  private fh: FileHandle | null = null;
  private inode = -1;
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;
  private missingLogged = false;
  /** the file rotated away, still read for a moment */
  private retired: { cursor: Cursor; until: number } | null = null;

  constructor(
    readonly path: string,
    private readonly opts: FollowerOptions,
  ) {
    this.state = new StateFile(opts.stateFile);
  }

  async start(): Promise<void> {
    const saved = await this.state.read();
    const now = await stat(this.path).catch(() => null);
    if (saved && now && now.ino === saved.inode && now.size >= saved.offset) {
      await this.openAt(saved.offset);
    } else if (saved && now && now.ino !== saved.inode) {
      // rotated while we were down: the lines we missed are in the rotated file (path.1) if it is still there
      await this.drainRotatedCopy(saved);
      await this.openAt(0);
    } else if (saved && now) {
      await this.openAt(0); // truncated while we were down
    } else if (now) {
      await this.openAt(now.size);
      await this.save();
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.fh?.close().catch(() => {});
    this.fh = null;
    await this.retired?.cursor.fh.close().catch(() => {});
    this.retired = null;
  }

  private schedule(ms: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message, path: this.path }, 'log follow error; retrying'))
        .finally(() => {
          this.running = null;
          this.schedule(this.opts.pollMs ?? 250);
        });
    }, ms);
  }

  private async openAt(offset: number, path = this.path): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = null;
    this.fh = await open(path, 'r');
    const s = await this.fh.stat();
    this.inode = s.ino;
    this.offset = offset;
    this.partial = Buffer.alloc(0);
  }

  private async poll(): Promise<void> {
    await this.readRetired();
    let now = await stat(this.path).catch(() => null);
    if (this.fh === null) {
      if (now === null) {
        if (!this.missingLogged) this.opts.logger.warn({ path: this.path }, 'log file missing; waiting for it');
        this.missingLogged = true;
        return;
      }
      this.missingLogged = false;
      await this.openAt(0);
    }
    // read what is left in the file we hold (after a rotation: the old file's tail)
    await this.readToEnd();
    // look at the name again: it grew while we read, and only a size below what we read means truncation
    now = await stat(this.path).catch(() => null);
    if (now === null) return;
    if (now.ino !== this.inode) {
      this.opts.logger.info({ path: this.path }, 'log rotated; following the new file');
      // the old file stays open a little: the writer may still add to it
      this.retired = { cursor: { fh: this.fh!, offset: this.offset, partial: this.partial }, until: Date.now() + RETIRED_GRACE_MS };
      this.fh = null;
      await this.readRetired();
      await this.openAt(0);
      await this.readToEnd();
    } else if (now.size < this.offset) {
      this.opts.logger.info({ path: this.path }, 'log truncated; reading from its start');
      this.offset = 0;
      this.partial = Buffer.alloc(0);
      await this.readToEnd();
    }
  }

  /** the followed file, from where we are to its end; the position is saved after each chunk's lines are handled */
  private async readToEnd(): Promise<void> {
    const cursor: Cursor = { fh: this.fh!, offset: this.offset, partial: this.partial };
    await this.readCursor(cursor, async () => {
      this.offset = cursor.offset;
      this.partial = cursor.partial;
      await this.save();
    });
  }

  private async readCursor(cursor: Cursor, afterChunk: () => Promise<void>): Promise<void> {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      if (this.stopping) return;
      const { bytesRead } = await cursor.fh.read(buf, 0, CHUNK, cursor.offset);
      if (bytesRead === 0) return;
      // split on the newline byte: a UTF-8 character cut by the chunk stays whole in `partial`
      const data = Buffer.concat([cursor.partial, buf.subarray(0, bytesRead)]);
      const cut = data.lastIndexOf(0x0a);
      const lines = cut === -1 ? [] : data.subarray(0, cut).toString('utf8').split('\n');
      if (lines.length) await this.opts.onLines(lines);
      // a line without its newline yet is kept for the next read (bounded: a runaway line is dropped)
      cursor.partial = Buffer.from(cut === -1 ? data : data.subarray(cut + 1));
      if (cursor.partial.length > MAX_LINE) cursor.partial = Buffer.alloc(0);
      cursor.offset += bytesRead;
      await afterChunk();
    }
  }

  /** the rotated-away file's late lines; closed (its last partial line handled) once its grace is over */
  private async readRetired(): Promise<void> {
    const r = this.retired;
    if (!r) return;
    await this.readCursor(r.cursor, async () => {});
    if (Date.now() < r.until && !this.stopping) return;
    this.retired = null;
    if (r.cursor.partial.length) await this.opts.onLines([r.cursor.partial.toString('utf8')]);
    await r.cursor.fh.close().catch(() => {});
  }

  private async drainRotatedCopy(saved: Position): Promise<void> {
    const rotated = `${this.path}.1`;
    const s = await stat(rotated).catch(() => null);
    if (!s || s.ino !== saved.inode || s.size < saved.offset) return;
    this.opts.logger.info({ path: rotated }, 'log rotated while stopped; reading the rest of the old file');
    await this.openAt(saved.offset, rotated);
    await this.readToEnd();
    if (this.partial.length) await this.opts.onLines([this.partial.toString('utf8')]);
  }

  private async save(): Promise<void> {
    // the saved offset is where the next complete line starts
    await this.state.write({ inode: this.inode, offset: this.offset - this.partial.length });
  }
}
