import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The packages as a user gets them: `npm pack` of each workspace, installed
// from the tarballs into an empty project (and into a global prefix, as
// `npm i -g` does). Third-party dependencies come from npm's cache or the registry.
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = fileURLToPath(new URL('./consumer/', import.meta.url));
const PACKAGES = ['core', 'express', 'sidecar', 'cli'];
const run = promisify(execFile);
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const versionOf = (path: string) => (JSON.parse(readFileSync(join(root, path, 'package.json'), 'utf8')) as { version: string }).version;

// npm passes its own npm_config_* settings (workspace, prefix…) to scripts: the user's npm has none
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
const exec = async (file: string, args: string[], cwd: string) => {
  try {
    return await run(file, args, { cwd, env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
};

interface PackResult {
  name: string;
  filename: string;
  files: { path: string }[];
}

describe('the packed packages, installed from their tarballs', () => {
  let work: string;
  let app: string;
  let globalPrefix: string;
  let packed: PackResult[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pc-packed-'));
    await exec(process.execPath, [tsc, '-b'], root);
    const workspaces = PACKAGES.flatMap((p) => ['-w', `packages/${p}`]);
    const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', work, ...workspaces], root);
    packed = JSON.parse(stdout) as PackResult[];
    const tarballs = packed.map((p) => join(work, p.filename));

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    for (const f of ['esm.mjs', 'app.mts', 'tsconfig.json']) copyFileSync(join(fixtures, f), join(app, f));
    // the same third-party versions the repository is tested with (npm's cache has them)
    const types = ['@types/express', '@types/node'].map((t) => `${t}@${versionOf(`node_modules/${t}`)}`);
    const npmInstall = ['install', '--no-audit', '--no-fund', '--prefer-offline'];
    await exec('npm', [...npmInstall, ...tarballs, `express@${versionOf('node_modules/express')}`, ...types], app);

    globalPrefix = join(work, 'global');
    await exec('npm', [...npmInstall, '--global', '--prefix', globalPrefix, ...tarballs.filter((t) => !t.includes('express'))], work);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('each tarball holds its manifest, its build and its bins, no sources or tests', () => {
    expect(packed.map((p) => p.name).sort()).toEqual(PACKAGES.map((p) => `@portcullis/${p}`).sort());
    for (const p of packed) {
      const paths = p.files.map((f) => f.path);
      expect(paths).toContain('package.json');
      expect(paths).toContain('dist/index.js');
      expect(paths).toContain('dist/index.d.ts');
      expect(paths.filter((f) => !/^(package\.json|README\.md|LICENSE|dist\/.+|bin\/.+\.js|lua\/.+\.lua)$/.test(f))).toEqual([]);
    }
    // every Lua script core loads at run time ships with it
    const luaFiles = readdirSync(join(root, 'packages/core/lua'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lua'));
    expect(luaFiles.length).toBeGreaterThan(0);
    const corePaths = packed.find((p) => p.name === '@portcullis/core')!.files.map((f) => f.path);
    for (const f of luaFiles) expect(corePaths).toContain(`lua/${f}`);
  });

  it('portcullis --help and --version from the project install (node_modules/.bin)', async () => {
    const bin = join(app, 'node_modules/.bin/portcullis');
    expect((await exec(bin, ['--help'], app)).stdout).toMatch(/^Usage: portcullis /);
    expect((await exec(bin, ['--version'], app)).stdout.trim()).toBe(versionOf('packages/cli'));
  });

  it('portcullis-sidecar --help from the project install', async () => {
    const { stdout } = await exec(join(app, 'node_modules/.bin/portcullis-sidecar'), ['--help'], app);
    expect(stdout).toMatch(/^Usage: portcullis-sidecar/);
  });

  it('both bins from a global install (npm i -g of the tarballs)', async () => {
    expect((await exec(join(globalPrefix, 'bin/portcullis'), ['--help'], work)).stdout).toMatch(/^Usage: portcullis /);
    expect((await exec(join(globalPrefix, 'bin/portcullis-sidecar'), ['--help'], work)).stdout).toMatch(/^Usage: portcullis-sidecar/);
  });

  it('portcullis and portcullis-sidecar through npx of the tarballs', async () => {
    const tarball = (pkg: string) => join(work, packed.find((p) => p.name === `@portcullis/${pkg}`)!.filename);
    const npx = (pkg: string, bin: string) =>
      exec('npx', ['--yes', '--prefer-offline', '--package', tarball('core'), '--package', tarball(pkg), bin, '--help'], work);
    expect((await npx('cli', 'portcullis')).stdout).toMatch(/^Usage: portcullis /);
    expect((await npx('sidecar', 'portcullis-sidecar')).stdout).toMatch(/^Usage: portcullis-sidecar/);
  });

  it('@portcullis/express imported from ESM bans a client through a real Express app', async () => {
    const { stdout } = await exec(process.execPath, ['esm.mjs'], app);
    expect(stdout.trim().split('\n').at(-1)).toBe('[401,401,403]');
  });

  it('@portcullis/express type-checks from TypeScript (strict, NodeNext, lib check on)', async () => {
    await exec(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
  });
});

describe('a bin before its package is built', () => {
  it('says dist/ is missing and how to build it, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-unbuilt-'));
    try {
      mkdirSync(join(dir, 'bin'));
      copyFileSync(join(root, 'packages/cli/bin/portcullis.js'), join(dir, 'bin/portcullis.js'));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      const err = await run(process.execPath, [join(dir, 'bin/portcullis.js'), '--help'], { encoding: 'utf8' }).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(1);
      expect(err?.stderr).toBe(
        `portcullis: ${join(dir, 'dist/main.js')} is missing: the package is not built (in the repository: npm run build)\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
