import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * The gateway's logger: human-readable lines (pino-pretty) on a terminal or
 * with NODE_ENV=development, one JSON object per line otherwise (for a log
 * collector). LOG_FORMAT=pretty|json decides explicitly; LOG_LEVEL sets the level.
 */
export function createLogger(env: NodeJS.ProcessEnv = process.env, stdout: { isTTY?: boolean } = process.stdout): Logger {
  const options = { name: 'portcullis-gateway', level: env.LOG_LEVEL ?? 'info' };
  const format = env.LOG_FORMAT ?? (stdout.isTTY || env.NODE_ENV === 'development' ? 'pretty' : 'json');
  if (format !== 'pretty') return pino(options);
  // synchronous, in this thread: the last lines before an exit are never lost
  return pino(options, pretty({ sync: true, colorize: Boolean(stdout.isTTY), translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name' }));
}
