/**
 * The one place where errors become exit statuses (README, "Exit statuses"):
 *   0 success / intact; 1 integrity failure found (or, for trace/report, a file no run produced or read);
 *   2 could not run (bad arguments, no ledger, unreadable input); 3 the witness quorum the ledger's policy sets is
 *   not met (`verify` with no other finding, `push`); for `ffaudit ffmpeg|ffprobe`: FFmpeg's own status,
 *   125 when the start of the run could not be recorded (fail closed), 127 when no FFmpeg was found.
 */
import { isFfauditError, type ErrorCode } from '../core/errors.js';

export const EXIT_OK = 0;
export const EXIT_INTEGRITY = 1;
export const EXIT_USAGE = 2;
/** Nothing is wrong with the log, but the witnesses its policy requires have not cosigned it: not an integrity failure. */
export const EXIT_QUORUM = 3;
export const EXIT_NOT_RECORDED = 125;
export const EXIT_FFMPEG_NOT_FOUND = 127;

const STATUS: Record<ErrorCode, number> = {
  USAGE: EXIT_USAGE,
  NO_LEDGER: EXIT_USAGE,
  LEDGER_EXISTS: EXIT_USAGE,
  NOT_FOUND: EXIT_USAGE,
  BAD_INPUT: EXIT_USAGE,
  KEY: EXIT_USAGE,
  STORE: EXIT_USAGE,
  BUSY: EXIT_USAGE,
  IO: EXIT_USAGE,
  ARCHIVE: EXIT_USAGE,
  UNAUTHORIZED: EXIT_USAGE,
  FORBIDDEN: EXIT_USAGE,
  CONFLICT: EXIT_USAGE,
  TOO_LARGE: EXIT_USAGE,
  INTERNAL: EXIT_USAGE,
  INTEGRITY: EXIT_INTEGRITY,
  FFMPEG_NOT_FOUND: EXIT_FFMPEG_NOT_FOUND,
  RECORD: EXIT_NOT_RECORDED,
};

export function exitStatusFor(e: unknown): number {
  return isFfauditError(e) ? STATUS[e.code] : EXIT_USAGE;
}

/**
 * Prints one line to `err` (the stack only with --verbose) and returns the exit status: the one path from an error
 * to what the user sees, whether the command runs in its own process or in a test's.
 */
export function reportError(e: unknown, verbose: boolean, err: (text: string) => void = (t) => process.stderr.write(t)): number {
  const msg = e instanceof Error ? e.message : String(e);
  err(`ffaudit: ${msg.split('\n')[0]}\n`);
  if (verbose && e instanceof Error && e.stack) err(`${e.stack}\n`);
  return exitStatusFor(e);
}

/**
 * Ends the process when standard output fails. A reader that stops early (`ffaudit export … | head`) closes the
 * pipe: that ends the output with the status so far, it is not a failure worth a stack trace. Any other write
 * error is one line and exit 2.
 */
export function exitOnStdoutError(stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream): void {
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
    stderr.write(`ffaudit: cannot write to standard output: ${e.code ?? e.message}\n`);
    process.exit(EXIT_USAGE);
  });
}
