/**
 * The one error type of ffaudit. Every failure a user can meet carries a code; the CLI maps codes to exit
 * statuses in one place (src/cli/exit.ts) and the server will map them to HTTP statuses the same way.
 * Tests assert on `code`, never on message text.
 */
export type ErrorCode =
  | 'USAGE' // bad arguments or options
  | 'NO_LEDGER' // the named ledger does not exist
  | 'LEDGER_EXISTS' // init over an existing ledger
  | 'NOT_FOUND' // an index, run or file that is not there
  | 'BAD_INPUT' // a malformed checkpoint, proof, bundle or other file given to us
  | 'KEY' // the signing key is missing, unreadable or malformed
  | 'STORE' // the database cannot be opened or written
  | 'BUSY' // the database stayed locked longer than we are willing to wait
  | 'IO' // a file could not be read or written
  | 'INTEGRITY' // verification found a problem (the caller reports the findings)
  | 'FFMPEG_NOT_FOUND' // no FFmpeg binary could be found
  | 'RECORD' // the start of a run could not be recorded (fail closed)
  | 'ARCHIVE' // the archive could not be read or written
  | 'UNAUTHORIZED' // no credential, or one the server does not know (an API bearer token)
  | 'FORBIDDEN' // the server refused a credential (an enrolment token) or a signature, or a token's role is too low
  | 'CONFLICT' // the request contradicts what the server already holds
  | 'TOO_LARGE' // a request body or file over its documented bound
  | 'INTERNAL';

export class FfauditError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FfauditError';
    this.code = code;
  }
}

export function isFfauditError(e: unknown): e is FfauditError {
  return e instanceof FfauditError;
}
