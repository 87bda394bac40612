/**
 * What `ffaudit export` writes: the runs that started in a period and the custody notes recorded in it, in log
 * order (a run by the index of its start entry).
 */
import type { NoteRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import { runsInPeriod, type Period } from './activity.js';
import type { Ledger } from './ledger.js';
import { scanNotes, type NoteFilter } from './notes.js';

export type ExportItem = { run: RunRecord; note?: undefined } | { run?: undefined; note: NoteRecord };

export function* exportDocuments(ledger: Ledger, p: Period): Generator<ExportItem> {
  const f: NoteFilter = {};
  if (p.since !== undefined) f.sinceNs = p.since;
  if (p.until !== undefined) f.untilNs = p.until;
  const { notes, unreadable } = scanNotes(ledger, f);
  // An export is evidence handed to others: a note that cannot be read as recorded stops it, as a run does.
  if (unreadable.length > 0) throw unreadable[0]!.error;
  let next = 0;
  for (const run of runsInPeriod(ledger, p)) {
    while (next < notes.length && notes[next]!.index < run.entries[0]!) yield { note: notes[next++]! };
    yield { run };
  }
  while (next < notes.length) yield { note: notes[next++]! };
}
