import cliProgress from 'cli-progress';
import type { Io } from '../io.js';

/** Below this a replay is over before a bar would be worth drawing. */
const MIN_BYTES = 8 * 1024 * 1024;

export interface Progress {
  advance(bytes: number): void;
  stop(): void;
}

/** A bytes-read bar on stderr, only when stderr is a terminal and the log is large. */
export function progressBar(io: Io, totalBytes: number): Progress | null {
  if (!io.stderr.isTTY || totalBytes < MIN_BYTES) return null;
  const mb = (n: number) => (n / 1048576).toFixed(1);
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr as NodeJS.WriteStream,
      format: 'replay |{bar}| {percentage}% {done}/{size} MB eta {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let read = 0;
  bar.start(totalBytes, 0, { done: mb(0), size: mb(totalBytes) });
  return {
    advance(bytes) {
      read += bytes;
      bar.update(read, { done: mb(read) });
    },
    stop() {
      bar.stop();
    },
  };
}
