/**
 * `ffaudit verify`: everything that can be checked about a ledger from its own files, and, given a checkpoint
 * saved elsewhere, that the log is an append-only extension of it.
 *
 * The store is untrusted input (ARCHITECTURE.md invariant 6): leaf hashes are recomputed from the stored bytes,
 * the tree is rebuilt from them in one streaming pass (memory is bounded by the chunk size, not the log), and
 * each kept signed checkpoint is compared with the root rebuilt at its size.
 */
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { isBlobRef } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { Frontier, hashLeaf } from '../core/merkle.js';
import { checkNote, type Verifier } from '../core/note.js';
import type { Store } from '../store/types.js';
import { checkedBlobContent } from './blob.js';

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
  | 'blob-modified'
  | 'blob-missing';

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

const BLOB_REF_MARK = Buffer.from('"$blob":"');
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
  // A damaged file may fail any read below: that is one more store-corrupt finding, and the pass goes on with what
  // can be read, so the report still names the entries and checkpoints that survive.
  let unreadable = 0;
  const read = <T>(what: string, fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof FfauditError) || e.code !== 'STORE') throw e;
      if (unreadable++ === 0) add({ kind: 'store-corrupt', detail: `${what} cannot be read: ${e.message}` });
      return fallback;
    }
  };
  const damaged = () => counts.has('store-corrupt');
  const missing = read('the schema', () => store.missingTriggers(), []);
  if (missing.length) add({ kind: 'triggers-missing', detail: `the triggers that refuse changes are gone (${missing.join(', ')}): someone edited the database directly` });

  // 2. The signed checkpoints: the head and the kept history.
  const head = read('the head', () => store.head(), undefined);
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
    // Without a valid signature the head's size is hostile: it may not send the pass over more entries than
    // the store holds.
    const claimed = Number.isSafeInteger(head.size) && head.size > 0 ? head.size : 0;
    size = cp?.size ?? Math.min(claimed, read('the entries', () => store.entryCount(), 0));
    if (cp && cp.size !== head.size) add({ kind: 'checkpoint-signature-invalid', size: head.size, detail: `the head claims size ${head.size} but its checkpoint says ${cp.size}` });
    if (cp) signed.set(cp.size, cp);
  }
  const kept = read('the kept checkpoints', () => store.keptCheckpoints(), []);
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
  const maxIdx = read('the entries', () => store.maxEntryIndex(), -1);
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

  // 3. One streaming pass over the entries of the signed log: leaf hashes, stored tree nodes, and roots at every
  // signed size. Rows outside it are looked up afterwards, so that one hostile row at index 2^50 costs one row.
  const total = size;
  const chunk = opts.chunkSize ?? 16384;
  const frontier = new Frontier();
  const checkSizes = [...signed.keys()].sort((a, b) => a - b);
  let nextCheck = 0;
  let lastGoodSize = 0;
  const entryProblemAt: number[] = []; // sorted indices with an entry-level finding
  const ZERO = Buffer.alloc(32);
  let checkedEntries = 0;
  // Blobs the entries name (entry.ts moves large top-level fields into them), with the first entry naming each.
  const blobRefs = new Map<string, number>();
  const noteBlobRefs = (data: Buffer, index: number) => {
    let entry: unknown;
    try {
      entry = JSON.parse(data.toString('utf8'));
    } catch {
      return; // not JSON: the leaf hash, not this check, says whether these are the signed bytes
    }
    if (typeof entry !== 'object' || entry === null) return;
    for (const v of Object.values(entry)) if (isBlobRef(v) && !blobRefs.has(v.$blob)) blobRefs.set(v.$blob, index);
  };
  // The first signed root the entries fail to reach, and the range of entries it leaves in doubt.
  let firstRootFailure: { from: number; size: number } | undefined;
  // Stored nodes that disagree with the entries beneath them, only the lowest of each chain (a changed leaf makes
  // every ancestor differ too). Whether the node or the entries under it were changed is decided after the pass,
  // by the signed roots.
  const treeMismatches: { level: number; index: number; deleted: boolean }[] = [];
  // Per level, the last two node indices that disagreed: a parent completes right after its two children.
  const recentMismatch: number[][] = [];

  const checkRootAt = (s: number) => {
    // Entries found changed or missing already explain a different root; a fork is a history that is
    // self-consistent yet not the trusted one.
    if (trusted && s === trusted.size && !frontier.root().equals(trusted.root) && !anyInRange(entryProblemAt, 0, s)) {
      add({ kind: 'fork', size: s, detail: `the log's first ${s} entries do not hash to the trusted checkpoint's root: history was rewritten (with the signing key)` });
    }
    while (nextCheck < checkSizes.length && checkSizes[nextCheck]! <= s) {
      const cs = checkSizes[nextCheck++]!;
      if (cs !== s) continue;
      const cp = signed.get(cs)!;
      if (frontier.root().equals(cp.root)) {
        lastGoodSize = cs;
      } else {
        firstRootFailure ??= { from: lastGoodSize, size: cs };
      }
    }
  };
  if (trusted && trusted.size === 0) checkRootAt(0);

  for (let a = 0; a < total; a += chunk) {
    const b = Math.min(a + chunk, total);
    const rows = read(`entries ${a} to ${b - 1}`, () => store.entries(a, b), []);
    // Stored interior nodes completed by leaves in [a, b): node (l, i) completes at leaf (i+1)·2^l − 1.
    const nodes = new Map<number, Map<number, Buffer>>();
    for (let l = 1; 2 ** l <= b; l++) {
      const w = 2 ** l;
      const lo = Math.ceil((a + 1) / w) - 1;
      const hi = Math.floor(b / w) - 1;
      if (hi >= lo) nodes.set(l, read('the stored tree', () => store.nodesInRange(l, lo, hi), new Map<number, Buffer>()));
    }
    let r = 0;
    for (let i = a; i < b; i++) {
      const row = rows[r]?.index === i ? rows[r++] : undefined;
      let leaf: Buffer;
      if (row && !Buffer.isBuffer(row.data)) {
        add({ kind: 'entry-modified', index: i, detail: `entry ${i} is no longer stored as bytes` });
        entryProblemAt.push(i);
        leaf = ZERO;
      } else if (!row) {
        add({ kind: 'entry-missing', index: i, detail: damaged() ? `entry ${i} cannot be read from the damaged database` : `entry ${i} was deleted` });
        entryProblemAt.push(i);
        leaf = ZERO;
      } else {
        checkedEntries++;
        leaf = hashLeaf(row.data);
        // A '$' first (memchr, a fraction of a substring search): most entries hold none.
        if (row.data.indexOf(0x24) !== -1 && row.data.includes(BLOB_REF_MARK)) noteBlobRefs(row.data, i);
        if (!Buffer.isBuffer(row.leaf) || !leaf.equals(row.leaf)) {
          add({ kind: 'entry-modified', index: i, detail: `entry ${i}'s bytes no longer match the hash recorded when it was appended` });
          entryProblemAt.push(i);
        }
      }
      frontier.push(leaf, (level, idx, hash) => {
        const stored = nodes.get(level)?.get(idx);
        if (Buffer.isBuffer(stored) && stored.equals(hash)) return;
        const recent = (recentMismatch[level] ??= []);
        recent.push(idx);
        if (recent.length > 2) recent.shift();
        const from = idx * 2 ** level;
        if (anyInRange(entryProblemAt, from, from + 2 ** level)) return; // an entry finding explains it
        const below = recentMismatch[level - 1];
        if (level > 1 && below && (below.includes(2 * idx) || below.includes(2 * idx + 1))) return; // so does a lower node
        treeMismatches.push({ level, index: idx, deleted: !stored });
      });
      checkRootAt(frontier.size);
    }
    opts.onProgress?.(b, total);
  }
  if (size === 0) checkRootAt(0);

  // Rows no signed checkpoint covers: beyond the signed size, or at negative indices.
  const stray = read('the entries', () => store.entriesOutside(size, MAX_LISTED + 1), []);
  for (const row of stray.slice(0, MAX_LISTED)) {
    add({ kind: 'entry-unsigned', index: row.index, detail: `entry ${row.index} lies outside the signed log (size ${size}): it was added behind the log's back` });
  }
  if (stray.length > MAX_LISTED) add({ kind: 'entry-unsigned', detail: 'more rows lie outside the signed log; not listed' });

  // 4. Blobs: each stored one must hash to its name, and each one an entry names must be there. (Entries sign
  // only the hash; this finds the damage before someone needs the content.)
  const blobHashes = read('the blobs', () => store.blobHashes(), []);
  for (const h of blobHashes) {
    const stored = read(`blob ${h}`, () => store.blob(h), undefined);
    if (stored && !checkedBlobContent(h, stored)) {
      add({ kind: 'blob-modified', index: blobRefs.get(h), detail: `blob ${h}${blobRefs.has(h) ? `, named by entry ${blobRefs.get(h)},` : ''} no longer matches its hash` });
    }
  }
  const storedBlobs = new Set(blobHashes);
  for (const [h, index] of blobRefs) {
    if (!storedBlobs.has(h)) add({ kind: 'blob-missing', index, detail: `blob ${h}, named by entry ${index}, is missing` });
  }

  // A stored node that disagrees with its entries, under a signed root the entries no longer reach: the entries
  // changed, their recorded leaf hashes rewritten to match, and the untouched stored tree still remembers the
  // originals; that narrows the change to the node's range (two entries for a level-1 node). Under roots that
  // still verify, or whose failure the entry findings already explain, the node itself was altered.
  const failure = firstRootFailure;
  let rootExplained = failure === undefined || anyInRange(entryProblemAt, failure.from, failure.size);
  const unexplainedFailure = rootExplained ? undefined : failure;
  for (const m of treeMismatches) {
    const from = m.index * 2 ** m.level;
    const to = from + 2 ** m.level;
    if (unexplainedFailure && from < unexplainedFailure.size && to > unexplainedFailure.from) {
      rootExplained = true;
      const which = to - from === 2 ? `entry ${from} or ${from + 1}` : `an entry from index ${from} to ${to - 1}`;
      add({
        kind: 'entry-modified',
        index: from,
        detail: `${which} was changed together with its recorded leaf hash: the stored tree over entries ${from} to ${to - 1} and the root signed at size ${unexplainedFailure.size} no longer match`,
      });
    } else {
      add({ kind: 'tree-modified', index: from, detail: `the stored tree node over entries ${from} to ${to - 1} (level ${m.level}) was ${m.deleted ? 'deleted' : 'changed'}` });
    }
  }
  if (failure && !rootExplained) {
    add({
      kind: 'root-mismatch',
      size: failure.size,
      detail: `the entries do not hash to the root signed at size ${failure.size}, though each matches its stored leaf hash: an entry from index ${failure.from} to ${failure.size - 1} was changed and the stored tree rewritten to match`,
    });
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
