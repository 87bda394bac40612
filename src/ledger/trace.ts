/**
 * Tracing a file's lineage in the local ledger: the walk (src/lineage/walk.ts) over a LineageLookup that answers
 * from the derived file and run indexes (content hash → entry indices → runs), so a trace costs a few indexed
 * reads per step whatever the size of the log. The indexes only say where to look (docs/design.md invariant 5):
 * every hit is rebuilt from its entries, read checked (Ledger.entry), and the walk keeps it only if the entry
 * itself names the content.
 */
import type { CustodyNote } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import type { LineageLookup, NoteStep, Step } from '../lineage/lookup.js';
import { walkLineage, type Lineage, type TraceOptions } from '../lineage/walk.js';
import type { Ledger, SearchIndex } from './ledger.js';
import { readEntry, runFromIndexRow } from './runs.js';

export type { Lineage, LineageRun, LineageSource, SourceBasis, TraceNote, TraceOptions } from '../lineage/walk.js';

/** The local ledger as a LineageLookup: one log, named by its origin. */
export class LedgerLookup implements LineageLookup {
  private readonly index: SearchIndex;
  private readonly cache = new Map<number, RunRecord | null>();

  constructor(private readonly ledger: Ledger) {
    this.index = ledger.searchIndex();
  }

  /** The run either of whose entries is at `index`, or null (a custody note, or a stale index row). */
  private at(index: number): RunRecord | null {
    let r = this.cache.get(index);
    if (r === undefined) {
      const row = this.index.runByIndex(index);
      r = row ? runFromIndexRow(this.ledger, row) : null;
      for (const i of r?.entries ?? [index]) this.cache.set(i, r);
    }
    return r;
  }

  private steps(indices: readonly number[], which: (run: RunRecord, i: number) => boolean): Step[] {
    const out: Step[] = [];
    for (const i of indices) {
      const run = this.at(i);
      if (run && which(run, i)) out.push({ log: this.ledger.origin, run });
    }
    return out;
  }

  /** Runs whose end entry the output index names, in entry order. */
  producersOf(sha256: string): Promise<Step[]> {
    return Promise.resolve(this.steps(this.index.indicesByFileHashRole(sha256, 'output'), (run, i) => run.entries[1] === i));
  }

  readersOf(sha256: string): Promise<Step[]> {
    return Promise.resolve(this.steps(this.index.indicesByFileHashRole(sha256, 'input'), () => true));
  }

  notesNaming(sha256: string): Promise<NoteStep[]> {
    const out: NoteStep[] = [];
    for (const i of this.index.indicesByFileHashRole(sha256, 'note')) {
      const e = readEntry(this.ledger, i);
      if (e.type === 'custody.note') out.push({ log: this.ledger.origin, index: i, note: e as CustodyNote });
    }
    return Promise.resolve(out);
  }

  /** The index checked against every entry up to the head (index-check.ts): only rows that could hide a run. */
  indexProblems(): Promise<string[]> {
    return Promise.resolve(this.ledger.searchIndexProblems(3, true).map((d) => d.detail));
  }
}

/** The lineage of the content `sha256` (the file at `path`) in this ledger (src/lineage/walk.ts). */
export function traceContent(ledger: Ledger, path: string, sha256: string, opts: TraceOptions = {}): Promise<Lineage> {
  return walkLineage(new LedgerLookup(ledger), ledger.origin, { path, sha256 }, opts);
}
