/**
 * `ffaudit archive`: copies the log out as c2sp.org/tlog-tiles static files, plus its verifier key and every
 * stored blob, into a write-once target.
 *
 * Incremental from what the target holds, never from local memory: the archive's own checkpoint says how far it
 * got (every tile of that size, and every blob its entries name, was written before it), and the target is asked
 * about everything else (a run killed half-way may have left objects beyond that checkpoint): name by name when
 * few are in doubt, by listing the whole archive otherwise.
 * Objects are written in an order that keeps the archive valid at every moment: tiles, bundles and blobs first,
 * then `checkpoints/<size>`, then the latest `checkpoint`. Before writing anything, the local log must be an
 * append-only extension of the archived checkpoint (RFC 9162 §2.1.4 consistency proof); otherwise nothing is
 * written and the finding is returned.
 */
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import { consistencyProof, hashLeaf, verifyConsistency } from '../core/merkle.js';
import { checkNote } from '../core/note.js';
import { encodeEntryBundle, encodeHashTile, hashPerfect, rootFromTiles, TILE_HEIGHT, TILE_WIDTH, tilePath, tilesForSize, type TileRef } from '../core/tiles.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Problem } from '../ledger/verify.js';
import { BLOB_DIR, blobPath, CHECKPOINT, CHECKPOINTS_DIR, checkpointHistoryPath, parseCheckpointHistoryPath, TILE_DIR, VKEY } from './layout.js';
import { runPool } from './pool.js';
import type { Retention } from './retention.js';
import type { ArchiveTarget } from './target.js';

export interface ArchiveOptions {
  retention: Retention;
  /** PUTs in flight at once. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ArchiveResult {
  ok: boolean;
  /** Findings that stopped the archive (fork, rollback); nothing was written when there are any. */
  problems: Problem[];
  /** The archive's size before and after. */
  previousSize: number;
  size: number;
  written: { tiles: number; bundles: number; blobs: number; checkpoint: boolean; vkey: boolean };
  /** Objects that were already there (a previous run, perhaps interrupted). */
  alreadyThere: number;
  /** What the target did to protect the files (directories). */
  protection?: string | undefined;
}

/** The archive's latest signed checkpoint text, or undefined when it has none. */
export async function readArchiveCheckpointText(target: ArchiveTarget): Promise<string | undefined> {
  const o = await target.get(CHECKPOINT);
  return o?.data.toString('utf8');
}

/** Lists everything an archive run needs to know exists; blob listings are split by first hex digit, in parallel. */
async function listExisting(target: ArchiveTarget): Promise<Set<string>> {
  const blobs = target.parallelListing ? [...'0123456789abcdef'].map((c) => `${BLOB_DIR}${c}`) : [BLOB_DIR];
  const prefixes = [TILE_DIR, CHECKPOINTS_DIR, VKEY, ...blobs];
  const lists = await Promise.all(prefixes.map((p) => target.list(p)));
  return new Set(lists.flat());
}

/** Asks the target about each name alone: cheaper than listing everything when few names are in doubt. */
async function probeExisting(target: ArchiveTarget, names: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  await runPool(names, 32, async (name) => {
    if (await target.has(name)) found.add(name);
  });
  return found;
}

const IS_HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') IS_HEX[c.charCodeAt(0)] = 1;

/** Beyond this many names in doubt, one listing of the whole archive is cheaper than asking name by name. */
const PROBE_LIMIT = 512;

/**
 * The local blobs an archive of size `archivedSize` holds for certain: those whose hash appears in an entry below
 * that size. A run writes every blob before it publishes its checkpoint, so whatever those entries name (a report
 * by `report_sha256`, a large field by `$blob`) was written then. Any 64-hex-digit string counts as a mention.
 */
function blobsCoveredBy(ledger: Ledger, archivedSize: number, local: ReadonlySet<string>): Set<string> {
  const covered = new Set<string>();
  const CHUNK = 4096;
  for (let a = 0; a < archivedSize && covered.size < local.size; a += CHUNK) {
    for (const row of ledger.store.entries(a, Math.min(a + CHUNK, archivedSize))) {
      // Runs of exactly 64 lowercase hex digits, found byte by byte (much cheaper than decoding and a regex).
      const d = row.data;
      let run = 0;
      for (let i = 0; i <= d.length; i++) {
        if (i < d.length && IS_HEX[d[i]!] === 1) {
          run++;
          continue;
        }
        if (run === 64) {
          const h = d.toString('latin1', i - 64, i);
          if (local.has(h)) covered.add(h);
        }
        run = 0;
      }
    }
  }
  return covered;
}

