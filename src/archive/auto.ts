/**
 * Archiving by itself. `scheduleAutoArchive(ledgerDir)` is called after each captured run: when the ledger's
 * config.json says `"archive": {"to": …, "auto": true}`, it starts `ffaudit archive` as a detached background
 * process (output appended to DIR/archive.log) and returns at once, so the run it follows is never slowed. When
 * archiving is not configured it costs one small file read; when an archive is already running, nothing starts.
 * It never throws: a run must not fail because its copy could not be scheduled.
 */
import { closeSync, openSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readArchiveConfig } from './config.js';
import { archiveLockHolder } from './lock.js';

export const AUTO_LOG = 'archive.log';

/** Starts a background archive of the ledger at `ledgerDir` if its config asks for one; returns the child's PID. */
export function scheduleAutoArchive(ledgerDir: string): void {
  startAutoArchive(ledgerDir);
}

/** As scheduleAutoArchive, returning the PID of the process started (undefined when none was). */
export function startAutoArchive(ledgerDir: string): number | undefined {
  try {
    const cfg = readArchiveConfig(ledgerDir);
    if (!cfg.auto || !cfg.to) return undefined;
    if (archiveLockHolder(ledgerDir) !== undefined) return undefined;
    const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const log = openSync(join(ledgerDir, AUTO_LOG), 'a', 0o600);
    try {
      const child = spawn(process.execPath, [main, '--ledger', ledgerDir, 'archive', '--if-idle'], {
        detached: true,
        stdio: ['ignore', log, log],
        env: process.env,
      });
      child.on('error', () => undefined);
      child.unref();
      return child.pid;
    } finally {
      closeSync(log);
    }
  } catch {
    return undefined;
  }
}
