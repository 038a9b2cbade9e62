import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE_HEADER } from '@portcullis/core';

// packages/django (portcullis_django) on Debian's Django: its own tests with
// Django's test runner, from the source and from a pip install of it.
// DJANGO_PYTHON points at another interpreter (e.g. a venv with another Django) to try that one.
const PYTHON = process.env.DJANGO_PYTHON || '/usr/bin/python3';
const pkgDir = fileURLToPath(new URL('../packages/django/', import.meta.url));
const run = promisify(execFile);
const probe = spawnSync(PYTHON, ['-c', 'import django; print(django.get_version())'], { encoding: 'utf8' });
const djangoVersion = probe.status === 0 ? probe.stdout.trim() : null;
const hasVenv = spawnSync(PYTHON, ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0;
const title = djangoVersion
  ? `packages/django on Django ${djangoVersion}`
  : `packages/django (skipped: ${PYTHON} cannot import django; apt-get install python3-django)`;

/** Runs a Python command; a failure carries the command's whole output (the test runner's report). */
async function python(interpreter: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(interpreter, args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${interpreter} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const djangoTest = ['-m', 'django', 'test', '--settings', 'tests.settings', '-v', '2'];

describe.runIf(Boolean(djangoVersion))(title, () => {
  it("the header name is the gateway's (FAILURE_HEADER in @portcullis/core)", async () => {
    const header = await python(PYTHON, ['-c', 'import portcullis_django as p; print(p.HEADER)'], pkgDir);
    expect(header.trim().toLowerCase()).toBe(FAILURE_HEADER);
  });

  it('its version is the npm packages’ version (one release)', async () => {
    const version = await python(PYTHON, ['-c', 'import portcullis_django as p; print(p.__version__)'], pkgDir);
    const core = JSON.parse(readFileSync(new URL('../packages/core/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(version.trim()).toBe(core.version);
  });

  it("its tests pass under Django's test runner (from the source folder)", async () => {
    const out = await python(PYTHON, djangoTest, pkgDir);
    expect(out).toMatch(/^OK$/m);
  });

  const venvTitle = hasVenv
    ? 'pip install --no-build-isolation into a venv (--system-site-packages: Debian’s Django)'
    : `pip install into a venv (skipped: ${PYTHON} has no venv/ensurepip; apt-get install python3-venv)`;
  describe.runIf(hasVenv)(venvTitle, () => {
    let work: string;
    let venvPython: string;

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'pc-django-pkg-'));
      // a copy: a setuptools build writes build/ and *.egg-info next to the sources
      const src = join(work, 'src');
      cpSync(pkgDir, src, { recursive: true, filter: (p) => !/(build|\.egg-info|__pycache__)$/.test(p) });
      await python(PYTHON, ['-m', 'venv', '--system-site-packages', join(work, 'venv')], work);
      venvPython = join(work, 'venv/bin/python');
      await python(venvPython, ['-m', 'pip', 'install', '--no-build-isolation', '--no-index', '--quiet', src], work);
      // only the tests beside the installed package: imports must resolve to site-packages
      cpSync(join(pkgDir, 'tests'), join(work, 'run/tests'), { recursive: true, filter: (p) => !p.endsWith('__pycache__') });
    }, 120_000);

    afterAll(() => {
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('installs as portcullis-django with its version, into the venv', async () => {
      const out = await python(
        venvPython,
        ['-c', 'import importlib.metadata as m, portcullis_django as p; print(m.version("portcullis-django"), p.__file__)'],
        join(work, 'run'),
      );
      const [version, file] = out.trim().split(' ');
      expect(version).toBe((await python(PYTHON, ['-c', 'import portcullis_django as p; print(p.__version__)'], pkgDir)).trim());
      expect(file!.startsWith(join(work, 'venv', 'lib'))).toBe(true);
    });

    it('its tests pass against the installed copy', async () => {
      const out = await python(venvPython, djangoTest, join(work, 'run'));
      expect(out).toMatch(/^OK$/m);
    });
  });
});
