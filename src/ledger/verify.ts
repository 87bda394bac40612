/**
 * `ffaudit verify`: everything that can be checked about a ledger from its own files, and, given a checkpoint
 * saved elsewhere, that the log is an append-only extension of it.
 *
 * The store is untrusted input (ARCHITECTURE.md invariant 6): leaf hashes are recomputed from the stored bytes,
 * the tree is rebuilt from them in one streaming pass, and each kept signed checkpoint is compared with the root
 * rebuilt at its size. The pass runs in blocks of 2^16 entries (perfect subtrees), scanned by one worker thread per
 * core, so memory is bounded by the block size and not the log.
 */
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { foldParts, Frontier } from '../core/merkle.js';
import { checkNote, type Verifier } from '../core/note.js';
import type { Store } from '../store/types.js';
import { anyInRange, scanBlock, type BlockJob, type BlockResult } from './verify-scan.js';

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
  /** Entries per block (a power of two). */
  blockSize?: number;
  /** Worker threads; 0 scans in-process. Default: one per core when the log spans several blocks. */
  workers?: number;
}

const MAX_LISTED = 1000; // per kind: a log rewritten wholesale still yields a readable report
const DEFAULT_BLOCK = 1 << 16;

/** Scans blocks with a pool of worker threads (each with its own read-only connection), results in block order. */
function scanWithWorkers(path: string, jobs: BlockJob[], n: number): { results: Promise<BlockResult>[]; close: () => Promise<void> } {
  const workers = Array.from({ length: n }, () => new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { path } }));
  const settle: { resolve: (r: BlockResult) => void; reject: (e: Error) => void }[] = [];
  const results = jobs.map((_, i) => new Promise<BlockResult>((resolve, reject) => (settle[i] = { resolve, reject })));
  // Blocks after a failed one are never awaited: their rejections must not become unhandled.
  for (const r of results) r.catch(() => undefined);
  let next = 0;
  const feed = (w: Worker) => {
    if (next >= jobs.length) return;
    const i = next++;
    w.once('message', (m: { ok: boolean; result?: BlockResult; error?: string }) => {
      if (m.ok) settle[i]!.resolve(reviveBuffers(m.result!));
      else settle[i]!.reject(new FfauditError('STORE', m.error ?? 'verify worker failed'));
      feed(w);
    });
    w.postMessage(jobs[i]);
  };
  for (const w of workers) {
    w.on('error', (e) => settle.forEach((s) => s.reject(e)));
    feed(w);
  }
  return { results, close: async () => void (await Promise.all(workers.map((w) => w.terminate()))) };
}

/** Structured clone turns Buffers into Uint8Arrays. */
function reviveBuffers(r: BlockResult): BlockResult {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return { ...r, root: r.root ? buf(r.root) : null, parts: r.parts.map((p) => ({ size: p.size, hashes: p.hashes.map(buf) })) };
}

/**
 * Verifies a ledger's store. A database too damaged to read part-way through is a `store-corrupt` finding, not a
 * failure to run: whatever was found before the damage is reported with it.
 */
export async function verifyStore(store: Store, origin: string, verifier: Verifier, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: Problem[] = [];
  const state = { size: 0, entries: 0, checkpoints: 0 };
  try {
    return await verifyInner(store, origin, verifier, opts, problems, state);
  } catch (e) {
    if (!(e instanceof FfauditError) || e.code !== 'STORE') throw e;
    problems.push({ kind: 'store-corrupt', detail: `the database could not be read to the end: ${e.message}` });
    return { ok: false, size: state.size, problems, checked: { entries: state.entries, checkpoints: state.checkpoints, trusted: null } };
  }
}

async function verifyInner(
  store: Store,
  origin: string,
  verifier: Verifier,
  opts: VerifyOptions,
  problems: Problem[],
  state: { size: number; entries: number; checkpoints: number },
): Promise<VerifyReport> {
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
  for (const k of store.keptCheckpoints()) {
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
  state.size = size;
  state.checkpoints = signed.size;
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

  // 3. The entries and the tree, block by block; roots checked at every signed size and at the trusted size.
  const total = Math.max(size, maxIdx + 1);
  const B = opts.blockSize ?? DEFAULT_BLOCK;
  const blockLevel = Math.log2(B);
  if (!Number.isInteger(blockLevel)) throw new FfauditError('INTERNAL', 'verify block size must be a power of two');
  const checkSizes = new Set(signed.keys());
  if (trusted && trusted.size <= size) checkSizes.add(trusted.size);
  const jobs: BlockJob[] = [];
  for (let a = 0; a < total; a += B) {
    const b = Math.min(a + B, total);
    jobs.push({ start: a, end: b, size, sizes: [...checkSizes].filter((s) => s > a && s <= b) });
  }
  const nWorkers = opts.workers ?? (jobs.length >= 2 ? Math.min(availableParallelism(), jobs.length) : 0);
  const pool = nWorkers > 0 ? scanWithWorkers(store.path, jobs, nWorkers) : undefined;

  const top = new Frontier(); // whole blocks, as perfect subtrees of 2^blockLevel leaves
  const problemAt: number[] = [];
  let checkedEntries = 0;
  let lastGoodSize = 0;
  let rootFailures = 0;
  const checkRoot = (s: number, root: Buffer) => {
    if (trusted && s === trusted.size && !root.equals(trusted.root)) {
      add({ kind: 'fork', size: s, detail: `the log's first ${s} entries do not hash to the trusted checkpoint's root: history was rewritten (with the signing key)` });
    }
    const cp = signed.get(s);
    if (!cp) return;
    if (root.equals(cp.root)) {
      lastGoodSize = s;
      return;
    }
    rootFailures++;
    if (rootFailures === 1 && !anyInRange(problemAt, lastGoodSize, s)) {
      add({
        kind: 'root-mismatch',
        size: s,
        detail: `the entries do not hash to the root signed at size ${s}, though each matches its stored leaf hash: an entry from index ${lastGoodSize} to ${s - 1} was changed and the stored tree rewritten to match`,
      });
    }
  };
  if (checkSizes.has(0)) checkRoot(0, foldParts([]));

  try {
    for (let j = 0; j < jobs.length; j++) {
      const r = pool ? await pool.results[j]! : scanBlock(store, jobs[j]!);
      r.problems.forEach(add);
      problemAt.push(...r.problemAt);
      checkedEntries += r.checked;
      state.entries = checkedEntries;
      const prefix = top.parts();
      for (const p of r.parts) checkRoot(p.size, foldParts([...prefix, ...p.hashes]));
      if (r.root) {
        top.pushSubtree(blockLevel, r.root, (level, idx, hash) => {
          const from = idx * 2 ** level;
          const to = from + 2 ** level;
          if (anyInRange(problemAt, from, to)) return;
          let stored: Buffer | undefined;
          try {
            stored = store.perfect(level, idx);
          } catch {
            stored = undefined;
          }
          if (!stored || !stored.equals(hash)) {
            add({ kind: 'tree-modified', index: from, detail: `the stored tree node over entries ${from} to ${to - 1} (level ${level}) was ${stored ? 'changed' : 'deleted'}` });
          }
        });
      }
      opts.onProgress?.(jobs[j]!.end, total);
    }
  } finally {
    await pool?.close();
  }
  if (rootFailures > 0 && !problems.some((p) => p.kind === 'root-mismatch') && problemAt.length === 0) {
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
