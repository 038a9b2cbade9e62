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
  const stream = pretty({
    sync: true,
    colorize: Boolean(stdout.isTTY),
    translateTime: 'SYS:HH:MM:ss',
    // a request is one line; the start line already says what its fields say
    messageFormat: (log, key) => (isRequestLine(log) ? requestLine(log) : String(log[key])),
    ignore: 'pid,hostname,name,req,res,responseTime,client,port,django,upstream,mode,config,jails',
  });
  return pino(options, stream);
}

interface RequestLog {
  req: { method?: string; url?: string };
  res: { statusCode?: number };
  responseTime?: number;
  client?: string | null;
}

const isRequestLine = (log: Record<string, unknown>): log is Record<string, unknown> & RequestLog =>
  typeof log.req === 'object' && log.req !== null && typeof log.res === 'object' && log.res !== null;

function requestLine(log: RequestLog): string {
  return `${log.req.method} ${log.req.url} ${log.res.statusCode} ${log.responseTime ?? '?'} ms ${log.client ?? '-'}`;
}
