import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@portcullis/testkit';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const GATEWAY = join(ROOT, 'examples/gateway/dist/main.js');
const PYTHON = '/usr/bin/python3';
const hasDjango = spawnSync(PYTHON, ['-c', 'import django'], { stdio: 'ignore' }).status === 0;

/**
 * Live processes carrying `marker` in their environment: every process a
 * run started (npm, node, sh, Django) inherits it. Zombies are dead.
 */
function tagged(marker: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push({ pid: Number(entry), cmd: readFileSync(`/proc/${entry}/cmdline`, 'latin1').replace(/\0/g, ' ').trim() });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface Run {
  child: ChildProcess;
  marker: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

let dataDir: string;

/** Starts a command with the gateway's environment and a marker to find its processes by. */
function start(command: string, args: string[], env: Record<string, string> = {}): Run {
  const marker = `PC_LIFECYCLE_RUN=${randomUUID()}`;
  const base: Record<string, string | undefined> = { ...process.env };
  // this test says what the gateway reads
  for (const k of ['REDIS_URL', 'PORTCULLIS_CONFIG', 'DJANGO_URL', 'NODE_ENV', 'LOG_FORMAT', 'PORT', 'npm_lifecycle_event']) delete base[k];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      ...base,
      PORT: '0',
      HOST: '127.0.0.1',
      PYTHON,
      DJANGO_DB_PATH: join(dataDir, 'db.sqlite3'),
      [marker.split('=')[0]!]: marker.split('=')[1]!,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, marker, stdout: () => out, stderr: () => err, exited };
}

/** The gateway's start line (JSON logs), once it is listening. */
async function listening(run: Run): Promise<{ pid: number; port: number; upstream: string }> {
  let line: { pid: number; port: number; upstream: string } | undefined;
  await waitFor(
    `the start line of ${run.child.spawnargs.join(' ')}\n${run.stdout()}\n${run.stderr()}`,
    () => {
      const text = run
        .stdout()
        .split('\n')
        .find((l) => l.includes('portcullis gateway listening'));
      if (text) line = JSON.parse(text) as typeof line;
      return line !== undefined || run.child.exitCode !== null;
    },
    150_000,
  );
  if (!line) throw new Error(`exited before listening:\n${run.stdout()}\n${run.stderr()}`);
  return line;
}

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'pc-lifecycle-'));
  // `npm start` builds; build once here so each start below only checks
  const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: ROOT, encoding: 'utf8' });
  expect(build.status, build.stdout).toBe(0);
}, 180_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const title = hasDjango
  ? '`npm start` with the example Django: no process outlives it'
  : `\`npm start\` lifecycle (skipped: ${PYTHON} cannot import django; apt-get install python3-django)`;

describe.runIf(hasDjango)(title, () => {
  for (const [how, target, signal] of [
    ['SIGTERM to npm', 'npm', 'SIGTERM'],
    ['SIGINT to npm (Ctrl-C)', 'npm', 'SIGINT'],
    ['SIGKILL to npm: the orphaned gateway stops by itself', 'npm', 'SIGKILL'],
    ['SIGKILL to the gateway: the kernel ends Django', 'gateway', 'SIGKILL'],
  ] as const) {
    it(how, async () => {
      const run = start('npm', ['start'], { LOG_FORMAT: 'json' });
      const { pid, upstream } = await listening(run);
      expect(upstream).toBe('example Django');
      const before = tagged(run.marker);
      expect(before.some((p) => p.pid === pid)).toBe(true);
      expect(before.some((p) => p.cmd.includes('manage.py runserver'))).toBe(true);
      // npm start → node directly (exec): no shell between them
      expect(before.some((p) => /^sh -c/.test(p.cmd))).toBe(false);

      process.kill(target === 'npm' ? run.child.pid! : pid, signal);
      await run.exited;
      await waitFor(`no process of the run left (${JSON.stringify(tagged(run.marker))})`, () => tagged(run.marker).length === 0, 60_000);
      if (signal !== 'SIGKILL') expect(run.stdout()).toContain('portcullis gateway stopping');
    }, 200_000);
  }

  it('a busy port: one readable line, exit 1, Django never started', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const run = start(process.execPath, [GATEWAY], {
        PORT: String(port),
        PORTCULLIS_CONFIG: join(ROOT, 'examples/gateway/demo.yml'),
        npm_lifecycle_event: 'start',
      });
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toBe(
        `portcullis gateway: cannot listen on 127.0.0.1:${port}: the address is in use (another gateway still running?); stop it or set PORT\n`,
      );
      expect(run.stdout()).toBe('');
      expect(tagged(run.marker)).toEqual([]);
    } finally {
      busy.close();
    }
  }, 60_000);
});

