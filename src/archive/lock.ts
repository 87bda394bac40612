/** One archive run per ledger at a time (auto-archive may start one after every run): DIR/archive.lock (pid-lock.ts). */
import { acquirePidLock, pidLockHolder } from '../ledger/pid-lock.js';

export const LOCK_FILE = 'archive.lock';

/** The PID holding the lock, if that process is alive. */
export const archiveLockHolder = (ledgerDir: string): number | undefined => pidLockHolder(ledgerDir, LOCK_FILE);

/** Takes the lock or fails with BUSY; returns the release function. */
export const acquireArchiveLock = (ledgerDir: string): (() => void) => acquirePidLock(ledgerDir, LOCK_FILE, 'archive');
