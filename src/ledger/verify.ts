/**
 * `ffaudit verify`: everything that can be checked about a ledger from its own files, and, given a checkpoint
 * saved elsewhere, that the log is an append-only extension of it.
 *
 * The store is untrusted input (docs/design.md invariant 6): leaf hashes are recomputed from the stored bytes,
 * the tree is rebuilt from them in one streaming pass, and each kept signed checkpoint is compared with the root
 * rebuilt at its size. The pass runs in blocks of 2^16 entries (perfect subtrees) scanned by one worker thread per
 * core (verify-scan.ts), so memory is bounded by the block size and not by the log.
 */
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { addSignatureLines, type CosignatureVerifier } from '../core/cosignature.js';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FfauditError } from '../core/errors.js';
import { foldParts, Frontier } from '../core/merkle.js';
import { checkNote, type Verifier } from '../core/note.js';
import { checkpointWitnesses, quorumMet, type TlogPolicy } from '../core/tlog-policy.js';
import type { Store } from '../store/types.js';
import { checkedBlobContent } from './blob.js';
import { rowProblem } from './cosignatures.js';
import { Findings, MAX_LISTED, type Problem } from './problems.js';
import { anyInRange, scanBlock, type BlockJob, type BlockResult, type TreeMismatch } from './verify-scan.js';

export interface VerifyReport {
  ok: boolean;
  size: number;
  problems: Problem[];
  checked: { entries: number; checkpoints: number; trusted: { size: number; root: string } | null };
  /**
   * What the server's cosigners last vouched for (checked cosignatures kept in the ledger), per cosigner: the
   * largest tree size each cosigned, when, and how far the local log has moved past it. Null when the ledger
   * holds none (or joined no server).
   */
  cosigned: CosignedState[] | null;
  /** With a policy whose quorum is not `none`: how its witnesses' stored cosignatures stand against it. */
  quorum?: QuorumState;
}

export interface QuorumState {
  /** The rule, in words: "2 of w1, w2, w3" (the quorum group's threshold and members), or the one witness. */
  rule: string;
  /** The checkpoint judged: the largest one any witness of the policy cosigned (null: none did). */
  size: number | null;
  /** The policy's witnesses whose cosignatures on it verify, and those whose do not (by their policy names). */
  witnessed: string[];
  missing: string[];
  met: boolean;
  /** The largest checkpoint whose cosignatures meet the quorum, if any. */
  metAt: number | null;
}

export interface CosignedState {
  /** The cosigner's key name (NAME/witness, NAME/mirror). */
  cosigner: string;
  /** The server that returned it (its URL). */
  server: string;
  size: number;
  /** The cosignature's timestamp, POSIX seconds. */
  timestamp: number;
  /** Local signed size minus `size`: entries the cosigner has not vouched for yet (negative: it cosigned more than the log holds). */
  behind: number;
}

export interface VerifyOptions {
  /** A checkpoint saved earlier (perhaps by someone else): the log must extend it. */
  trusted?: string | undefined;
  onProgress?: (done: number, total: number) => void;
  /** Entries per block (a power of two). */
  blockSize?: number;
  /** Worker threads; 0 scans in-process. Default: one per core when the log spans several blocks. */
  workers?: number;
  /**
   * The server's cosigner keys (the ledger's config): the cosignatures kept in the store that they made are checked
   * again, and the checkpoints they cosigned are trusted as `trusted` is. Empty or absent: stored cosignatures are
   * not looked at.
   */
  cosigners?: readonly CosignatureVerifier[];
  /**
   * A c2sp.org/tlog-policy (the ledger's config's, or one given): unless its quorum is `none`, the largest checkpoint
   * its witnesses cosigned must be cosigned by the quorum, else a `quorum-not-met` finding names the missing ones.
   * Its witnesses' keys must be among `cosigners` for their stored cosignatures to be read.
   */
  policy?: TlogPolicy | undefined;
}

/** A checkpoint a server cosigned, as stored (checked): what the local log must still extend. */
interface Cosigned {
  size: number;
  root: Buffer;
  /** The checkpoint with the log's signature and every checked cosignature on it: the proof a finding shows. */
  note: string;
}

const DEFAULT_BLOCK = 1 << 16;

/**
 * Scans blocks with a pool of worker threads (each with its own read-only connection), results in block order.
 * The workers get no Node options of their own: inheriting the process's (`node -e …` in particular) left them
 * doing nothing useful, and verify took as long as on one thread.
 */
function scanWithWorkers(path: string, jobs: BlockJob[], n: number): { results: Promise<BlockResult>[]; close: () => Promise<void> } {
  const workers = Array.from({ length: n }, () => new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { path }, execArgv: [] }));
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
    w.on('error', (e) => settle.forEach((s) => s.reject(new FfauditError('STORE', e.message))));
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
 * Verifies a ledger's store. A database damaged part-way is read as far as it can be: what cannot be read is a
 * `store-corrupt` finding, and whatever else is found is reported with it.
 */
