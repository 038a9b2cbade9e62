/**
 * The request path as Django's server resolves it: query dropped, a run of
 * leading slashes collapsed (gunicorn and runserver treat "//x" as "/x"),
 * percent-decoded including %2F (so "/admin%2Flogin/" is "/admin/login/").
 * Case is kept: Django's URL matching is case sensitive.
 */
export function normalizePath(url: string): string {
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  let path = end === url.length ? url : url.slice(0, end);
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // Malformed escapes: Django decodes what it can; keep the raw text.
    }
  }
  if (path.charCodeAt(1) === 47 && path.charCodeAt(0) === 47) path = path.replace(/^\/+/, '/');
  if (path === '') path = '/';
  return path;
}

/** The target a gateway forwards, and the decoded path the upstream will resolve from it. */
export interface CanonicalTarget {
  /** origin-form request target to forward (req.url): path re-encoded minimally, query as sent */
  url: string;
  /** the decoded path Django routes on: what jails are matched against */
  path: string;
}

const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;
// a decoded path must not carry control characters or a backslash (http-proxy turns "\" into "/")
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
const UNSAFE_DECODED = /[\u0000-\u001f\u007f\\]/;

/**
 * Decides the one path the upstream receives, so the classifier and Django
 * can never disagree (DESIGN §10: http-proxy turns "\" into "/", takes the
 * path of an absolute-form target and collapses runs of "/"; Django decodes
 * %XX, including %2F). Percent-escapes are decoded once, runs of "/" become
 * one, "." and ".." segments are resolved, and the result is re-encoded so
 * that decoding it again gives the same path.
 *
 * Returns null for an ambiguous target, to be refused with 400: a backslash,
 * a fragment, a malformed escape or invalid (e.g. overlong) UTF-8, a control
 * character, or a form other than origin, absolute (http/https) or "*".
 * A double-encoded escape ("%256C") stays what it is after one decoding
 * ("%6C"), exactly as Django sees it.
 */
export function canonicalTarget(raw: string): CanonicalTarget | null {
  const plain = plainTargetPath(raw);
  if (plain !== null) return { url: raw, path: plain };
  return canonicalise(raw, true);
}

/**
 * canonicalTarget the long way every time: every path decoded, its slashes
 * and dot segments resolved and re-encoded, even one that is already
 * canonical (which canonicalTarget forwards as sent: its url may differ in
 * escapes, never in the path Django resolves). The reference its shortcuts
 * are tested against.
 */
export function canonicalTargetInFull(raw: string): CanonicalTarget | null {
  return canonicalise(raw, false);
}

function canonicalise(raw: string, shortcut: boolean): CanonicalTarget | null {
  let target = raw;
  if (target.charCodeAt(0) !== 47) {
    if (target === '*') return { url: target, path: target };
    const origin = ABSOLUTE_FORM.exec(target);
    if (origin === null) return null;
    target = target.slice(origin[0].length);
    if (target.charCodeAt(0) !== 47) target = `/${target}`;
  }
  if (target.includes('#')) return null;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  // the path of an absolute-form target may be canonical already, too
  if (shortcut && plainPathEnd(path) === path.length) return { url: target, path };
  if (path.includes('\\')) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (UNSAFE_DECODED.test(decoded)) return null;
  const canonical = removeDotSegments(decoded.replace(/\/{2,}/g, '/'));
  const encoded = encodeURI(canonical).replace(/[?#]/g, (c) => (c === '?' ? '%3F' : '%23'));
  return { url: encoded + query, path: canonical };
}

/**
 * The path of an origin-form target that is already canonical (the common
 * case, decided by one scan of its characters, nothing decoded or
 * allocated but the path itself when a query follows): canonicalTarget
 * would return it unchanged, with the target as its url. null when the
 * target needs canonicalTarget: another form, an escape, a backslash, a
 * fragment, a control or non-ASCII character, "//" or a segment starting
 * with "." (a dot segment, or not: "/.well-known/" takes the long way).
 */
export function plainTargetPath(raw: string): string | null {
  if (raw.charCodeAt(0) !== 47) return null;
  const end = plainPathEnd(raw);
  if (end === -1) return null;
  if (end === raw.length) return raw;
  // canonicalTarget refuses a fragment in the query too
  if (raw.indexOf('#', end) !== -1) return null;
  return raw.slice(0, end);
}

/** Where the path of `target` ends ("?" or its end) when the path needs no canonicalising; -1 when it does. */
function plainPathEnd(target: string): number {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63) return i;
    if (c === 37 || c === 92 || c === 35 || c < 33 || c > 126) return -1;
    if (c === 47) {
      const next = target.charCodeAt(i + 1);
      if (next === 47 || next === 46) return -1;
    }
  }
  return target.length;
}

/** RFC 3986 §5.2.4 for an absolute path: "." dropped, ".." removes the segment before it. */
function removeDotSegments(path: string): string {
  if (!path.includes('/.')) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      // "/a/." and "/a/b/.." end in a directory
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}