/** Checks the local log extends the archived checkpoint; returns the findings (none when it does). */
function checkExtension(ledger: Ledger, head: SignedCheckpoint, archived: string): { problems: Problem[]; size: number } {
  let cp: SignedCheckpoint;
  try {
    cp = parseSignedCheckpoint(archived);
  } catch (e) {
    throw new FfauditError('ARCHIVE', `the archive's checkpoint is malformed: ${(e as Error).message}`);
  }
  if (cp.origin !== ledger.origin) {
    throw new FfauditError('ARCHIVE', `the archive holds another log (origin ${JSON.stringify(cp.origin)}, not ${JSON.stringify(ledger.origin)})`);
  }
  if (checkNote(cp.parsed, [ledger.verifier]) !== 'ok') {
    return { size: cp.size, problems: [{ kind: 'fork', size: cp.size, detail: "the archive's checkpoint is not signed by this ledger's key: the key, and the history with it, were replaced" }] };
  }
  if (cp.size > head.size) {
    return { size: cp.size, problems: [{ kind: 'rollback', size: cp.size, detail: `the archive already holds ${cp.size} entries but the local log only ${head.size}: entries were removed or an older copy was restored` }] };
  }
  const proof = consistencyProof(ledger.store, cp.size, head.size);
  if (!verifyConsistency(cp.size, head.size, proof, cp.root, head.root)) {
    return { size: cp.size, problems: [{ kind: 'fork', size: cp.size, detail: `the local log is not an extension of the archived checkpoint at size ${cp.size}: history was rewritten (with the signing key)` }] };
  }
  return { size: cp.size, problems: [] };
}

/** Reads entries [from, to), checking each against its stored leaf hash; the stored tree is never trusted blindly. */
function readEntries(ledger: Ledger, from: number, to: number): Buffer[] {
  const rows = ledger.store.entries(from, to);
  if (rows.length !== to - from) throw new FfauditError('INTEGRITY', `entries ${from} to ${to - 1} are not all in the store: run ffaudit verify`);
  return rows.map((r, k) => {
    if (r.index !== from + k || !hashLeaf(r.data).equals(ledger.store.perfect(0, r.index))) {
      throw new FfauditError('INTEGRITY', `entry ${from + k} does not match the log's tree: run ffaudit verify`);
    }
    return r.data;
  });
}

/** The hashes of a tile, from the store's perfect subtree nodes. */
function tileHashes(ledger: Ledger, t: TileRef & { level: number }): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < t.width; i++) out.push(ledger.store.perfect(t.level * TILE_HEIGHT, t.index * TILE_WIDTH + i));
  return out;
}

