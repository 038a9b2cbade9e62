import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));
const testkit = (entry: string) => fileURLToPath(new URL(`./tools/testkit/${entry}/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // tests run against the TypeScript sources, never a stale dist/
    // (exact names: '@portcullis/testkit' is a prefix of '@portcullis/testkit/fixtures')
    alias: [
      { find: /^@portcullis\/core$/, replacement: src('core') },
      { find: /^@portcullis\/express$/, replacement: src('express') },
      { find: /^@portcullis\/sidecar$/, replacement: src('sidecar') },
      { find: /^@portcullis\/cli$/, replacement: src('cli') },
      { find: /^@portcullis\/testkit$/, replacement: testkit('src') },
      { find: /^@portcullis\/testkit\/fixtures$/, replacement: testkit('fixtures') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // firewall tests share the kernel's namespaces and ufw's lock: files run one at a time
    fileParallelism: false,
    reporters: ['default'],
  },
});
