import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

// Debian's interpreter (the `python3` on PATH may be another one without Django);
// DJANGO_PYTHON points at another, e.g. a venv with Django 5, to try that version
export const DJANGO_PYTHON = process.env.DJANGO_PYTHON || '/usr/bin/python3';
const exampleDir = fileURLToPath(new URL('../../../examples/django/', import.meta.url));
const probe = spawnSync(DJANGO_PYTHON, ['-c', 'import django; print(django.get_version())'], { encoding: 'utf8' });
/** the Django version at hand, or null when DJANGO_PYTHON cannot import django */
export const djangoVersion = probe.status === 0 ? probe.stdout.trim() : null;
export const djangoMissing = `${DJANGO_PYTHON} cannot import django; apt-get install python3-django`;

export const DEMO_USER = 'demo';
export const DEMO_PASSWORD = 'demo-password';

export interface ExampleDjango {
  url: string;
  /** everything it printed (for failure messages) */
  output(): string;
  close(): Promise<void>;
}

/** examples/django served by runserver on a free port, with its own sqlite database; ready when the admin login answers. */
export async function startExampleDjango(env: Record<string, string> = {}): Promise<ExampleDjango> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'pc-django-'));
  let output = '';
  const child: ChildProcess = spawn('sh', [join(exampleDir, 'run.sh')], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PYTHON: DJANGO_PYTHON,
      PORT: String(port),
      DJANGO_DB_PATH: join(dataDir, 'db.sqlite3'),
      DJANGO_DEMO_USER: DEMO_USER,
      DJANGO_DEMO_PASSWORD: DEMO_PASSWORD,
      PYTHONDONTWRITEBYTECODE: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  // migrations take a few seconds
  const deadline = Date.now() + 50_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`django exited with ${child.exitCode}:\n${output}`);
    }
    try {
      if ((await fetch(`${url}/admin/login/`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`django did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, output: () => output, close };
}
