export { buildProgram, run, VERSION } from './program.js';
export type { Io } from './io.js';
export { EXIT, CliError, RedisUnreachableError, ReportedError, exitCodeFor, errorLine } from './errors.js';
export { parseLogLine, parseLogTime, type LogEntry, type LineParser } from './replay/parse-log.js';
export { compileLogFormat } from './replay/log-format.js';
export { replayLog, type ReplayReport, type ReplayBan, type JailTally } from './replay/replay.js';
export { table } from './format/table.js';
