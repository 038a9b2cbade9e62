#!/usr/bin/env node
// Committed entry point: npm links a bin only if its file exists at install
// time, and dist/ is built after `npm ci`. It loads the compiled sidecar.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `portcullis-sidecar: ${fileURLToPath(main)} is missing: the package is not built (in the repository: npm run build)\n`,
  );
  process.exit(1);
}
await import(main.href);
