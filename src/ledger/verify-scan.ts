/**
 * One block of the verify pass: recompute leaf hashes from the stored bytes, compare them and every stored tree
 * node inside the block with what the bytes give, and return what the rest of the pass needs (the block's root and
 * its partial frontiers at the sizes where signed roots must be checked). Runs in-process or in a worker thread.
 */
import { namedBlobs } from './blob.js';
import { FfauditError } from '../core/errors.js';
import { Frontier, hashLeaf, hashMessage } from '../core/merkle.js';
import type { Store } from '../store/types.js';
import { IndexCheck } from './index-check.js';
import type { Problem } from './problems.js';

export interface BlockJob {
  start: number;
  end: number;
  /** Sizes in (start, end] at which the caller needs the block's partial frontier. */
  sizes: number[];
  /** The derived indexes cover entries below this: those of the block are checked against them (index-check.ts). */
  indexed?: number;
}

/** A stored node that disagrees with the entries beneath it (only the lowest of each chain). */
export interface TreeMismatch {
  level: number;
  index: number;
  deleted: boolean;
}

export interface BlockResult {
  start: number;
  end: number;
  /** Root of the block when it is a whole perfect subtree. */
  root: Buffer | null;
  parts: { size: number; hashes: Buffer[] }[];
  problems: Problem[];
  /** Indices with an entry-level finding, ascending. */
  problemAt: number[];
  treeMismatches: TreeMismatch[];
  /** The stored node over the whole block disagreed (so the caller's parent nodes need not be blamed). */
  topMismatch: boolean;
  /**
   * Blobs the entries name (64 hex digits each, one after the other) and the first entry naming each: one string
   * and one array rather than a pair per blob, because every run names its report and pairs are slow to pass
   * between threads.
   */
  blobRefs: { names: string; at: number[] };
  /** The first read that failed on a damaged database, if any. */
  unreadable: string | null;
  checked: number;
}

const ZERO = Buffer.alloc(32);

/** True when the ascending list `sorted` holds a value in [from, to). */
export function anyInRange(sorted: readonly number[], from: number, to: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! < to;
}

