/**
 * `ffaudit verify`: everything that can be checked about a ledger from its own files, and, given a checkpoint
 * saved elsewhere, that the log is an append-only extension of it.
 *
 * The store is untrusted input (ARCHITECTURE.md invariant 6): leaf hashes are recomputed from the stored bytes,
 * the tree is rebuilt from them in one streaming pass (memory is bounded by the chunk size, not the log), and
 * each kept signed checkpoint is compared with the root rebuilt at its size.
 */
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import { Frontier, hashLeaf } from '../core/merkle.js';
import { checkNote, type Verifier } from '../core/note.js';
import type { Store } from '../store/types.js';

export type ProblemKind =
  | 'store-corrupt'
  | 'triggers-missing'
  | 'entry-modified'
  | 'entry-missing'
  | 'entry-unsigned'
  | 'tree-modified'
  | 'checkpoint-missing'
  | 'checkpoint-signature-invalid'
  | 'root-mismatch'
  | 'rollback'
  | 'fork'
  | 'not-locked'
  | 'archive-behind';

export interface Problem {
  kind: ProblemKind;
  index?: number;
  size?: number;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  size: number;
  problems: Problem[];
  checked: { entries: number; checkpoints: number; trusted: { size: number; root: string } | null };
}

export interface VerifyOptions {
  /** A checkpoint saved earlier (perhaps by someone else): the log must extend it. */
  trusted?: string | undefined;
  onProgress?: (done: number, total: number) => void;
  chunkSize?: number;
}

const MAX_LISTED = 1000; // per kind: a log rewritten wholesale still yields a readable report

/** True when the ascending list `sorted` holds a value in [from, to). */
function anyInRange(sorted: readonly number[], from: number, to: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! < to;
}

