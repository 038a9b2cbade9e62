import { normalizeIp } from '@portcullis/core';

/** The fields of one access-log line a jail rule looks at. */
export interface LogEntry {
  ip: string;
  /** ms since epoch, from $time_local */
  time: number;
  method: string;
  url: string;
  status: number;
}

/** One access-log line → entry, or null when the line cannot be trusted. */
export type LineParser = (line: string) => LogEntry | null;

// nginx "combined" (and "common", which stops after the size):
// $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
// nginx escapes '"' inside fields as \x22, so a quoted field never holds a bare quote.
const LINE = /^(\S+) \S+ \S+ \[([^\]]+)\] "([^"]*)" (\d{3}) \S+/;
const REQUEST = /^([A-Za-z]+) (\S+)(?: HTTP\/\d(?:\.\d)?)?$/;
// 10/Oct/2000:13:55:36 -0700
const TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

/** $time_local → ms since epoch, or null */
export function parseLogTime(text: string): number | null {
  const m = TIME.exec(text);
  if (!m) return null;
  const month = MONTHS[m[2]!];
  if (month === undefined) return null;
  const utc = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const offset = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === '-' ? -1 : 1);
  const ms = utc - offset;
  return Number.isFinite(ms) ? ms : null;
}

/**
 * An entry from fields already cut out of a line, or null when the address
 * is not a valid IP, the time is unreadable, or the request is not
 * "METHOD URL PROTO" (nginx logs "-" or raw bytes for garbage requests).
 */
export function logEntry(ipText: string, time: number | null, request: string, statusText: string): LogEntry | null {
  const ip = normalizeIp(ipText);
  if (ip === null || time === null || !/^\d{3}$/.test(statusText)) return null;
  const req = REQUEST.exec(request);
  if (!req) return null;
  return { ip, time, method: req[1]!.toUpperCase(), url: req[2]!, status: Number(statusText) };
}

/** A line in nginx's "combined" or "common" format → entry, or null. */
export function parseLogLine(line: string): LogEntry | null {
  const m = LINE.exec(line);
  if (!m) return null;
  return logEntry(m[1]!, parseLogTime(m[2]!), m[3]!, m[4]!);
}