describe('the example gateway tells a user what is wrong, and logs short lines', () => {
  it('a bad config: the readable list on stderr, exit 1', async () => {
    const file = join(dataDir, 'bad.yml');
    writeFileSync(file, 'defaults: { maxretry: 0, bantime: "1 hour" }\n');
    const run = start(process.execPath, [GATEWAY], { PORTCULLIS_CONFIG: file });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toBe(
      `portcullis gateway: Invalid Portcullis config in ${file}:\n` +
        '  - defaults.bantime: expected a duration like 600, "10m", "1h", "1d", "1w" or -1 (forever), got "1 hour"\n' +
        '  - defaults.maxretry: maxretry must be at least 1\n',
    );
    expect(run.stdout()).toBe('');
    const port = start(process.execPath, [GATEWAY], { PORT: 'http' });
    expect(await port.exited).toBe(1);
    expect(port.stderr()).toBe(
      'portcullis gateway: Invalid Portcullis config in the environment:\n  - PORT: expected a port number (0-65535), got "http"\n',
    );
  }, 60_000);

  it('JSON request lines carry method, url, status, time and client, not the headers', async () => {
    // no Django here: the stand-in answers
    const run = start(process.execPath, [GATEWAY], {
      PYTHON: '/nonexistent/python3',
      PORTCULLIS_CONFIG: join(ROOT, 'examples/gateway/demo.yml'),
      LOG_FORMAT: 'json',
    });
    try {
      const { port, upstream } = await listening(run);
      expect(upstream).toBe('stand-in');
      const res = await fetch(`http://127.0.0.1:${port}/auth/login/?next=/`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Cookie: `sessionid=${'s'.repeat(400)}`,
          Authorization: 'Bearer secret-token',
          'X-Forwarded-For': '203.0.113.7',
        },
        body: '{"username":"u","password":"hunter2"}',
      });
      expect(res.status).toBe(401);
      let line = '';
      await waitFor(
        'the request line',
        () => {
          line =
            run
              .stdout()
              .split('\n')
              .find((l) => l.includes('"statusCode":401')) ?? '';
          return line !== '';
        },
        30_000,
      );
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(entry).toMatchObject({ req: { method: 'POST', url: '/auth/login/?next=/' }, res: { statusCode: 401 }, client: '203.0.113.7' });
      expect(typeof entry.responseTime).toBe('number');
      expect(line).not.toMatch(/secret-token|sessionid|hunter2|headers/);
      expect(Buffer.byteLength(line)).toBeLessThan(300);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  }, 60_000);

  it('human-readable lines with NODE_ENV=development (and on a terminal)', async () => {
    const run = start(process.execPath, [GATEWAY], {
      PYTHON: '/nonexistent/python3',
      NODE_ENV: 'development',
      PORTCULLIS_CONFIG: join(ROOT, 'examples/gateway/demo.yml'),
    });
    try {
      await waitFor('the start line', () => run.stdout().includes('portcullis gateway listening'), 30_000);
      const line = run
        .stdout()
        .split('\n')
        .find((l) => l.includes('portcullis gateway listening'))!;
      expect(line).toMatch(
        /^\[\d{2}:\d{2}:\d{2}\] INFO: portcullis gateway listening on :(\d+) → stand-in at http:\/\/127\.0\.0\.1:\d+; mode: embedded/,
      );
      expect(() => JSON.parse(line)).toThrow();
      const port = /listening on :(\d+)/.exec(line)![1];
      const res = await fetch(`http://127.0.0.1:${port}/auth/login/`, {
        method: 'POST',
        headers: { 'X-Forwarded-For': '203.0.113.7', Cookie: 'sessionid=s' },
        body: 'password=bad',
      });
      expect(res.status).toBe(401);
      // a request is one line: method, url, status, time, client
      await waitFor('the request line', () => / INFO: POST \/auth\/login\/ 401 \d+ ms 203\.0\.113\.7\n/.test(run.stdout()), 30_000);
      expect(run.stdout()).not.toContain('sessionid');
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  }, 60_000);
});