export async function archiveLedger(ledger: Ledger, target: ArchiveTarget, opts: ArchiveOptions): Promise<ArchiveResult> {
  const headRow = ledger.store.head();
  if (!headRow) throw new FfauditError('NOT_FOUND', 'the ledger is empty: nothing to archive');
  let head: SignedCheckpoint;
  try {
    head = openCheckpoint(headRow.checkpoint, [ledger.verifier], ledger.origin);
  } catch {
    throw new FfauditError('INTEGRITY', "the ledger's latest checkpoint does not verify: run ffaudit verify");
  }
  const size = head.size;
  const result: ArchiveResult = {
    ok: true,
    problems: [],
    previousSize: 0,
    size,
    written: { tiles: 0, bundles: 0, blobs: 0, checkpoint: false, vkey: false },
    alreadyThere: 0,
  };

  // 1. Where the archive stands, and whether we extend it.
  const archived = await readArchiveCheckpointText(target);
  if (archived !== undefined) {
    const ext = checkExtension(ledger, head, archived);
    result.previousSize = ext.size;
    if (ext.problems.length) return { ...result, ok: false, problems: ext.problems, size: ext.size };
  }
  // What the archive holds: everything its published checkpoint covers (tiles and blobs written before it) is
  // there; anything else in doubt is asked for, one by one when few, else by listing the whole archive.
  const localBlobs = ledger.store.blobHashes();
  const knownTiles = new Set(tilesForSize(result.previousSize).map((t) => tilePath(t)));
  const covered = result.previousSize > 0 ? blobsCoveredBy(ledger, result.previousSize, new Set(localBlobs)) : new Set<string>();
  const inDoubt = [
    ...tilesForSize(size).map((t) => tilePath(t)).filter((n) => !knownTiles.has(n)),
    ...localBlobs.filter((sha) => !covered.has(sha)).map((sha) => blobPath(sha)),
    VKEY,
    checkpointHistoryPath(size),
  ];
  const probing = target.parallelListing && result.previousSize > 0 && inDoubt.length <= PROBE_LIMIT;
  const existing = probing ? await probeExisting(target, inDoubt) : await listExisting(target);
  if (probing) {
    for (const n of knownTiles) existing.add(n);
    for (const sha of covered) existing.add(blobPath(sha));
  }
  // Checkpoints beyond the published one (left by an interrupted run) must belong to this same history too.
  for (const name of existing) {
    const s = parseCheckpointHistoryPath(name);
    if (s === undefined || s <= result.previousSize) continue;
    const there = await target.get(name);
    if (!there) continue;
    const ext = checkExtension(ledger, head, there.data.toString('utf8'));
    if (ext.problems.length) return { ...result, ok: false, problems: ext.problems };
  }

  // 2. What is missing. Tiles come from the store's nodes, checked bottom-up: leaves against the entries' bytes,
  // each full tile against the hash the level above holds for it, and the whole against the signed root.
  const root = rootFromTiles(size, (t) => tileHashes(ledger, t as TileRef & { level: number }));
  if (!root.equals(head.root)) throw new FfauditError('INTEGRITY', "the log's stored tree does not match its signed checkpoint: run ffaudit verify");
  await target.prepare();

  type Job = { name: string; make: () => Buffer; kind: 'tiles' | 'bundles' | 'blobs' | 'vkey' };
  const jobs: Job[] = [];
  for (const t of tilesForSize(size)) {
    const name = tilePath(t);
    if (existing.has(name)) {
      result.alreadyThere++;
      continue;
    }
    if (t.level === 'entries') {
      jobs.push({ name, kind: 'bundles', make: () => encodeEntryBundle(readEntries(ledger, t.index * TILE_WIDTH, t.index * TILE_WIDTH + t.width)) });
    } else {
      const ref = t as TileRef & { level: number };
      jobs.push({
        name,
        kind: 'tiles',
        make: () => {
          const hashes = tileHashes(ledger, ref);
          if (ref.level === 0) readEntries(ledger, ref.index * TILE_WIDTH, ref.index * TILE_WIDTH + ref.width);
          if (ref.width === TILE_WIDTH && !hashPerfect(hashes).equals(ledger.store.perfect((ref.level + 1) * TILE_HEIGHT, ref.index))) {
            throw new FfauditError('INTEGRITY', `the log's stored tree is inconsistent at ${name}: run ffaudit verify`);
          }
          return encodeHashTile(hashes);
        },
      });
    }
  }
  for (const sha of localBlobs) {
    const name = blobPath(sha);
    if (existing.has(name)) {
      result.alreadyThere++;
      continue;
    }
    jobs.push({
      name,
      kind: 'blobs',
      make: () => {
        const b = ledger.blob(sha);
        if (!b) throw new FfauditError('INTEGRITY', `blob ${sha} vanished from the store`);
        return b;
      },
    });
  }
  if (!existing.has(VKEY)) jobs.push({ name: VKEY, kind: 'vkey', make: () => Buffer.from(`${ledger.vkey}\n`) });
  else result.alreadyThere++;

  // 3. Write: everything else, then the checkpoint history, then the latest checkpoint.
  let done = 0;
  await runPool(jobs, opts.concurrency ?? 32, async (j) => {
    await target.put(j.name, j.make(), opts.retention);
    if (j.kind === 'vkey') result.written.vkey = true;
    else result.written[j.kind]++;
    opts.onProgress?.(++done, jobs.length);
  });
  const note = Buffer.from(headRow.checkpoint, 'utf8');
  if (!existing.has(checkpointHistoryPath(size))) await target.put(checkpointHistoryPath(size), note, opts.retention);
  else result.alreadyThere++;
  if (archived !== headRow.checkpoint) {
    await target.publishCheckpoint(note, size, opts.retention);
    result.written.checkpoint = true;
  }
  result.protection = await target.finish();
  return result;
}
