/**
 * Checks the derived indexes against the entries. The indexes (files by content and by path, runs) are not
 * guarded by triggers and need no key to rewrite, so no local secret can protect them; what proves them complete
 * is recomputing, from the entries themselves, the rows the fill (index-entry.ts, the same derivation) would have
 * written, and comparing. `verify` runs this in its block pass; trace, report and bundle run it before they say
 * that no run produced some content.
 */
import { FfauditError } from '../core/errors.js';
import type { IndexTx, RunIndexRow, Store } from '../store/types.js';
import { SHA256_HEX } from '../core/entry.js';
import { entryForIndex, indexEntry } from './index-entry.js';

export interface IndexDifference {
  /** The entry the row belongs to (or claims to). */
  index: number;
  /** `added` rows only point at entries that readers then re-read and reject; `missing` and `altered` ones hide. */
  kind: 'missing' | 'added' | 'altered';
  detail: string;
}

const CHUNK = 8192;

/**
 * The expected rows of the entries from…to−1, fed one entry at a time in index order, then compared with what is
 * stored. Files by content and runs are checked: they are what lineage rests on. (The path index only narrows
 * `log --file`; checking it would mean one more SHA-256 per recorded file.)
 */
export class IndexCheck {
  /** [idx, `role sha256`], in index order. */
  private readonly files: [number, string][] = [];
  private readonly starts = new Map<number, RunIndexRow>();
  private readonly ends = new Map<number, RunIndexRow>();
  /** Entries already reported as modified or missing: their rows are not judged here. */
  private readonly skipped = new Set<number>();
  private readonly tx: IndexTx;

  constructor(
    private readonly store: Store,
    private readonly from: number,
    private readonly to: number,
  ) {
    this.tx = {
      indexedSize: () => to,
      // The same filter as the store's fill: a row by content only for a well-formed hash.
      indexFile: (sha, _path, idx, role) => {
        if (sha && SHA256_HEX.test(sha)) this.files.push([idx, `${role} ${sha}`]);
      },
      indexRun: (row) => void (row.endIndex === null ? this.starts : this.ends).set(row.endIndex ?? row.startIndex, row),
      setIndexedSize: () => undefined,
      clear: () => undefined,
    };
  }

  add(index: number, data: Buffer): void {
    const e = entryForIndex(this.store, data);
    if (e) indexEntry(this.tx, index, e);
  }

  skip(index: number): void {
    this.skipped.add(index);
  }

  /** Every difference between the expected rows and the stored ones, by entry index. */
  differences(): IndexDifference[] {
    const { from, to } = this;
    const stored = this.store.derivedRows(from, to);
    const out: IndexDifference[] = [];
    const judged = (i: number) => i >= from && i < to && !this.skipped.has(i);
    // Both lists are in index order: compare them one entry's rows at a time (a few rows each).
    const want = this.files;
    const have = stored.files;
    let w = 0;
    let h = 0;
    const group = (rows: [number, string][], at: number, idx: number): [string[], number] => {
      const g: string[] = [];
      while (at < rows.length && rows[at]![0] === idx) g.push(rows[at++]![1]);
      return [g, at];
    };
    while (w < want.length || h < have.length) {
      const idx = Math.min(want[w]?.[0] ?? Infinity, have[h]?.[0] ?? Infinity);
      let wg: string[];
      let hg: string[];
      [wg, w] = group(want, w, idx);
      [hg, h] = group(have, h, idx);
      if (wg.length === hg.length && wg.every((r) => hg.includes(r))) continue;
      for (const r of wg) {
        if (hg.includes(r)) continue;
        const [role, sha] = r.split(' ') as [string, string];
        out.push({ index: idx, kind: 'missing', detail: `entry ${idx} names sha256 ${sha} as ${role === 'note' ? 'noted' : `an ${role}`}, but the file index lacks that row (deleted)` });
      }
      if (!judged(idx)) continue;
      for (const r of hg) {
        if (wg.includes(r)) continue;
        const [role, sha] = r.split(' ') as [string, string];
        out.push({ index: idx, kind: 'added', detail: `the file index holds a row (entry ${idx}, ${role}, sha256 ${sha}) that the entry does not name (added)` });
      }
    }

    // Runs: a run.start fills its row's start, tool, author and time; a run.end its end and status (index-entry.ts).
    const byId = new Map(stored.runs.map((r) => [r.id, r]));
    for (const [i, s] of this.starts) {
      const r = byId.get(s.id);
      if (!r) out.push({ index: i, kind: 'missing', detail: `entry ${i} starts run ${s.id}, which the runs index lacks (deleted)` });
      else if (r.startIndex !== i || r.tool !== s.tool || r.user !== s.user || r.time !== s.time) out.push({ index: i, kind: 'altered', detail: `the runs index row of run ${s.id} does not match its start (entry ${i}): altered` });
    }
    for (const [i, e] of this.ends) {
      const r = byId.get(e.id);
      if (!r) out.push({ index: i, kind: 'missing', detail: `entry ${i} ends run ${e.id}, which the runs index lacks (deleted)` });
      else if (r.endIndex !== i || r.status !== e.status) out.push({ index: i, kind: 'altered', detail: `the runs index row of run ${e.id} does not record its end (entry ${i}, ${e.status}): altered` });
    }
    for (const r of stored.runs) {
      if (judged(r.startIndex) && this.starts.get(r.startIndex)?.id !== r.id && this.ends.get(r.endIndex ?? -1)?.id !== r.id) {
        out.push({ index: r.startIndex, kind: 'added', detail: `the runs index holds run ${r.id} starting at entry ${r.startIndex}, which is not that run's start (added)` });
      } else if (r.endIndex !== null && judged(r.endIndex) && this.ends.get(r.endIndex)?.id !== r.id) {
        out.push({ index: r.endIndex, kind: 'added', detail: `the runs index says entry ${r.endIndex} ends run ${r.id}, which it does not (added)` });
      }
    }
    return out.sort((a, b) => a.index - b.index);
  }
}

/**
 * Checks the indexes against every entry they cover, up to `size` (the caller brings them up to it first). One
 * sequential pass over the entries' bytes, read with `read` (the ledger's checked reads: a claim that no run
 * produced some content must rest on the entries the checkpoint signs); the rows are compared a chunk at a time.
 * With `hiding`, only the differences that can hide a run from a lookup (rows missing or altered), which is what
 * a claim that no run produced some content must rule out.
 */
export function checkIndex(store: Store, size: number, read: (from: number, to: number) => Buffer[], limit = 20, hiding = false): IndexDifference[] {
  const covered = store.indexedSize();
  if (covered < size) throw new FfauditError('INTERNAL', `the search index covers ${covered} entries, not ${size}`);
  const found: IndexDifference[] = [];
  // A chunk at a time, as verify's scan does: only one chunk's expected and stored rows are held.
  for (let a = 0; a < size && found.length < limit; a += CHUNK) {
    const b = Math.min(a + CHUNK, size);
    const check = new IndexCheck(store, a, b);
    for (const [k, data] of read(a, b).entries()) check.add(a + k, data);
    found.push(...check.differences().filter((d) => !hiding || d.kind !== 'added'));
  }
  return found.slice(0, limit);
}
