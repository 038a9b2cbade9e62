// A client inside the test's client namespace: runs one scenario against the
// gateway from a chosen source address and prints the results as JSON.
//   node netns-client.mjs '{"base":"http://192.0.2.1:8080","from":"192.0.2.2","action":"apiLogin","count":6}'
import { request } from 'node:http';

const plan = JSON.parse(process.argv[2]);

function send(method, path, { headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const url = new URL(path, plan.base);
    const req = request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers,
        localAddress: plan.from,
        timeout: 3000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, error: err.code ?? err.message, headers: {}, text: '' }));
    if (body) req.write(body);
    req.end();
  });
}

async function adminLogin(password) {
  const page = await send('GET', '/admin/login/');
  if (page.status !== 200) return { status: page.status, step: 'page' };
  const cookie = (page.headers['set-cookie'] ?? []).find((c) => c.startsWith('csrftoken=')).split(';')[0];
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.text)[1];
  const body = new URLSearchParams({ csrfmiddlewaretoken: token, username: 'demo', password, next: '/admin/' }).toString();
  const res = await send('POST', '/admin/login/?next=/admin/', {
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    body,
  });
  return { status: res.status, step: 'post' };
}

// plan.spoof: send a random X-Forwarded-For with every request, as a client lying about itself
const spoof = () =>
  plan.spoof ? { 'x-forwarded-for': `198.18.${Math.floor(Math.random() * 255)}.${1 + Math.floor(Math.random() * 254)}` } : {};
const json = (o) => ({
  headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON.stringify(o)), ...spoof() },
  body: JSON.stringify(o),
});
const results = [];
for (let i = 0; i < (plan.count ?? 1); i++) {
  let r;
  if (plan.action === 'apiLogin') r = await send('POST', '/auth/login/', json({ username: 'demo', password: plan.password ?? 'bad' }));
  else if (plan.action === 'customLogin')
    r = await send('POST', '/custom/login/', json({ username: 'demo', password: plan.password ?? 'bad' }));
  else if (plan.action === 'adminLogin') r = await adminLogin(plan.password ?? 'bad');
  else r = await send('GET', plan.path ?? '/');
  results.push({ status: r.status, step: r.step, error: r.error, failureHeader: r.headers?.['x-portcullis-failure'] ?? null });
}
console.log(JSON.stringify(results));
