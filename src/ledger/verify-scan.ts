/**
 * One block of the verify pass: recompute leaf hashes from the stored bytes, compare them and every stored tree
 * node inside the block with what the bytes give, and return what the rest of the pass needs (the block's root and
 * its partial frontiers at the sizes where signed roots must be checked). Runs in-process or in a worker thread.
 */
import { Frontier, hashLeaf } from '../core/merkle.js';
import type { Store } from '../store/types.js';
import type { Problem } from './verify.js';

export interface BlockJob {
  start: number;
  end: number;
  /** The signed size of the log: entries at or beyond it are unsigned. */
  size: number;
  /** Sizes in (start, end] at which the caller needs the block's partial frontier. */
  sizes: number[];
}

export interface BlockResult {
  start: number;
  end: number;
  /** Root of the block when it is a whole perfect subtree below `size`. */
  root: Buffer | null;
  parts: { size: number; hashes: Buffer[] }[];
  problems: Problem[];
  /** Indices with an entry-level finding, ascending. */
  problemAt: number[];
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

/** A lookup of the stored hashes of nodes (level, lo…hi): one packed read when intact, else one row each. */
function hashesFor(store: Store, level: number, lo: number, hi: number): (idx: number) => Buffer | undefined {
  const packed = store.packedHashes(level, lo, hi);
  if (packed) return (idx) => (idx >= lo && idx <= hi ? packed.subarray((idx - lo) * 32, (idx - lo + 1) * 32) : undefined);
  const map = store.nodesInRange(level, lo, hi);
  return (idx) => map.get(idx);
}

export function scanBlock(store: Store, job: BlockJob, chunk = 8192): BlockResult {
  const { start, end, size } = job;
  const problems: Problem[] = [];
  const problemAt: number[] = [];
  const frontier = new Frontier(start);
  const wanted = new Set(job.sizes);
  const parts: BlockResult['parts'] = [];
  let checked = 0;
  if (wanted.has(start)) parts.push({ size: start, hashes: [] });

  for (let a = start; a < end; a += chunk) {
    const b = Math.min(a + chunk, end);
    const rows = store.entryData(a, b);
    const leaves = hashesFor(store, 0, a, b - 1);
    // Stored interior nodes completed by leaves in [a, b) that lie inside the block: node (l, i) completes at leaf
    // (i+1)·2^l − 1 and starts at i·2^l.
    const nodes = new Map<number, (idx: number) => Buffer | undefined>();
    for (let l = 1; 2 ** l <= b - start; l++) {
      const w = 2 ** l;
      const lo = Math.max(Math.ceil((a + 1) / w) - 1, Math.ceil(start / w));
      const hi = Math.floor(Math.min(b, size) / w) - 1;
      if (hi >= lo) nodes.set(l, hashesFor(store, l, lo, hi));
    }
    let r = 0;
    for (let i = a; i < b; i++) {
      const row = rows[r]?.index === i ? rows[r++] : undefined;
      let leaf: Buffer;
      if (!row) {
        if (i < size) {
          problems.push({ kind: 'entry-missing', index: i, detail: `entry ${i} was deleted` });
          problemAt.push(i);
        }
        leaf = ZERO;
      } else {
        checked++;
        leaf = hashLeaf(row.data);
        const stored = leaves(i);
        if (i >= size) {
          problems.push({ kind: 'entry-unsigned', index: i, detail: `entry ${i} lies beyond the signed log (size ${size}): it was added behind the log's back` });
          problemAt.push(i);
        } else if (!stored || !leaf.equals(stored)) {
          problems.push({ kind: 'entry-modified', index: i, detail: `entry ${i}'s bytes no longer match the hash recorded when it was appended` });
          problemAt.push(i);
        }
      }
      if (i >= size) continue;
      frontier.push(leaf, (level, idx, hash) => {
        const stored = nodes.get(level)?.(idx);
        const from = idx * 2 ** level;
        const to = from + 2 ** level;
        if (!anyInRange(problemAt, from, to) && (!stored || !stored.equals(hash))) {
          problems.push({ kind: 'tree-modified', index: from, detail: `the stored tree node over entries ${from} to ${to - 1} (level ${level}) was ${stored ? 'changed' : 'deleted'}` });
        }
      });
      if (wanted.has(frontier.size)) parts.push({ size: frontier.size, hashes: frontier.parts() });
    }
  }
  const whole = end <= size && Number.isInteger(Math.log2(end - start)) && start % (end - start) === 0;
  return { start, end, root: whole ? frontier.root() : null, parts, problems, problemAt, checked };
}
