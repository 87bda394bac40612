/**
 * Tracing a file's lineage by content: the runs that produced these bytes, the runs that produced their inputs,
 * and so on back to sources that no audited run produced.
 *
 * Lookups go through the derived file and run indexes (content hash → entry indices → runs), so a trace costs a
 * few indexed reads per step whatever the size of the log. The indexes only say where to look (docs/design.md
 * invariant 5): every hit is rebuilt from its entries (whose bytes are checked against their leaf hashes) and
 * kept only if the entry itself names the content.
 */
import { SHA256_HEX, type Author, type CustodyNote, type FileRecord } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { InputRecord, RunRecord } from '../core/run.js';
import { isFileRecord } from '../core/run-shape.js';
import type { Store } from '../store/types.js';
import { checkIndex } from './index-check.js';
import type { Ledger } from './ledger.js';
import { readEntry, runFromIndexRow } from './runs.js';

export interface TraceNote {
  index: number;
  time: string;
  by: Author;
  text: string;
  files: FileRecord[];
}

/**
 * Why a content counts as a source (no run produced it): `signed`, the run that read it recorded in its signed
 * end that no run had (`produced_by: "none"`); `index-checked`, no producer in a search index proven complete
 * against every entry in this very trace; `unproven`, only that no producer was found in the index (not checked).
 */
export type SourceBasis = 'signed' | 'index-checked' | 'unproven';

export interface LineageSource extends FileRecord {
  /** Null for inputs that are not files (no content hash): nothing is claimed about their producers. */
  basis: SourceBasis | null;
}

export interface TraceOptions {
  /** Check the search index against the entries before saying that no run produced some content (default true). */
  checkIndex?: boolean;
}

export interface Lineage {
  file: { path: string; sha256: string };
  /** False when no run produced or read these bytes and no custody note names them. */
  known: boolean;
  /** The runs in the lineage, oldest first (sources first, the run that produced the file last). */
  runs: RunRecord[];
  /** Inputs of lineage runs that no earlier audited run produced (sha256 null: not a file, e.g. a lavfi graph or URL). */
  sources: LineageSource[];
  /** The search index was checked against every entry up to the head in this trace (it is, whenever a source is claimed). */
  indexChecked: boolean;
  /** Custody notes naming any content in the lineage, oldest first. */
  notes: TraceNote[];
  /** Runs that read the file's bytes (its uses, not its lineage), oldest first. */
  readBy: RunRecord[];
}


class RunReader {
  private readonly cache = new Map<number, RunRecord | null>();
  constructor(
    private readonly ledger: Ledger,
    private readonly index: Store,
  ) {}

  /** The run either of whose entries is at `index`, or null (a custody note, or a stale index row). */
  at(index: number): RunRecord | null {
    let r = this.cache.get(index);
    if (r === undefined) {
      const row = this.index.runByIndex(index);
      r = row ? wellFormed(runFromIndexRow(this.ledger, row)) : null;
      for (const i of r?.entries ?? [index]) this.cache.set(i, r);
    }
    return r;
  }
}

/** Entries are untrusted input too: a run whose file lists are not lists of file records stops the trace clearly. */
function wellFormed(run: RunRecord): RunRecord {
  const ok = (v: unknown) => Array.isArray(v) && v.every(isFileRecord);
  if (!ok(run.inputs) || !ok(run.outputs) || !Array.isArray(run.argv) || !Array.isArray(run.entries)) {
    throw new FfauditError('INTEGRITY', `run ${String(run.id)} (entry ${String(run.entries?.[0])}) is malformed: its inputs, outputs or arguments are not what a run records`);
  }
  return run;
}

function names(files: readonly FileRecord[], sha: string): boolean {
  return files.some((f) => f.sha256 === sha);
}

/** The runs that produced `sha`, confirmed by their end entries; only those that ended before entry `before`. */
function producers(index: Store, reader: RunReader, sha: string, before: number): RunRecord[] {
  const out: RunRecord[] = [];
  for (const i of index.indicesByFileHashRole(sha, 'output')) {
    if (i >= before) break; // ascending
    const run = reader.at(i);
    if (run && run.entries[1] === i && names(run.outputs, sha)) out.push(run);
  }
  return out;
}

