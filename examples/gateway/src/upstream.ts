import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { startStandInDjango } from './stand-in-django.js';
import { spawnTied } from './tied-child.js';

export interface Upstream {
  url: string;
  kind: 'example Django' | 'stand-in';
  stop(): Promise<void>;
}

const DJANGO_DIR = fileURLToPath(new URL('../../django/', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Django exited with code ${child.exitCode}`);
    try {
      await fetch(url, { redirect: 'manual' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`Django did not answer at ${url} within ${timeoutMs} ms`);
}

/**
 * For the quickstart, when no DJANGO_URL is given: the example Django project
 * if a Python with Django is at hand (Debian's python3-django), otherwise the
 * stand-in that answers like the guide's API login.
 */
export async function startDemoUpstream(log: Logger, python = process.env.PYTHON ?? '/usr/bin/python3'): Promise<Upstream> {
  const hasDjango = existsSync(`${DJANGO_DIR}run.sh`) && spawnSync(python, ['-c', 'import django'], { stdio: 'ignore' }).status === 0;
  if (hasDjango) {
    const port = await freePort();
    // tied: Django never outlives the gateway, however the gateway ends
    const child = spawnTied('sh', [`${DJANGO_DIR}run.sh`], {
      env: { ...process.env, PYTHON: python, PORT: String(port), HOST: '127.0.0.1', DJANGO_DEBUG: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitHttp(url, child, 60_000);
      return {
        url,
        kind: 'example Django',
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
        },
      };
    } catch (err) {
      if (child.exitCode === null) child.kill('SIGKILL');
      log.warn({ err: (err as Error).message }, 'example Django did not start; using the stand-in');
    }
  }
  const standIn = await startStandInDjango();
  return { url: standIn.url, kind: 'stand-in', stop: standIn.close };
}
