// The fast upstream ("Django"): a plain node:http server, keep-alive.
// POST /auth/login/ answers 401 (a failed login for the django.login preset)
// unless the body carries the right password ("right"): then 200, a good
// login with the same path and body size. Everything else answers 200.
import { createServer } from 'node:http';

const OK = Buffer.from('{"ok":true}');
const BAD = Buffer.from('{"detail":"Invalid credentials"}');

const server = createServer((req, res) => {
  const login = req.method === 'POST' && req.url === '/auth/login/';
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const failing = login && !body.includes('"password":"right"');
    res.writeHead(failing ? 401 : 200, { 'content-type': 'application/json', 'content-length': failing ? BAD.length : OK.length });
    res.end(failing ? BAD : OK);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'listening', port: server.address().port }));
process.on('message', (m) => {
  if (m?.type === 'stop') server.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
