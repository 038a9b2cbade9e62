// The public API of @portcullis/cli, by name: the `portcullis` program run
// in-process (never calls process.exit, writes only to the streams it is
// given), its exit codes and errors. Anything else is internal; the
// package's own tests import it from its module.
export { run, VERSION } from './program.js';
export type { Io } from './io.js';
export { EXIT, CliError, RedisUnreachableError } from './errors.js';
