import autocannon from 'autocannon';

/**
 * Client addresses for X-Forwarded-For: a rotating pool of distinct,
 * non-loopback, unprotected addresses (198.18.0.0/15, the benchmarking range,
 * then 203.0.0.0/16 for bigger pools). The gateways trust 127.0.0.1 as proxy.
 */
export function ipPool(size, offset = 0) {
  let i = 0;
  return () => {
    const n = offset + (i++ % size);
    if (n < 131072) return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    const m = n - 131072;
    return `203.0.${(m >> 8) & 255}.${m & 255}`;
  };
}

const login = (password) => ({
  method: 'POST',
  path: '/auth/login/',
  headers: { 'content-type': 'application/json' },
  body: `{"username":"admin","password":"${password}"}`,
});

/**
 * The request kinds:
 *   clean  GET /                       (200)
 *   login  POST /auth/login/ good login (200; same path and body size as fail)
 *   fail   POST /auth/login/ bad login  (the upstream answers 401: a failure)
 */
export const KINDS = { clean: { method: 'GET', path: '/' }, login: login('right'), fail: login('wrong') };

/**
 * One autocannon round; each request carries its own X-Forwarded-For.
 * seconds = duration, or amount = a number of requests.
 */
export function round({ url, kind, seconds, amount, connections = 64, nextIp }) {
  const base = KINDS[kind];
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections,
        pipelining: 1,
        ...(amount ? { amount } : { duration: seconds }),
        ...base,
        requests: [
          {
            ...base,
            setupRequest(req) {
              req.headers['x-forwarded-for'] = nextIp();
              return req;
            },
          },
        ],
      },
      (err, r) => {
        if (err) return reject(err);
        resolve({
          rps: r.requests.total / (r.duration || seconds),
          total: r.requests.total,
          p50: r.latency.p50,
          p99: r.latency.p99,
          errors: r.errors + r.timeouts,
          non2xx: r.non2xx,
          statusCodes: r.statusCodeStats,
          duration: r.duration,
        });
      },
    );
  });
}
