/**
 * The few facts kept about a failing request for a ban alert (what fail2ban's
 * action_mwl quotes from its log lines). Never a body, a password, a cookie or
 * a query string (tokens travel there): only what is listed here, cut short.
 */
export interface FailureDetail {
  /** ms since epoch */
  at: number;
  method?: string;
  /** the path without its query string */
  path?: string;
  status?: number;
  userAgent?: string;
  /** a log source's own words (sshd: "Failed password for invalid user admin from … port 5022") */
  line?: string;
}

const MAX_TEXT = 200;

/** printable, single-line, bounded: a detail ends up in mail bodies and chat messages */
function clean(value: unknown, max = MAX_TEXT): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this strips
  const text = value.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function stripQuery(url: string): string {
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

/** The JSON stored in {p}:recent:<jail>:<ip>; undefined fields are left out. */
export function encodeFailureDetail(d: FailureDetail): string {
  const out: FailureDetail = { at: Math.round(d.at) };
  const method = clean(d.method, 16);
  if (method) out.method = method;
  const path = d.path === undefined ? undefined : clean(stripQuery(d.path));
  if (path) out.path = path;
  if (Number.isInteger(d.status)) out.status = d.status;
  const ua = clean(d.userAgent);
  if (ua) out.userAgent = ua;
  const line = clean(d.line, 300);
  if (line) out.line = line;
  return JSON.stringify(out);
}

/** Reads one stored detail back; anything unexpected is dropped (a hand-written key cannot inject fields). */
export function decodeFailureDetail(json: string): FailureDetail | null {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.at !== 'number' || !Number.isFinite(r.at)) return null;
  return JSON.parse(
    encodeFailureDetail({
      at: r.at,
      method: r.method as string,
      path: r.path as string,
      status: r.status as number,
      userAgent: r.userAgent as string,
      line: r.line as string,
    }),
  ) as FailureDetail;
}