/**
 * Walks the lineage of the content `sha256` (the file at `path`). Saying that no run produced some content rests
 * on the index being complete, and the index is not evidence (anyone with write access can delete its rows): so
 * unless the signed entries say it, the index is first checked against every entry (index-check.ts); a
 * difference stops the trace (exit 1) rather than let a deleted row turn a rendered file into a "source".
 */
export function traceContent(ledger: Ledger, path: string, sha256: string, opts: TraceOptions = {}): Lineage {
  const sha = sha256.toLowerCase();
  const index = ledger.searchIndex();
  const reader = new RunReader(ledger, index);
  const lineage = new Map<string, RunRecord>();
  const sources = new Map<string, LineageSource>();
  const seen = new Set<string>([sha]); // every content hash in the lineage, for custody notes
  // Each queue item is one (content, consumer) pair; items are queued only for runs newly added to the lineage,
  // so the walk ends. A content is a source for a consumer when no run produced it before that consumer started.
  const queue: { sha: string; before: number; asInput?: InputRecord }[] = [{ sha, before: Number.MAX_SAFE_INTEGER }];
  while (queue.length > 0) {
    const { sha: s, before, asInput } = queue.shift()!;
    const found = producers(index, reader, s, before);
    if (found.length === 0 && asInput && !sources.has(s)) sources.set(s, { ...asInput, basis: asInput.produced_by === 'none' ? 'signed' : 'unproven' });
    for (const run of found) {
      if (lineage.has(run.id)) continue;
      lineage.set(run.id, run);
      for (const f of [...run.inputs, ...run.outputs]) if (f.sha256 && SHA256_HEX.test(f.sha256)) seen.add(f.sha256);
      for (const input of run.inputs) {
        if (input.sha256 === null) {
          const key = `unhashed:${input.path}`;
          if (!sources.has(key)) sources.set(key, { ...input, basis: null });
        } else {
          queue.push({ sha: input.sha256, before: run.entries[0]!, asInput: input });
        }
      }
    }
  }

  const readBy: RunRecord[] = [];
  const notes: TraceNote[] = [];
  const noteSeen = new Set<number>();
  for (const i of index.indicesByFileHashRole(sha, 'input')) {
    const run = reader.at(i);
    if (run && names(run.inputs, sha) && !readBy.some((r) => r.id === run.id)) readBy.push(run);
  }
  for (const s of seen) {
    for (const i of index.indicesByFileHashRole(s, 'note')) {
      if (noteSeen.has(i)) continue;
      const e = readEntry(ledger, i);
      if (e.type !== 'custody.note') continue;
      const note = e as CustodyNote;
      const files = Array.isArray(note.files) ? note.files.filter((f) => f && typeof f === 'object' && typeof f.sha256 === 'string') : [];
      if (!files.some((f) => seen.has(f.sha256!))) continue;
      noteSeen.add(i);
      notes.push({ index: i, time: note.time, by: note.by, text: typeof note.text === 'string' ? note.text : '', files });
    }
  }

  const byStart = (a: RunRecord, b: RunRecord) => a.entries[0]! - b.entries[0]!;
  const runs = [...lineage.values()].sort(byStart);
  // Negative claims: the file itself has no producer (a source, or unknown), or an input is a source by the index only.
  const unproven = [...sources.values()].filter((x) => x.basis === 'unproven');
  let indexChecked = false;
  if ((runs.length === 0 || unproven.length > 0) && opts.checkIndex !== false) {
    const diffs = checkIndex(index, ledger.size(), 3, true);
    if (diffs.length > 0) {
      throw new FfauditError(
        'INTEGRITY',
        `the search index disagrees with the entries (${diffs.map((d) => d.detail).join('; ')}): it was altered, so it cannot show which runs produced these bytes (run ffaudit verify)`,
      );
    }
    indexChecked = true;
    for (const x of unproven) x.basis = 'index-checked';
  }
  return {
    file: { path, sha256: sha },
    known: runs.length > 0 || readBy.length > 0 || notes.length > 0,
    runs,
    sources: [...sources.values()],
    indexChecked,
    notes: notes.sort((a, b) => a.index - b.index),
    readBy: readBy.sort(byStart),
  };
}
