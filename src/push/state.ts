/**
 * What a push keeps beside the ledger between pushes (never evidence: losing it costs a resend, nothing else):
 *
 * - DIR/push-state.json: `{"server": URL, "blobs_through": N}`: every blob named by entries 0…N−1 was accepted by
 *   that server. Blobs are sent after the mirror holds the entry that names them, and a push interrupted between
 *   the two must not lose them; a missing or unreadable state starts again from 0 (the server answers 200 for a
 *   blob it has).
 * - DIR/push.lock: the PID of the push running in the background (ledger/pid-lock.ts), so that pushes started
 *   after each run do not pile up.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquirePidLock, pidLockHolder } from '../ledger/pid-lock.js';
import { writeFileAtomically } from '../ledger/safe-files.js';

export const PUSH_STATE_FILE = 'push-state.json';
export const PUSH_LOCK_FILE = 'push.lock';

/** The entries whose blobs `server` has all accepted: [0, the returned size). The file is hostile: bounded, checked. */
export function blobsThrough(ledgerDir: string, server: string): number {
  let fd: number | undefined;
  try {
    fd = openSync(join(ledgerDir, PUSH_STATE_FILE), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 4096) return 0;
    const s = JSON.parse(readFileSync(fd, 'utf8')) as { server?: unknown; blobs_through?: unknown } | null;
    return s?.server === server && Number.isSafeInteger(s.blobs_through) && (s.blobs_through as number) >= 0 ? (s.blobs_through as number) : 0;
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Records that `server` holds every blob of entries [0, n); never moves backwards (two pushes may overlap). */
export function recordBlobsThrough(ledgerDir: string, server: string, n: number): void {
  if (n <= blobsThrough(ledgerDir, server)) return;
  try {
    writeFileAtomically(join(ledgerDir, PUSH_STATE_FILE), `${JSON.stringify({ server, blobs_through: n })}\n`, 0o600);
  } catch {
    // best effort: the next push sends those blobs again
  }
}

/** The PID holding the push lock, if that process is alive. */
export const pushLockHolder = (ledgerDir: string): number | undefined => pidLockHolder(ledgerDir, PUSH_LOCK_FILE);

/** Takes the push lock or fails with BUSY; returns the release function. */
export const acquirePushLock = (ledgerDir: string): (() => void) => acquirePidLock(ledgerDir, PUSH_LOCK_FILE, 'push');
