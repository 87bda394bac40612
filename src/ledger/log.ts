/**
 * What `ffaudit log` lists: the runs and custody notes that match a filter, in log order, through the search
 * indexes or by reading every entry (`scan`); entries that cannot be read back as recorded are returned beside
 * them, never hidden.
 */
import type { NoteRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import type { Ledger } from './ledger.js';
import { matchesNote, scanNotes, type NoteFilter } from './notes.js';
import { queryRuns, scanRuns, type RunFilter, type UnreadableRun } from './runs.js';

export interface LogQuery {
  filter: RunFilter;
  /** Which kinds to list. */
  runs: boolean;
  notes: boolean;
  /** Read every entry instead of following the indexes (an edited index cannot hide a run). */
  scan?: boolean | undefined;
  /** A file by its present content: what recorded that content, else (it changed since) what recorded its path. */
  file?: { path: string; sha256: string } | undefined;
}

export function listLog(ledger: Ledger, q: LogQuery): { items: (RunRecord | NoteRecord)[]; unreadable: UnreadableRun[] } {
  const f = q.filter;
  const file = q.file;
  let result: { runs: RunRecord[]; unreadable: UnreadableRun[] } = { runs: [], unreadable: [] };
  if (q.runs) {
    // With nothing for the indexes to narrow, reading the log in order is faster than following them.
    const narrowed = f.user !== undefined || f.tool !== undefined || f.statuses !== undefined || f.sinceNs !== undefined || f.untilNs !== undefined || f.sha256 !== undefined || f.path !== undefined || file !== undefined || f.limit !== undefined;
    const query = q.scan || !narrowed ? scanRuns : queryRuns;
    if (file) {
      result = query(ledger, { ...f, sha256: file.sha256 });
      if (result.runs.length === 0) result = query(ledger, { ...f, path: file.path });
    } else {
      result = query(ledger, f);
    }
  }
  let notes: NoteRecord[] = [];
  if (q.notes) {
    // One scan: the notes naming the file's content, else (like runs) those naming its path.
    const found = scanNotes(ledger, noteFilterFrom(f));
    notes = found.notes;
    if (file) {
      const byContent = notes.filter((n) => matchesNote(n, { sha256: file.sha256 }));
      notes = byContent.length > 0 ? byContent : notes.filter((n) => matchesNote(n, { path: file.path }));
    }
    // An entry the run scan already reported as modified is not reported twice.
    const reported = new Set(result.unreadable.filter((u) => u.id === null).map((u) => u.startIndex));
    for (const u of found.unreadable) if (!reported.has(u.index)) result.unreadable.push({ id: null, startIndex: u.index, error: u.error });
  }
  let items = mergeByIndex(result.runs, notes);
  if (f.limit !== undefined) items = items.slice(-f.limit);
  return { items, unreadable: result.unreadable };
}

/** The conditions of a run filter that make sense for a note. */
function noteFilterFrom(f: RunFilter): NoteFilter {
  const n: NoteFilter = {};
  if (f.user !== undefined) n.user = f.user;
  if (f.actor !== undefined) n.actor = f.actor;
  if (f.sinceNs !== undefined) n.sinceNs = f.sinceNs;
  if (f.untilNs !== undefined) n.untilNs = f.untilNs;
  if (f.sha256 !== undefined) n.sha256 = f.sha256;
  if (f.path !== undefined) n.path = f.path;
  if (f.grep !== undefined) n.grep = f.grep;
  return n;
}

/** Runs (at the index of their start entry) and notes, in log order. */
function mergeByIndex(runs: readonly RunRecord[], notes: readonly NoteRecord[]): (RunRecord | NoteRecord)[] {
  const out: (RunRecord | NoteRecord)[] = [];
  let i = 0;
  for (const r of runs) {
    while (i < notes.length && notes[i]!.index < r.entries[0]!) out.push(notes[i++]!);
    out.push(r);
  }
  return out.concat(notes.slice(i));
}
