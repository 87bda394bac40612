/**
 * Reading runs back. The runs and file indexes only say where to look (ARCHITECTURE.md invariant 5): every run
 * returned is rebuilt from its entries, whose bytes are checked against their recorded leaf hashes here.
 */
import { parseEntry, resolveBlobs, type EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { hashLeaf } from '../core/merkle.js';
import { runFromEntries, type RunEndEntry, type RunRecord, type RunStartEntry } from '../core/run.js';
import type { RunIndexRow } from '../store/types.js';
import type { Ledger } from './ledger.js';

/** Entry n, parsed and with blobs resolved; fails if its bytes no longer match its recorded leaf hash. */
export function readEntry(ledger: Ledger, index: number): EntryBase {
  const e = ledger.store.entry(index);
  if (!e) throw new FfauditError('NOT_FOUND', `entry ${index} is not in the ledger`);
  if (!hashLeaf(e.data).equals(e.leaf)) throw new FfauditError('INTEGRITY', `entry ${index} was modified (run ffaudit verify)`);
  return resolveBlobs(parseEntry(e.data), (sha) => ledger.blob(sha));
}

export function runFromIndexRow(ledger: Ledger, row: RunIndexRow): RunRecord {
  const start = readEntry(ledger, row.startIndex);
  if (start.type !== 'run.start' || start.run !== row.id) throw new FfauditError('INTEGRITY', `the run index points run ${row.id} at entry ${row.startIndex}, which is not its start`);
  let end: EntryBase | undefined;
  if (row.endIndex !== null) {
    end = readEntry(ledger, row.endIndex);
    if (end.type !== 'run.end' || end.run !== row.id || end.start !== row.startIndex) {
      throw new FfauditError('INTEGRITY', `the run index points run ${row.id} at entry ${row.endIndex}, which is not its end`);
    }
  }
  return runFromEntries(row.startIndex, start as RunStartEntry, row.endIndex ?? undefined, end as RunEndEntry | undefined);
}

/** A run by id, or by the index of either of its entries. */
export function findRun(ledger: Ledger, ref: string): RunRecord {
  const row = /^(0|[1-9][0-9]*)$/.test(ref) ? ledger.store.runByIndex(Number(ref)) : ledger.store.runById(ref);
  if (!row) throw new FfauditError('NOT_FOUND', `no run ${ref} in the ledger`);
  return runFromIndexRow(ledger, row);
}

/** Every run, oldest first. */
export function* listRuns(ledger: Ledger): Generator<RunRecord> {
  for (const row of ledger.store.runs()) yield runFromIndexRow(ledger, row);
}