export async function verifyStore(store: Store, origin: string, verifier: Verifier, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const findings = new Findings();
  const add = (p: Problem) => findings.add(p);

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
  // SQLite's own check runs on this thread while the workers scan the entries (below); with workers it starts
  // only once they are busy, and its findings are listed first either way.
  const integrityFindings = () => {
    const found = store.integrityCheck().slice(0, 20);
    findings.addFirst(found.map((msg): Problem => ({ kind: 'store-corrupt', detail: `SQLite integrity check: ${msg}` })));
  };
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
  const damaged = () => findings.has('store-corrupt');
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

  // 2b. Checkpoints the server cosigned (c2sp.org/tlog-cosignature: "the consistent tree head with the largest
  // size the cosigner has observed"): the log must still extend each of them, as it must the trusted one. Rows are
  // checked again (the store is untrusted); a row of a known key that fails is the table edited behind our back.
  const cosignedAt = new Map<number, Cosigned[]>();
  const latest = new Map<string, CosignedState>();
  let quorum: QuorumState | undefined = opts.policy && opts.policy.quorum !== 'none' ? quorumState(opts.policy, [], size) : undefined;
  if (opts.cosigners && opts.cosigners.length > 0) {
    const rows = read('the cosignatures', () => store.cosignatures(), []);
    const notes = new Map<string, { size: number; root: Buffer; note: string; lines: string[] }>();
    let replaced: { size: number; note: string } | undefined;
    for (const row of rows) {
      if (!opts.cosigners.some((k) => k.name === row.name && Buffer.isBuffer(row.keyId) && k.keyId.equals(row.keyId))) continue;
      const bad = rowProblem(row, origin, verifier, opts.cosigners);
      if (bad?.keyReplaced) {
        if (!replaced || row.size > replaced.size) replaced = { size: row.size, note: addSignatureLines(row.checkpoint, [row.line]) };
        continue;
      }
      if (bad) {
        const witness = policyName(opts.policy, row);
        add({
          kind: 'cosignature-invalid',
          size: Number.isSafeInteger(row.size) ? row.size : undefined,
          detail: `a stored cosignature by ${witness !== undefined ? `witness ${witness} (${JSON.stringify(String(row.name).slice(0, 80))})` : JSON.stringify(String(row.name).slice(0, 80))} ${bad.problem}: the cosignatures were edited in the database`,
        });
        continue;
      }
      const k = `${row.size} ${row.root.toString('hex')}`;
      const n = notes.get(k) ?? { size: row.size, root: row.root, note: row.checkpoint, lines: [] };
      n.lines.push(row.line);
      notes.set(k, n);
      const l = latest.get(row.name);
      if (!l || row.size > l.size || (row.size === l.size && row.timestamp > l.timestamp)) latest.set(row.name, { cosigner: row.name, server: row.server, size: row.size, timestamp: row.timestamp, behind: 0 });
    }
    for (const n of notes.values()) {
      const list = cosignedAt.get(n.size) ?? [];
      list.push({ size: n.size, root: n.root, note: addSignatureLines(n.note, n.lines) });
      cosignedAt.set(n.size, list);
    }
    if (opts.policy && opts.policy.quorum !== 'none') quorum = quorumState(opts.policy, [...cosignedAt.values()].flat(), size);
    if (replaced) {
      add({
        kind: 'fork',
        size: replaced.size,
        detail: `the server cosigned a checkpoint of size ${replaced.size} signed by another key than this ledger's current one: the key was replaced, and the history with it`,
        proof: replaced.note,
      });
    }
    // The largest cosigned size beyond the log: one finding (every smaller one beyond it says the same).
    const beyond = [...cosignedAt.keys()].filter((s) => s > size).sort((a, b) => b - a);
    if (beyond.length > 0) {
      const top = cosignedAt.get(beyond[0]!)![0]!;
      add({
        kind: 'rollback',
        size: top.size,
        detail: `the log holds ${size} entries but the server already cosigned a checkpoint of ${top.size}: entries were removed or an older copy was restored (the cosigned checkpoint is the proof)`,
        proof: top.note,
      });
    }
  }
  /** Cosigned checkpoints the entries do not reach, by size (the smallest is reported: the earliest proof). */
  const cosignedForks: Cosigned[] = [];

  // 3. The entries of the signed log and the tree over them, block by block; roots checked at every signed size
  // and at the trusted size. Rows outside the signed log are looked up afterwards, so that one hostile row at
  // index 2^50 costs one row, not a scan.
  const total = size;
  const B = opts.blockSize ?? DEFAULT_BLOCK;
  if (!Number.isInteger(Math.log2(B))) throw new FfauditError('INTERNAL', 'verify block size must be a power of two');
  const checkSizes = new Set(signed.keys());
  if (trusted && trusted.size <= size) checkSizes.add(trusted.size);
  for (const s of cosignedAt.keys()) if (s <= size) checkSizes.add(s);
  // The derived indexes are checked against the entries they cover (index-check.ts), in the same pass.
  const indexed = read('the search index', () => store.storedIndexedSize(), 0);
  const jobs: BlockJob[] = [];
  for (let a = 0; a < total; a += B) {
    const b = Math.min(a + B, total);
    jobs.push({ start: a, end: b, sizes: [...checkSizes].filter((s) => s > a && s <= b), indexed });
  }
  const nWorkers = opts.workers ?? (jobs.length >= 2 ? Math.min(availableParallelism(), jobs.length) : 0);
  const pool = nWorkers > 0 ? scanWithWorkers(store.path, jobs, nWorkers) : undefined;
  integrityFindings();

  const top = new Frontier(); // whole blocks, as perfect subtrees
  const entryProblemAt: number[] = []; // ascending indices with an entry-level finding
  const mismatchedAbove = new Set<string>(); // stored nodes at block level and above that disagree
  const treeMismatches: TreeMismatch[] = [];
  const blobRefs = new Map<string, number>();
  let checkedEntries = 0;
  let lastGoodSize = 0;
  // The first signed root the entries fail to reach, and the range of entries it leaves in doubt.
  let firstRootFailure: { from: number; size: number } | undefined;

  const checkRoot = (s: number, root: Buffer) => {
    // Entries found changed or missing already explain a different root; a fork is a history that is
    // self-consistent yet not the trusted one.
    if (trusted && s === trusted.size && !root.equals(trusted.root) && !anyInRange(entryProblemAt, 0, s)) {
      add({ kind: 'fork', size: s, detail: `the log's first ${s} entries do not hash to the trusted checkpoint's root: an older copy of the ledger was restored and new entries appended, or history was rewritten with the signing key` });
    }
    for (const c of cosignedAt.get(s) ?? []) if (!root.equals(c.root) && !anyInRange(entryProblemAt, 0, s)) cosignedForks.push(c);
    const cp = signed.get(s);
    if (!cp) return;
    if (root.equals(cp.root)) lastGoodSize = s;
    else firstRootFailure ??= { from: lastGoodSize, size: s };
  };
  if (checkSizes.has(0)) checkRoot(0, foldParts([]));

  try {
    for (let j = 0; j < jobs.length; j++) {
      let r: BlockResult;
      try {
        r = pool ? await pool.results[j]! : scanBlock(store, jobs[j]!);
      } catch (e) {
        if (!(e instanceof FfauditError) || e.code !== 'STORE') throw e;
        r = scanBlock(store, jobs[j]!); // a worker that could not even open the file: read what we can here
      }
      if (r.unreadable) read('the entries', () => { throw new FfauditError('STORE', r.unreadable!); }, undefined);
      for (const p of r.problems) {
        if (p.kind === 'entry-missing' && damaged()) p.detail = `entry ${p.index} cannot be read from the damaged database`;
        add(p);
      }
      entryProblemAt.push(...r.problemAt);
      treeMismatches.push(...r.treeMismatches);
      const { names, at } = r.blobRefs;
      for (let k = 0; k < at.length; k++) {
        const h = names.slice(64 * k, 64 * k + 64);
        if (!blobRefs.has(h)) blobRefs.set(h, at[k]!);
      }
      checkedEntries += r.checked;
      const prefix = top.parts();
      for (const p of r.parts) checkRoot(p.size, foldParts([...prefix, ...p.hashes]));
      if (r.root) {
        const level = Math.log2(r.end - r.start);
        if (r.topMismatch) mismatchedAbove.add(`${level}:${r.start / (r.end - r.start)}`);
        top.pushSubtree(level, r.root, (l, idx, hash) => {
          const got: unknown = read('the stored tree', () => store.perfect(l, idx), undefined);
          const stored = Buffer.isBuffer(got) ? got : undefined;
          if (stored?.equals(hash)) return;
          mismatchedAbove.add(`${l}:${idx}`);
          const from = idx * 2 ** l;
          if (anyInRange(entryProblemAt, from, from + 2 ** l)) return;
          if (mismatchedAbove.has(`${l - 1}:${2 * idx}`) || mismatchedAbove.has(`${l - 1}:${2 * idx + 1}`)) return;
          treeMismatches.push({ level: l, index: idx, deleted: !stored });
        });
      }
      opts.onProgress?.(jobs[j]!.end, total);
    }
  } finally {
    await pool?.close();
  }

  // Rows no signed checkpoint covers: beyond the signed size, or at negative indices.
  const stray = read('the entries', () => store.entriesOutside(size, MAX_LISTED + 1), []);
  for (const row of stray.slice(0, MAX_LISTED)) {
    add({ kind: 'entry-unsigned', index: row.index, detail: `entry ${row.index} lies outside the signed log (size ${size}): it was added behind the log's back` });
  }
  if (stray.length > MAX_LISTED) add({ kind: 'entry-unsigned', detail: 'more rows lie outside the signed log; not listed' });

  // 4. Blobs: each stored one must hash to its name, and each one an entry names (a run's report, a field moved
  // out: namedBlobs in blob.ts, collected by the scan) must be there. (Entries sign only the hash; this finds
  // the damage before someone needs the content.)
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

  if (cosignedForks.length > 0) {
    cosignedForks.sort((a, b) => a.size - b.size);
    const first = cosignedForks[0]!;
    const more = new Set(cosignedForks.map((c) => c.size)).size - 1;
    add({
      kind: 'fork',
      size: first.size,
      detail: `the log's first ${first.size} entries do not hash to the root the server cosigned at that size${more > 0 ? ` (nor do they at ${more} later cosigned size${more === 1 ? '' : 's'})` : ''}: an older copy of the ledger was restored and new entries appended, or history was rewritten with the signing key (the cosigned checkpoint is the proof)`,
      proof: first.note,
    });
  }

  if (quorum && !quorum.met && size > 0) {
    const rule = `the quorum (${quorum.rule}) is not met`;
    add({
      kind: 'quorum-not-met',
      ...(quorum.size !== null ? { size: quorum.size } : {}),
      detail:
        quorum.size === null
          ? `no checkpoint of the log is cosigned by a witness of the policy: ${rule}; missing: ${quorum.missing.join(', ')}`
          : `the latest checkpoint the witnesses cosigned (size ${quorum.size}) is cosigned by ${quorum.witnessed.join(', ')} only: ${rule}; missing: ${quorum.missing.join(', ')}` +
            (quorum.metAt !== null ? ` (the largest checkpoint that meets it is of size ${quorum.metAt})` : ' (no checkpoint meets it)'),
    });
  }

  const problems = findings.list();
  return {
    ok: problems.length === 0,
    size,
    problems,
    checked: {
      entries: checkedEntries,
      checkpoints: signed.size,
      trusted: trusted ? { size: trusted.size, root: trusted.root.toString('base64') } : null,
    },
    cosigned: latest.size > 0 ? [...latest.values()].sort((a, b) => (a.cosigner < b.cosigner ? -1 : 1)).map((c) => ({ ...c, behind: size - c.size })) : null,
    ...(quorum ? { quorum } : {}),
  };
}

