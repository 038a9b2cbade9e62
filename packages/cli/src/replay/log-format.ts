import { CliError } from '../errors.js';
import { logEntry, parseLogLine, parseLogTime, type LineParser } from './parse-log.js';

/**
 * What a variable's text looks like where it cannot be cut at the next
 * literal character (it holds spaces, or nothing literal follows it).
 */
const SHAPES: Record<string, string> = {
  time_local: '\\d{2}/[A-Za-z]{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2} [+-]\\d{4}',
  time_iso8601: '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?(?:Z|[+-]\\d{2}:\\d{2})',
  msec: '\\d+(?:\\.\\d+)?',
  status: '\\d{3}',
};

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The format itself from what the user pasted: a bare format string, the
 * quoted pieces nginx concatenates ('…' '…'), or the whole directive
 * (log_format main escape=default '…' '…';).
 */
export function formatText(pasted: string): string {
  let text = pasted.trim().replace(/;$/, '').trim();
  text = text.replace(/^log_format\s+\S+\s+(?:escape=\S+\s+)?/, '');
  if (/^['"]/.test(text)) {
    const pieces = [...text.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2] ?? '');
    if (pieces.length > 0) return pieces.join('');
  }
  return text;
}

/**
 * Turns an nginx `log_format` string into a line parser. Each variable
 * becomes a capture that stops at the literal character after it (nginx
 * escapes a quote inside a quoted field as \x22), so matching stays linear in
 * the line's length whatever an attacker put in a header. The line needs
 * $remote_addr, a time ($time_local, $time_iso8601 or $msec), the request
 * ($request, or $request_method with $request_uri or $uri) and $status.
 */
export function compileLogFormat(pasted: string): LineParser {
  const format = formatText(pasted);
  if (format === 'combined' || format === 'common') return parseLogLine;
  const names: string[] = [];
  let pattern = '^';
  const tokens = [...format.matchAll(/\$\{(\w+)\}|\$(\w+)|([^$]+|\$)/g)];
  tokens.forEach((t, i) => {
    const name = t[1] ?? t[2];
    if (name === undefined) {
      pattern += escapeRegex(t[3]!);
      return;
    }
    const next = tokens[i + 1];
    const stop = next && next[3] !== undefined ? next[3][0]! : null;
    const shape = SHAPES[name] ?? (stop === null ? (next ? '\\S*' : '.*') : `[^${escapeRegex(stop)}]*`);
    if (names.includes(name)) {
      pattern += `(?:${shape})`;
      return;
    }
    names.push(name);
    pattern += `(${shape})`;
  });
  const has = (n: string) => names.includes(n);
  const missing = [
    has('remote_addr') ? null : '$remote_addr',
    has('time_local') || has('time_iso8601') || has('msec') ? null : 'a time ($time_local, $time_iso8601 or $msec)',
    has('request') || (has('request_method') && (has('request_uri') || has('uri')))
      ? null
      : '$request (or $request_method and $request_uri)',
    has('status') ? null : '$status',
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) throw new CliError(`--log-format: the format lacks ${missing.join(' and ')}: replay needs them to judge a line`);
  const line = new RegExp(`${pattern}$`);
  const at = (m: RegExpExecArray, n: string) => m[names.indexOf(n) + 1]!;
  return (text) => {
    const m = line.exec(text);
    if (!m) return null;
    const time = has('time_local')
      ? parseLogTime(at(m, 'time_local'))
      : has('time_iso8601')
        ? Date.parse(at(m, 'time_iso8601'))
        : Number(at(m, 'msec')) * 1000;
    const request = has('request') ? at(m, 'request') : `${at(m, 'request_method')} ${at(m, has('request_uri') ? 'request_uri' : 'uri')}`;
    return logEntry(at(m, 'remote_addr'), Number.isFinite(time) ? time : null, request, at(m, 'status'));
  };
}
