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
