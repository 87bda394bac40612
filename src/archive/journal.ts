/**
 * The pending-run journal: DIR/archive-pending-<id>.json says that a run to one archive location started writing
 * and has not published its checkpoint yet. It is written before the run's first object and removed once its
 * checkpoint is published, so its presence at the start of a run means an earlier run stopped half-way.
 *
 * It only saves requests, it is never trusted for integrity: on a target that cannot refuse to create a name twice
 * (an S3 server that ignores If-None-Match, such as Ceph RGW), a run that knows no earlier run stopped half-way
 * writes the new objects without asking whether they exist. The objects are named by their content (tiles and
 * bundles of a given tree size, blobs by SHA-256), so the worst an absent or lost journal can cause is a second,
 * identical, locked version of an object.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../core/entry.js';
import { writeFileAtomically } from '../ledger/safe-files.js';

export interface PendingRun {
  location: string;
  /** The archive's size when the run started, and the size it was archiving. */
  from: number;
  to: number;
}

function journalPath(ledgerDir: string, location: string): string {
  const id = sha256Hex(location).slice(0, 16);
  return join(ledgerDir, `archive-pending-${id}.json`);
}

/** The run to `location` that stopped half-way, if the journal records one. Malformed journals count as one. */
export function readPendingRun(ledgerDir: string, location: string): PendingRun | undefined {
  let text: string;
  try {
    text = readFileSync(journalPath(ledgerDir, location), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const j = JSON.parse(text) as Partial<PendingRun>;
    if (j.location === location && Number.isSafeInteger(j.from) && Number.isSafeInteger(j.to)) return j as PendingRun;
  } catch {
    // fall through: something was there, so an earlier run may have stopped half-way
  }
  return { location, from: 0, to: 0 };
}

/** Records that a run is about to write; returns false when the ledger directory cannot take the file. */
export function writePendingRun(ledgerDir: string, run: PendingRun): boolean {
  try {
    writeFileAtomically(journalPath(ledgerDir, run.location), `${JSON.stringify(run)}\n`, 0o600);
    return true;
  } catch {
    return false;
  }
}

export function clearPendingRun(ledgerDir: string, location: string): void {
  try {
    unlinkSync(journalPath(ledgerDir, location));
  } catch {
    // never written, or already gone
  }
}
