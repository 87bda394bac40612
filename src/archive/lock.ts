/**
 * One archive run per ledger at a time (auto-archive may start one after every run): DIR/archive.lock holds the
 * PID of the running archiver. A lock whose process is gone is stale and taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';

export const LOCK_FILE = 'archive.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The PID holding the lock, if that process is alive. */
export function archiveLockHolder(ledgerDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(ledgerDir, LOCK_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** Takes the lock or fails with BUSY; returns the release function. */
export function acquireArchiveLock(ledgerDir: string): () => void {
  const path = join(ledgerDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FfauditError('IO', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code}`);
      const holder = archiveLockHolder(ledgerDir);
      if (holder !== undefined) throw new FfauditError('BUSY', `another archive of this ledger is running (pid ${holder})`);
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
  throw new FfauditError('BUSY', 'another archive of this ledger is starting');
}