export function verifyStore(store: Store, origin: string, verifier: Verifier, opts: VerifyOptions = {}): VerifyReport {
  const problems: Problem[] = [];
  const counts = new Map<ProblemKind, number>();
  const add = (p: Problem) => {
    const n = (counts.get(p.kind) ?? 0) + 1;
    counts.set(p.kind, n);
    if (n <= MAX_LISTED) problems.push(p);
  };

  // A trusted checkpoint that cannot be read is a usage error (exit 2), found before any work.
  let trusted: SignedCheckpoint | undefined;
  if (opts.trusted !== undefined) {
    try {
      trusted = parseSignedCheckpoint(opts.trusted);
    } catch (e) {
      throw new FfauditError('BAD_INPUT', `the trusted checkpoint is malformed: ${(e as Error).message}`);
    }
    if (trusted.origin !== origin) {
      throw new FfauditError('BAD_INPUT', `the trusted checkpoint is for log ${JSON.stringify(trusted.origin)}, not this one (${JSON.stringify(origin)})`);
    }
  }

  // 1. The database file itself.
  for (const msg of store.integrityCheck().slice(0, 20)) add({ kind: 'store-corrupt', detail: `SQLite integrity check: ${msg}` });
  const missing = store.missingTriggers();
  if (missing.length) add({ kind: 'triggers-missing', detail: `the triggers that refuse changes are gone (${missing.join(', ')}): someone edited the database directly` });

  // 2. The signed checkpoints: the head and the kept history.
  const head = store.head();
  const signed = new Map<number, SignedCheckpoint>();
  const checkSigned = (note: string, where: string): SignedCheckpoint | undefined => {
    let cp: SignedCheckpoint;
    try {
      cp = parseSignedCheckpoint(note);
    } catch (e) {
      add({ kind: 'checkpoint-signature-invalid', detail: `${where} is malformed: ${(e as Error).message}` });
      return undefined;
    }
    if (cp.origin !== origin || checkNote(cp.parsed, [verifier]) !== 'ok') {
      add({ kind: 'checkpoint-signature-invalid', size: cp.size, detail: `${where} (size ${cp.size}) is not validly signed by this log's key` });
      return undefined;
    }
    return cp;
  };
  let size = 0;
  if (head) {
    const cp = checkSigned(head.checkpoint, 'the latest checkpoint');
    size = cp?.size ?? head.size;
    if (cp && cp.size !== head.size) add({ kind: 'checkpoint-signature-invalid', size: head.size, detail: `the head claims size ${head.size} but its checkpoint says ${cp.size}` });
    if (cp) signed.set(cp.size, cp);
  }
  const kept = store.keptCheckpoints();
  for (const k of kept) {
    const cp = checkSigned(k.checkpoint, `the kept checkpoint at size ${k.size}`);
    if (!cp) continue;
    if (cp.size !== k.size) {
      add({ kind: 'checkpoint-signature-invalid', size: k.size, detail: `the checkpoint stored for size ${k.size} is for size ${cp.size}` });
      continue;
    }
    if (cp.size > size) {
      add({ kind: 'checkpoint-missing', size: cp.size, detail: `a signed checkpoint of size ${cp.size} exists but the head says ${size}: the head was rolled back` });
      size = cp.size;
    }
    signed.set(cp.size, cp);
  }
  const maxIdx = store.maxEntryIndex();
  if (!head && maxIdx >= 0) add({ kind: 'checkpoint-missing', detail: 'entries exist but no signed checkpoint covers them' });

  if (trusted) {
    try {
      openCheckpoint(trusted.note, [verifier], origin);
    } catch {
      add({ kind: 'fork', size: trusted.size, detail: "the trusted checkpoint is not signed by this ledger's current key: the key, and the history with it, were replaced" });
    }
    if (trusted.size > size) {
      add({ kind: 'rollback', size: trusted.size, detail: `the log holds ${size} entries but the trusted checkpoint already had ${trusted.size}: entries were removed or an older copy was restored` });
    }
  }

  // 3. One streaming pass over the entries: leaf hashes, stored tree nodes, and roots at every signed size.
  const total = Math.max(size, maxIdx + 1);
  const chunk = opts.chunkSize ?? 16384;
  const frontier = new Frontier();
  const checkSizes = [...signed.keys()].sort((a, b) => a - b);
  let nextCheck = 0;
  let lastGoodSize = 0;
  let rootFailures = 0;
  const entryProblemAt: number[] = []; // sorted indices with an entry-level finding
  const ZERO = Buffer.alloc(32);
  let checkedEntries = 0;

  const checkRootAt = (s: number) => {
    if (trusted && s === trusted.size && !frontier.root().equals(trusted.root)) {
      add({ kind: 'fork', size: s, detail: `the log's first ${s} entries do not hash to the trusted checkpoint's root: history was rewritten (with the signing key)` });
    }
    while (nextCheck < checkSizes.length && checkSizes[nextCheck]! <= s) {
      const cs = checkSizes[nextCheck++]!;
      if (cs !== s) continue;
      const cp = signed.get(cs)!;
      if (frontier.root().equals(cp.root)) {
        lastGoodSize = cs;
      } else {
        rootFailures++;
        const explained = anyInRange(entryProblemAt, lastGoodSize, cs);
        if (rootFailures === 1 && !explained) {
          add({
            kind: 'root-mismatch',
            size: cs,
            detail: `the entries do not hash to the root signed at size ${cs}, though each matches its stored leaf hash: an entry from index ${lastGoodSize} to ${cs - 1} was changed and the stored tree rewritten to match`,
          });
        }
      }
    }
  };
  if (trusted && trusted.size === 0) checkRootAt(0);

  for (let a = 0; a < total; a += chunk) {
    const b = Math.min(a + chunk, total);
    const rows = store.entries(a, b);
    // Stored interior nodes completed by leaves in [a, b): node (l, i) completes at leaf (i+1)·2^l − 1.
    const nodes = new Map<number, Map<number, Buffer>>();
    for (let l = 1; 2 ** l <= b; l++) {
      const w = 2 ** l;
      const lo = Math.ceil((a + 1) / w) - 1;
      const hi = Math.floor(b / w) - 1;
      if (hi >= lo) nodes.set(l, store.nodesInRange(l, lo, hi));
    }
    let r = 0;
    for (let i = a; i < b; i++) {
      const row = rows[r]?.index === i ? rows[r++] : undefined;
      let leaf: Buffer;
      if (!row) {
        if (i < size) add({ kind: 'entry-missing', index: i, detail: `entry ${i} was deleted` });
        entryProblemAt.push(i);
        leaf = ZERO;
      } else {
        checkedEntries++;
        leaf = hashLeaf(row.data);
        if (i >= size) {
          add({ kind: 'entry-unsigned', index: i, detail: `entry ${i} lies beyond the signed log (size ${size}): it was added behind the log's back` });
          entryProblemAt.push(i);
        } else if (!leaf.equals(row.leaf)) {
          add({ kind: 'entry-modified', index: i, detail: `entry ${i}'s bytes no longer match the hash recorded when it was appended` });
          entryProblemAt.push(i);
        }
      }
      if (i >= size) continue;
      frontier.push(leaf, (level, idx, hash) => {
        const stored = nodes.get(level)?.get(idx);
        const from = idx * 2 ** level;
        const to = from + 2 ** level;
        const explained = anyInRange(entryProblemAt, from, to);
        if (!explained && (!stored || !stored.equals(hash))) {
          add({ kind: 'tree-modified', index: from, detail: `the stored tree node over entries ${from} to ${to - 1} (level ${level}) was ${stored ? 'changed' : 'deleted'}` });
        }
      });
      checkRootAt(frontier.size);
    }
    opts.onProgress?.(b, total);
  }
  if (size === 0) checkRootAt(0);
  if (rootFailures > 0 && !problems.some((p) => p.kind === 'root-mismatch') && entryProblemAt.length === 0) {
    add({ kind: 'root-mismatch', detail: 'the entries do not hash to the signed roots' });
  }

  for (const [kind, n] of counts) {
    if (n > MAX_LISTED) problems.push({ kind, detail: `${n - MAX_LISTED} more ${kind} findings not listed` });
  }
  return {
    ok: problems.length === 0,
    size,
    problems,
    checked: {
      entries: checkedEntries,
      checkpoints: signed.size,
      trusted: trusted ? { size: trusted.size, root: trusted.root.toString('base64') } : null,
    },
  };
}
