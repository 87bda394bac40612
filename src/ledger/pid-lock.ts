/**
 * A lock file beside the ledger holding the PID of the process at work (one archive, one push at a time: they are
 * started in the background after every run and must not pile up). A lock whose process is gone is stale and taken
 * over. Created with O_EXCL and never through a link someone left at the name.
 */
import { closeSync, constants, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The PID holding DIR/`file`, if that process is alive. */
export function pidLockHolder(ledgerDir: string, file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(ledgerDir, file), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** Takes DIR/`file` or fails with BUSY naming `what` ("archive", "push"); returns the release function. */
export function acquirePidLock(ledgerDir: string, file: string, what: string): () => void {
  const path = join(ledgerDir, file);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FfauditError('IO', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code}`);
      const holder = pidLockHolder(ledgerDir, file);
      if (holder !== undefined) throw new FfauditError('BUSY', `another ${what} of this ledger is running (pid ${holder})`);
      try {
        unlinkSync(path); // stale
      } catch {
        // someone else took it over first; try again
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return () => {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    };
  }
  throw new FfauditError('BUSY', `another ${what} of this ledger is starting`);
}
