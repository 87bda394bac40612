/**
 * Archiving by itself. `scheduleAutoArchive(ledgerDir)` is called after each captured run: when the ledger's
 * config.json says `"archive": {"to": …, "auto": true}`, it starts `ffaudit archive` as a detached background
 * process (output appended to DIR/archive.log) and returns at once, so the run it follows is never slowed. When
 * archiving is not configured it costs one small file read; when an archive is already running, nothing starts.
 * It never throws: a run must not fail because its copy could not be scheduled.
 *
 * An archive that refuses (a fork, a rollback, a forged archive checkpoint, a missing report) leaves
 * DIR/archive-refused.json, and every later run says so on its standard error until an archive to that location
 * succeeds: a refusal written only to archive.log, in a folder whoever forked the ledger controls, would go unseen.
 * (The run that starts the refused archive has returned by then: waiting for the archive would slow every run.)
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../ledger/safe-files.js';
import { readArchiveConfig } from './config.js';
import { startDetached } from '../ledger/background.js';
import { archiveLockHolder } from './lock.js';

export const AUTO_LOG = 'archive.log';
export const REFUSED_FILE = 'archive-refused.json';

/** What a refused archive run leaves for the runs after it. */
interface Refusal {
  location: string;
  time: string;
  problems: { kind: string; size?: number | undefined; index?: number | undefined }[];
}

/**
 * Records that an archive to `location` refused (called by `ffaudit archive`); best effort. The file is written
 * whole and renamed over the name (safe-files.ts), never through whatever link someone left there.
 */
export function recordArchiveRefusal(ledgerDir: string, location: string, problems: Refusal['problems']): void {
  const r: Refusal = { location, time: new Date().toISOString(), problems: problems.slice(0, 10).map((p) => ({ kind: p.kind, size: p.size, index: p.index })) };
  const path = join(ledgerDir, REFUSED_FILE);
  try {
    writeFileAtomically(path, `${JSON.stringify(r)}\n`, 0o600);
  } catch {
    // archive.log has it too
  }
}

/** An archive to `location` succeeded: a refusal recorded for it is over. */
export function clearArchiveRefusal(ledgerDir: string, location: string): void {
  if (readRefusal(ledgerDir)?.location === location) rmSync(join(ledgerDir, REFUSED_FILE), { force: true });
}

/** The recorded refusal. Read by every run: a link, a FIFO or a huge file there is no refusal, and never a wait. */
function readRefusal(ledgerDir: string): Refusal | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(join(ledgerDir, REFUSED_FILE), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 65536) return undefined;
    const r = JSON.parse(readFileSync(fd, 'utf8')) as Partial<Refusal> | null;
    return typeof r?.location === 'string' && Array.isArray(r.problems) ? (r as Refusal) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The line a run prints when the last archive to `location` refused. The file is as hostile as the rest of the
 * folder: only finding kinds and sizes are taken from it, and the location is the config's.
 */
function refusalLine(ledgerDir: string, location: string): string | undefined {
  const r = readRefusal(ledgerDir);
  if (!r || r.location !== location) return undefined;
  const found = r.problems
    .filter((p) => typeof p?.kind === 'string' && /^[a-z-]{1,40}$/.test(p.kind))
    .map((p) => `${p.kind}${Number.isSafeInteger(p.size) ? ` at size ${p.size}` : Number.isSafeInteger(p.index) ? ` (entry ${p.index})` : ''}`);
  const what = found.length > 0 ? found.join(', ') : 'a finding';
  const cause = found.some((f) => f.startsWith('fork') || f.startsWith('rollback'))
    ? ': the local log is not an append-only extension of the archive (an older copy of the ledger restored from a backup and new entries appended, or a history rewritten with the signing key)'
    : '';
  const when = typeof r.time === 'string' && /^[0-9T:.Z-]{1,40}$/.test(r.time) ? ` since ${r.time}` : '';
  return `ffaudit: automatic archiving to ${printableLocation(location)} is REFUSED${when} (${what})${cause}; nothing is archived until this is resolved: run ffaudit verify, and see ${join(ledgerDir, AUTO_LOG)}\n`;
}

/** The location as one line of text (a config value). */
function printableLocation(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** Starts a background archive of the ledger at `ledgerDir` if its config asks for one; returns the child's PID. */
export function scheduleAutoArchive(ledgerDir: string): void {
  startAutoArchive(ledgerDir, process.stderr);
}

/**
 * As scheduleAutoArchive, returning the PID of the process started (undefined when none was); a refusal left by
 * an earlier archive is written to `stderr` when given.
 */
export function startAutoArchive(ledgerDir: string, stderr?: { write: (s: string) => unknown }): number | undefined {
  try {
    const cfg = readArchiveConfig(ledgerDir);
    if (!cfg.auto || !cfg.to) return undefined;
    if (stderr) {
      const refused = refusalLine(ledgerDir, cfg.to);
      if (refused) stderr.write(refused);
    }
    if (archiveLockHolder(ledgerDir) !== undefined) return undefined;
    return startDetached(ledgerDir, AUTO_LOG, ['archive', '--if-idle'], process.env);
  } catch {
    return undefined;
  }
}
