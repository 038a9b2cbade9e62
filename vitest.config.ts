import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // tests run against the TypeScript sources, never a stale dist/
    alias: {
      '@portcullis/core': src('core'),
      '@portcullis/express': src('express'),
      '@portcullis/sidecar': src('sidecar'),
      '@portcullis/cli': src('cli'),
    },
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
