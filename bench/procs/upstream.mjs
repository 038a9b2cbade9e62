// The fast upstream ("Django"): a plain node:http server, keep-alive.
// POST /auth/login/ answers 401 (a failed login for the django.login preset);
// everything else answers 200 with a small body.
import { createServer } from 'node:http';

const OK = Buffer.from('{"ok":true}');
const BAD = Buffer.from('{"detail":"Invalid credentials"}');

const server = createServer((req, res) => {
  const failing = req.method === 'POST' && req.url === '/auth/login/';
  // drain the body before answering so the connection stays reusable
  req.resume();
  req.on('end', () => {
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
