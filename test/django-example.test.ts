import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/redis-server.js';

// Debian's interpreter (the `python3` on PATH may be another one without Django);
// DJANGO_PYTHON points at another, e.g. a venv with Django 5, to try that version
const PYTHON = process.env.DJANGO_PYTHON || '/usr/bin/python3';
const exampleDir = fileURLToPath(new URL('../examples/django/', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import django; print(django.get_version())'], { encoding: 'utf8' });
const djangoVersion = probe.status === 0 ? probe.stdout.trim() : null;
const title = djangoVersion
  ? `examples/django on Django ${djangoVersion}`
  : `examples/django (skipped: ${PYTHON} cannot import django; apt-get install python3-django)`;

const USER = 'demo';
const PASSWORD = 'demo-password';

describe.runIf(Boolean(djangoVersion))(title, () => {
  let child: ChildProcess;
  let base: string;
  let dataDir: string;
  let output = '';

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    dataDir = mkdtempSync(join(tmpdir(), 'pc-django-'));
    child = spawn('sh', [join(exampleDir, 'run.sh')], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        PYTHON,
        PORT: String(port),
        DJANGO_DB_PATH: join(dataDir, 'db.sqlite3'),
        DJANGO_DEMO_USER: USER,
        DJANGO_DEMO_PASSWORD: PASSWORD,
        PYTHONDONTWRITEBYTECODE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    // ready when the admin login page answers (migrations take a few seconds)
    const deadline = Date.now() + 50_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`django exited with ${child.exitCode}:\n${output}`);
      try {
        if ((await fetch(`${base}/admin/login/`)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`django did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const postJson = (path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), redirect: 'manual' });

  it('POST /auth/login/: bad credentials 401 (marked), good 200 (not marked)', async () => {
    const bad = await postJson('/auth/login/', { username: USER, password: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('x-portcullis-failure')).toBe('django-login');
    const good = await postJson('/auth/login/', { username: USER, password: PASSWORD });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true, username: USER });
    expect(good.headers.get('x-portcullis-failure')).toBeNull();
    expect((await postJson('/auth/login/', { username: USER })).status).toBe(400);
  });

  it('POST /custom/login/: always 200, only the header tells a failure', async () => {
    const bad = await postJson('/custom/login/', { username: USER, password: 'wrong' });
    expect(bad.status).toBe(200);
    expect(await bad.json()).toEqual({ ok: false });
    expect(bad.headers.get('x-portcullis-failure')).toBe('django-login');
    const unknown = await postJson('/custom/login/', { username: 'nobody', password: 'x' });
    expect(unknown.headers.get('x-portcullis-failure')).toBe('django-login');
    const good = await postJson('/custom/login/', { username: USER, password: PASSWORD });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true });
    expect(good.headers.get('x-portcullis-failure')).toBeNull();
  });

  it('the admin login: failure re-renders the form with 200, success is a 302', async () => {
    const adminLogin = async (password: string) => {
      const page = await fetch(`${base}/admin/login/`);
      const cookie = page.headers.getSetCookie().find((c) => c.startsWith('csrftoken='))!.split(';')[0]!;
      const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(await page.text())![1]!;
      return fetch(`${base}/admin/login/?next=/admin/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ csrfmiddlewaretoken: token, username: USER, password, next: '/admin/' }),
        redirect: 'manual',
      });
    };
    const bad = await adminLogin('wrong');
    expect(bad.status).toBe(200);
    expect(await bad.text()).toContain('id="login-form"');
    expect(bad.headers.get('x-portcullis-failure')).toBe('django-login');
    const good = await adminLogin(PASSWORD);
    expect(good.status).toBe(302);
    expect(good.headers.get('location')).toBe('/admin/');
    expect(good.headers.get('x-portcullis-failure')).toBeNull();
  });

  it('a clean request carries no failure header', async () => {
    const r = await fetch(`${base}/admin/login/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-portcullis-failure')).toBeNull();
  });
});
