import type { PortcullisConfig } from '@portcullis/core';
import { usageError } from './usage-error.js';

const FUNCTIONS = ['keyGenerator', 'skip', 'handler', 'classify'] as const;
const KNOWN = new Set<string>([...FUNCTIONS, 'store', 'logger', 'by', 'readyTimeout', 'trustProxy']);
const STORE_METHODS = ['connect', 'recordFailure', 'activeBans', 'subscribe', 'close'] as const;
const LOGGER_METHODS = ['info', 'warn', 'error', 'child'] as const;

/**
 * Checks the middleware's second argument before anything starts: each
 * misuse throws a PortcullisError with its own code and help entry. A typo
 * (keygenerator, skipRequest) is caught here rather than silently ignored.
 */
export function validateOptions(options: unknown, config: PortcullisConfig): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw usageError('ERR_PORTCULLIS_OPTIONS', `portcullis(config, options): options must be an object, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (KNOWN.has(name) || o[name] === undefined) continue;
    const near = [...KNOWN].find((k) => k.toLowerCase() === name.toLowerCase());
    throw usageError(
      'ERR_PORTCULLIS_UNKNOWN_OPTION',
      `portcullis: unknown option ${JSON.stringify(name)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}; the options are ${[...KNOWN].join(', ')}`,
    );
  }
  for (const name of FUNCTIONS) {
    if (o[name] !== undefined && typeof o[name] !== 'function') {
      throw usageError('ERR_PORTCULLIS_HOOK_NOT_FUNCTION', `portcullis: option ${name} must be a function, got ${describe(o[name])}`);
    }
  }
  if (o.store !== undefined && !hasMethods(o.store, STORE_METHODS)) {
    throw usageError(
      'ERR_PORTCULLIS_STORE',
      `portcullis: option store must be a BanStore (RedisBanStore or MemoryBanStore from @portcullis/core), got ${describe(o.store)}`,
    );
  }
  if (o.logger !== undefined && !hasMethods(o.logger, LOGGER_METHODS)) {
    throw usageError('ERR_PORTCULLIS_LOGGER', `portcullis: option logger must be a pino logger, got ${describe(o.logger)}`);
  }
  if (o.by !== undefined && (typeof o.by !== 'string' || o.by.trim() === '' || o.by.length > 200)) {
    throw usageError(
      'ERR_PORTCULLIS_OPTION_VALUE',
      `portcullis: option by must be a non-empty string of at most 200 characters, got ${describe(o.by)}`,
    );
  }
  if (o.readyTimeout !== undefined && !(typeof o.readyTimeout === 'number' && Number.isFinite(o.readyTimeout) && o.readyTimeout > 0)) {
    throw usageError(
      'ERR_PORTCULLIS_OPTION_VALUE',
      `portcullis: option readyTimeout must be a positive number of milliseconds, got ${describe(o.readyTimeout)}`,
    );
  }
  if (o.trustProxy !== undefined && o.trustProxy !== 'config' && o.trustProxy !== 'express') {
    throw usageError(
      'ERR_PORTCULLIS_OPTION_VALUE',
      `portcullis: option trustProxy must be "config" (the trustProxy list of the config) or "express" (the app's "trust proxy" setting), got ${describe(o.trustProxy)}`,
    );
  }
  // Express's setting reads X-Forwarded-For only: another client header would be ignored
  if (o.trustProxy === 'express' && config.clientHeader !== 'x-forwarded-for') {
    throw usageError(
      'ERR_PORTCULLIS_TRUST_PROXY_HEADER',
      `portcullis: trustProxy "express" reads X-Forwarded-For (as Express does), but the config's clientHeader is ${JSON.stringify(config.clientHeader)}; use the config's trustProxy list for that header`,
    );
  }
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  return typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${String(value)}`;
}