/** The policy's name for the witness of a stored row's key, if the policy lists it. */
function policyName(policy: TlogPolicy | undefined, row: { name: unknown; keyId: unknown }): string | undefined {
  for (const [name, k] of policy?.witnessKeys ?? []) if (k.name === row.name && Buffer.isBuffer(row.keyId) && k.keyId.equals(row.keyId)) return name;
  return undefined;
}

/** tlog-policy §Defining the quorum, in words: the group's threshold and members, or the one witness. */
function describeQuorum(policy: TlogPolicy): string {
  const g = policy.groupRules.get(policy.quorum);
  if (!g) return policy.quorum;
  const k = g.threshold === g.members.length && g.members.length > 1 ? 'all' : String(g.threshold);
  return `${k} of ${g.members.join(', ')}`;
}

/**
 * The quorum at the largest checkpoint of the log (at most `size`) that a witness of the policy cosigned, and the
 * largest one that meets it. `cosigned` holds checked notes (rows verified with the log's key and the cosigners').
 */
function quorumState(policy: TlogPolicy, cosigned: readonly Cosigned[], size: number): QuorumState {
  let judged: { size: number; witnessed: Set<string> } | undefined;
  let metAt: number | null = null;
  for (const c of [...cosigned].filter((x) => x.size <= size).sort((a, b) => b.size - a.size)) {
    const { witnessed } = checkpointWitnesses(policy, c.note);
    if (witnessed.size === 0) continue;
    judged ??= { size: c.size, witnessed };
    if (quorumMet(policy, witnessed)) {
      metAt = c.size;
      break;
    }
  }
  const witnessed = policy.witnesses.filter((n) => judged?.witnessed.has(n) === true);
  return {
    rule: describeQuorum(policy),
    size: judged?.size ?? null,
    witnessed,
    missing: policy.witnesses.filter((n) => !witnessed.includes(n)),
    met: judged !== undefined && quorumMet(policy, judged.witnessed),
    metAt,
  };
}
