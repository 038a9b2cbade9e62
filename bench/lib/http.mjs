import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request over a keep-alive agent; resolves with the status code. */
export function send(baseUrl, { method = 'GET', path = '/', ip, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, baseUrl);
    const headers = { 'x-forwarded-for': ip };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const failLogin = (url, ip) =>
  send(url, { method: 'POST', path: '/auth/login/', ip, body: '{"username":"admin","password":"wrong"}' });
export const goodLogin = (url, ip) =>
  send(url, { method: 'POST', path: '/auth/login/', ip, body: '{"username":"admin","password":"right"}' });

/** Runs fn(i) for i < n with at most `width` outstanding. */
export async function inParallel(n, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}
