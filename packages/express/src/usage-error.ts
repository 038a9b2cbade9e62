import { PortcullisError } from '@portcullis/core';

/** Where every ERR_PORTCULLIS_* code is explained, with what to do (in the repository). */
export const ERROR_CODES_DOC = 'docs/error-codes.md';

/**
 * A misuse of the middleware's options or hooks: a PortcullisError whose
 * message ends with the help entry for its code (express-rate-limit's
 * ERR_ERL_* pattern), thrown at construction or logged once at request time.
 */
export function usageError(code: `ERR_PORTCULLIS_${string}`, message: string, cause?: unknown): PortcullisError {
  const anchor = code.toLowerCase();
  return new PortcullisError(code, `${message} (${code}; see ${ERROR_CODES_DOC}#${anchor})`, cause === undefined ? undefined : { cause });
}
