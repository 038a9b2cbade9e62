#!/usr/bin/env node
import { processIo } from './io.js';
import { run } from './program.js';

// exitCode rather than process.exit(): stdout is flushed before the process ends
process.exitCode = await run(process.argv.slice(2), processIo());
