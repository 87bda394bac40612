/**
 * The one place where errors become exit statuses (README, "Exit statuses"):
 *   0 success / intact; 1 integrity failure found (or, for trace/report, a file no run produced or read);
 *   2 could not run (bad arguments, no ledger, unreadable input); for `ffaudit ffmpeg|ffprobe`: FFmpeg's own status,
 *   125 when the start of the run could not be recorded (fail closed), 127 when no FFmpeg was found.
 */
import { isFfauditError, type ErrorCode } from '../core/errors.js';

export const EXIT_OK = 0;
export const EXIT_INTEGRITY = 1;
export const EXIT_USAGE = 2;
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
  INTERNAL: EXIT_USAGE,
  INTEGRITY: EXIT_INTEGRITY,
  FFMPEG_NOT_FOUND: EXIT_FFMPEG_NOT_FOUND,
  RECORD: EXIT_NOT_RECORDED,
};

export function exitStatusFor(e: unknown): number {
  return isFfauditError(e) ? STATUS[e.code] : EXIT_USAGE;
}

/** Prints one line (the stack only with --verbose) and returns the exit status. */
export function reportError(e: unknown, verbose: boolean): number {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`ffaudit: ${msg.split('\n')[0]}\n`);
  if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return exitStatusFor(e);
}
