/**
 * What a command may use of the process it runs in, passed in rather than reached for: main.ts gives the real
 * streams, environment and directory; tests give a capturing one and run the commands in their own process. A
 * command that wrote to process.stdout or read process.cwd() directly would behave differently in the two.
 */
import { isAbsolute, resolve } from 'node:path';
import { FfauditError } from '../core/errors.js';

export interface Io {
  /** Standard output: the command's result, written as given (bytes stay bytes: `entry --raw`, `show --report --raw`). */
  out: (data: string | Uint8Array) => void;
  /** Standard error: notices, warnings, progress and the one-line error. */
  err: (text: string) => void;
  /** Whether standard output is a terminal, and how wide (a table is cut to fit one). */
  outTTY: boolean;
  columns: number | undefined;
  /** Whether standard error is a terminal: progress bars are drawn only there. */
  errTTY: boolean;
  /** The environment: FFAUDIT_* defaults and XDG_DATA_HOME (the per-user ledger). */
  env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths on the command line are resolved against. */
  cwd: string;
  /** Standard input (redaction-check reads the value there, so that it never appears in a command line). */
  stdin: AsyncIterable<Uint8Array>;
}

/** A path given on the command line, made absolute against the command's directory. */
export function pathFrom(io: Pick<Io, 'cwd'>, path: string): string {
  if (isAbsolute(path)) return resolve(path);
  let cwd: string;
  try {
    cwd = io.cwd;
  } catch {
    throw new FfauditError('IO', `cannot resolve ${path}: the current directory no longer exists`);
  }
  return resolve(cwd, path);
}

/** An archive location (s3://… or a directory): a URL as given, a directory made absolute as a path is. */
export function locationFrom(io: Pick<Io, 'cwd'>, text: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : pathFrom(io, text);
}

/** The real process's streams, environment and directory (main.ts). */
export function processIo(): Io {
  return {
    out: (data) => process.stdout.write(data),
    err: (text) => process.stderr.write(text),
    outTTY: process.stdout.isTTY === true,
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    errTTY: process.stderr.isTTY === true,
    env: process.env,
    // Both read on first use only: a command that names only absolute paths runs from a deleted directory (whose
    // process.cwd() throws), and creating process.stdin puts a pipe shared with other processes in non-blocking mode.
    get cwd() {
      return process.cwd();
    },
    get stdin() {
      return process.stdin;
    },
  };
}
