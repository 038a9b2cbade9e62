// A user's ESM gateway, run against the packed tarballs installed from npm:
// three failed logins from one client, the third answered 403 by Portcullis.
import express from 'express';
import { MemoryBanStore, parseConfig } from '@portcullis/core';
import { portcullis } from '@portcullis/express';

const config = parseConfig({
  trustProxy: ['127.0.0.1'],
  jails: { 'django-login': { preset: 'django.login', maxretry: 2 } },
});
const guard = portcullis(config, { store: new MemoryBanStore({ config }) });
await guard.ready();
const app = express();
app.use(guard);
app.post('/auth/login/', (_req, res) => void res.status(401).json({ detail: 'Invalid credentials' }));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${server.address().port}/auth/login/`;
const statuses = [];
for (let i = 0; i < 3; i++) {
  const res = await fetch(url, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.7' } });
  statuses.push(res.status);
}
server.close();
await guard.close();
process.stdout.write(`${JSON.stringify(statuses)}\n`);