export function scanBlock(store: Store, job: BlockJob, chunk = 8192): BlockResult {
  const { start, end } = job;
  const problems: Problem[] = [];
  const problemAt: number[] = [];
  const treeMismatches: TreeMismatch[] = [];
  const mismatched = new Set<string>();
  const blobRefs = new Map<string, number>();
  const frontier = new Frontier(start);
  const wanted = new Set(job.sizes);
  const parts: BlockResult['parts'] = [];
  let unreadable: string | null = null;
  let checked = 0;
  // A damaged file may fail any read: note the first failure and go on with what can be read.
  const read = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof FfauditError) || e.code !== 'STORE') throw e;
      unreadable ??= e.message;
      return fallback;
    }
  };
  const indexTo = Math.min(end, job.indexed ?? 0);
  // The index rows are checked a chunk at a time, so that only one chunk's expected and stored rows are held.
  let index: IndexCheck | undefined;
  const checkIndex = () => {
    if (!index) return;
    const found = read(() => index!.differences(), []);
    for (const d of found) problems.push({ kind: 'index-mismatch', index: d.index, detail: `${d.detail}: the search index was altered behind the log's back` });
    index = undefined;
  };
  const entryModified = (i: number) => {
    problems.push({ kind: 'entry-modified', index: i, detail: `entry ${i}'s bytes no longer match the hash recorded when it was appended` });
    problemAt.push(i);
    index?.skip(i);
  };
  /** A lookup of the stored hashes of nodes (level, lo…hi): one packed read when intact, else one row each. */
  const hashesFor = (level: number, lo: number, hi: number): ((idx: number) => Buffer | undefined) => {
    const packed = read(() => store.packedHashes(level, lo, hi), undefined);
    if (packed) return (idx) => (idx >= lo && idx <= hi ? packed.subarray((idx - lo) * 32, (idx - lo + 1) * 32) : undefined);
    const map = read(() => store.nodesInRange(level, lo, hi), new Map<number, Buffer>());
    // A value of another SQLite type (an attacker's TEXT) is no stored hash at all.
    return (idx) => {
      const v: unknown = map.get(idx);
      return Buffer.isBuffer(v) ? v : undefined;
    };
  };

  for (let a = start; a < end; a += chunk) {
    const b = Math.min(a + chunk, end);
    if (a < indexTo) index = new IndexCheck(store, a, Math.min(b, indexTo));
    const rows = read(() => store.leafAndData(a, b), []);
    // Stored interior nodes completed by leaves in [a, b) inside the block: node (l, i) completes at leaf
    // (i+1)·2^l − 1 and starts at i·2^l.
    const nodes = new Map<number, (idx: number) => Buffer | undefined>();
    for (let l = 1; 2 ** l <= b - start; l++) {
      const w = 2 ** l;
      const lo = Math.max(Math.ceil((a + 1) / w) - 1, Math.ceil(start / w));
      const hi = Math.floor(b / w) - 1;
      if (hi >= lo) nodes.set(l, hashesFor(l, lo, hi));
    }
    let r = 0;
    for (let i = a; i < b; i++) {
      // The usual row is leaf ‖ 0x00 ‖ data (Store.leafAndData): its tail is hashed in place and its head compared
      // in place, without a copy or a view per field. Otherwise, data: undefined when there is no row, anything but
      // a Buffer when the row's value is not bytes (an attacker's TEXT); stored: the recorded leaf hash if 32 bytes.
      let leaf: Buffer;
      const row = rows[r]?.[0] === i ? rows[r++] : undefined;
      const packed = row?.[1];
      if (packed) {
        checked++;
        leaf = hashMessage(packed.subarray(32));
        noteBlobRefs(packed.subarray(33), i, blobRefs);
        if (leaf.compare(packed, 0, 32) !== 0) entryModified(i);
        else if (i < indexTo) index!.add(i, packed.subarray(33));
      } else {
        let data: unknown;
        let stored: Buffer | undefined;
        if (row) {
          const e = read(() => store.entry(i), undefined) as { leaf: unknown; data: unknown } | undefined;
          data = e?.data;
          stored = Buffer.isBuffer(e?.leaf) && e.leaf.length === 32 ? e.leaf : undefined;
        }
        if (data !== undefined && !Buffer.isBuffer(data)) {
          problems.push({ kind: 'entry-modified', index: i, detail: `entry ${i} is no longer stored as bytes` });
          problemAt.push(i);
          index?.skip(i);
          leaf = ZERO;
        } else if (data === undefined) {
          problems.push({ kind: 'entry-missing', index: i, detail: `entry ${i} was deleted` });
          problemAt.push(i);
          index?.skip(i);
          leaf = ZERO;
        } else {
          checked++;
          leaf = hashLeaf(data);
          noteBlobRefs(data, i, blobRefs);
          if (!stored || !leaf.equals(stored)) entryModified(i);
          else if (i < indexTo) index!.add(i, data);
        }
      }
      frontier.push(leaf, (level, idx, hash) => {
        const stored = nodes.get(level)?.(idx);
        if (stored?.equals(hash)) return;
        mismatched.add(`${level}:${idx}`);
        const from = idx * 2 ** level;
        if (anyInRange(problemAt, from, from + 2 ** level)) return; // an entry finding explains it
        if (level > 1 && (mismatched.has(`${level - 1}:${2 * idx}`) || mismatched.has(`${level - 1}:${2 * idx + 1}`))) return; // so does a lower node
        treeMismatches.push({ level, index: idx, deleted: !stored });
      });
      if (wanted.has(frontier.size)) parts.push({ size: frontier.size, hashes: frontier.parts() });
    }
    checkIndex();
  }
  const width = end - start;
  const whole = Number.isInteger(Math.log2(width)) && start % width === 0;
  return {
    start,
    end,
    root: whole ? frontier.root() : null,
    parts,
    problems,
    problemAt,
    treeMismatches,
    topMismatch: whole && mismatched.has(`${Math.log2(width)}:${start / width}`),
    blobRefs: { names: [...blobRefs.keys()].join(''), at: [...blobRefs.values()] },
    unreadable,
    checked,
  };
}

function noteBlobRefs(data: Buffer, index: number, refs: Map<string, number>): void {
  for (const sha of namedBlobs(data)) if (!refs.has(sha)) refs.set(sha, index);
}
