import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CliError } from '../errors.js';
import type { Io } from '../io.js';

export interface OpenedLog {
  /** the log's text, gunzipped when it was gzip */
  text: Readable;
  /** bytes on disk, for a progress bar; null for standard input */
  size: number | null;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * A log file, or standard input for "-", decompressed when its first bytes
 * say gzip (rotated nginx logs are .gz; the name is not trusted, the bytes
 * are). `onBytes` sees the raw bytes read, for a progress bar.
 */
export async function openLog(source: string, io: Io, onBytes?: (n: number) => void): Promise<OpenedLog> {
  let raw: Readable;
  let size: number | null = null;
  if (source === '-') {
    if (!io.stdin) throw new CliError('replay -: no standard input');
    // a terminal, not a pipe: say what it waits for
    if ((io.stdin as { isTTY?: boolean }).isTTY)
      io.stderr.write('portcullis: reading the log from standard input (pipe it in, or end with Ctrl-D)\n');
    raw = io.stdin;
  } else {
    try {
      const st = await stat(source);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (err) {
      throw new CliError(`cannot read ${source}: ${(err as Error).message}`);
    }
    raw = createReadStream(source);
  }
  return { text: Readable.from(sniffed(raw, onBytes)), size };
}

async function* sniffed(raw: Readable, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
  const counted = (async function* () {
    for await (const chunk of raw) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      onBytes?.(buf.length);
      yield buf;
    }
  })();
  // enough bytes to tell gzip from text
  let head = Buffer.alloc(0);
  while (head.length < GZIP_MAGIC.length) {
    const next = await counted.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  if (head.length === 0) return;
  const all = (async function* () {
    yield head;
    yield* counted;
  })();
  if (!GZIP_MAGIC.every((b, i) => head[i] === b)) {
    yield* all;
    return;
  }
  const gunzip = createGunzip();
  // a read error reaches the reader through the gunzip stream
  yield* Readable.from(all)
    .on('error', (err) => gunzip.destroy(err))
    .pipe(gunzip);
}
