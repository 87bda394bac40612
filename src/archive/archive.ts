/**
 * `ffaudit archive`: copies the log out as c2sp.org/tlog-tiles static files, plus its verifier key and the stored
 * blobs its entries name, into a write-once target.
 *
 * Objects are written in an order that keeps the archive valid at every moment: tiles, bundles and blobs first,
 * then `checkpoints/<size>`, then the latest `checkpoint`. So a checkpoint in the archive implies that every tile
 * of its size, and every blob its entries name, is there. Before writing anything, the archive's checkpoint must
 * be signed by the ledger's key and the local log must be an append-only extension of it (RFC 9162 §2.1.4
 * consistency proof against the local tree), and every blob the entries to be archived name must be in the store
 * (a report deleted from the ledger must not leave an archive that verifies without it); otherwise nothing is
 * written and the finding is returned.
 *
 * Incremental runs (the archive has a checkpoint at size M) cost what the new entries cost: they write the tiles a
 * tree of the local size has and a tree of size M has not, and the blobs named by entries M and up, read with one
 * ranged read. They ask the archive only about checkpoints left beyond M (one listing of that range) and, on
 * targets that could store a name twice, about names that may exist already: blobs an older entry may have named
 * too, and everything of the new range when the journal says an earlier run stopped half-way (journal.ts).
 * A full run (`full`, or an archive without a checkpoint) lists the whole archive and writes whatever is missing,
 * including blobs no entry names: it repairs any archive, whatever happened to it.
 */
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import { namedBlobs } from '../ledger/blob.js';
import { verifyConsistency } from '../core/merkle.js';
import { checkNote, parseVerifierKey } from '../core/note.js';
import { encodeEntryBundle, encodeHashTile, hashPerfect, rootFromTiles, TILE_HEIGHT, TILE_WIDTH, tilePath, tilesForSize, type TileRef } from '../core/tiles.js';
import type { Ledger } from '../ledger/ledger.js';
import { Findings, type Problem } from '../ledger/problems.js';
import { clearPendingRun, readPendingRun, writePendingRun } from './journal.js';
import { BLOB_DIR, blobPath, CHECKPOINT, CHECKPOINTS_DIR, checkpointHistoryPath, checkpointHistoryWindows, parseCheckpointHistoryPath, parseTimestampPath, TILE_DIR, TIMESTAMP_DIR, VKEY } from './layout.js';
import { runPool } from './pool.js';
import type { Retention } from './retention.js';
import type { ArchiveTarget } from './target.js';

export interface ArchiveOptions {
  retention: Retention;
  /** PUTs in flight at once. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** List the whole archive and write whatever is missing (repairs any archive); default: incremental. */
  full?: boolean;
  /**
   * The ledger's TSA CA (PEM text): publish the stored tokens that verify against it over the checkpoints the archive
   * holds (published-stamps.ts). Absent: no token is published.
   */
  stampCa?: string | undefined;
}

export interface ArchiveResult {
  ok: boolean;
  /** Findings that stopped the archive (fork, rollback, a forged checkpoint, a named blob missing); nothing was written when there are any. */
  problems: Problem[];
  /** The archive's size before and after. */
  previousSize: number;
  size: number;
  /** `full` when the whole archive was listed (first run, --full, or too much in doubt). */
  mode: 'incremental' | 'full';
  /** `timestamps` (token files) only when a TSA CA was given. */
  written: { tiles: number; bundles: number; blobs: number; checkpoint: boolean; vkey: boolean; timestamps?: number };
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

/**
 * The `checkpoints/<s>` the archive holds with `size < s ≤ localSize` (left by a run that stopped before
 * publishing, or forged). Larger ones cannot be this log's; a full run and `verify --from` check those.
 */
async function listCheckpointsBeyond(target: ArchiveTarget, size: number, localSize: number): Promise<string[]> {
  const lists = await Promise.all(checkpointHistoryWindows(size, localSize).map((w) => target.listRange(CHECKPOINTS_DIR, w.after, w.through)));
  return lists.flat().filter((n) => (parseCheckpointHistoryPath(n) ?? -1) > size);
}

const IS_HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') IS_HEX[c.charCodeAt(0)] = 1;

/** Beyond this many names in doubt, one listing of the whole archive is cheaper than asking name by name. */
const PROBE_LIMIT = 512;
/** An incremental run keeps the entries it reads in memory up to this many (a few MB). */
const KEEP_ENTRIES = 8192;

/** Runs of exactly 64 lowercase hex digits in an entry's bytes, found byte by byte (cheaper than a regex). */
function hexMentions(d: Buffer): string[] {
  const out: string[] = [];
  let run = 0;
  for (let i = 0; i <= d.length; i++) {
    if (i < d.length && IS_HEX[d[i]!] === 1) {
      run++;
      continue;
    }
    if (run === 64) out.push(d.toString('latin1', i - 64, i));
    run = 0;
  }
  return out;
}

/**
 * The stored blobs the given entries name: any 64-hex-digit string that is a stored blob's hash counts (a
 * `report_sha256`, a `{"$blob": …}` field). `fresh` marks a run's own report (top-level `report_sha256`): it is
 * stored by the run that names it, so no older entry names it. Other blobs (a large field moved out of an entry)
 * are shared by every entry with the same value, so an older entry may have named them already.
 */
function blobsNamedBy(ledger: Ledger, rows: readonly Buffer[], from: number, missing: Map<string, number>): { sha: string; fresh: boolean }[] {
  const found = new Map<string, boolean>();
  for (const [k, data] of rows.entries()) {
    const mentions = hexMentions(data);
    if (mentions.length === 0) continue;
    let report: unknown;
    try {
      report = (JSON.parse(data.toString('utf8')) as { report_sha256?: unknown }).report_sha256;
    } catch {
      report = undefined; // checked against its leaf hash already; a blob it names is simply not fresh
    }
    for (const sha of mentions) {
      const fresh = sha === report;
      if (found.has(sha)) {
        if (fresh) found.set(sha, true);
        continue;
      }
      if (ledger.hasBlob(sha)) found.set(sha, fresh);
    }
    // What the entry names is among its mentions: one not found in the store is missing.
    for (const sha of namedBlobs(data)) if (!found.has(sha) && !missing.has(sha)) missing.set(sha, from + k);
  }
  return [...found].map(([sha, fresh]) => ({ sha, fresh }));
}

/** Whether a signed-note vkey text signs this checkpoint. */
function signedBy(cp: SignedCheckpoint, vkey: string): boolean {
  try {
    return checkNote(cp.parsed, [parseVerifierKey(vkey)]) === 'ok';
  } catch {
    return false;
  }
}

/**
 * Checks that an archived checkpoint (`name` in the archive) is signed by this ledger's key and that the local log
 * extends it; returns its size and the findings (none when it does).
 */
async function checkExtension(ledger: Ledger, target: ArchiveTarget, head: SignedCheckpoint, text: string, name: string): Promise<{ problems: Problem[]; size: number }> {
  let cp: SignedCheckpoint;
  try {
    cp = parseSignedCheckpoint(text);
  } catch (e) {
    return { size: 0, problems: [{ kind: 'checkpoint-signature-invalid', detail: `the archive's ${name} is malformed (${(e as Error).message}): it was altered in the archive` }] };
  }
  if (cp.origin !== ledger.origin) {
    throw new FfauditError('ARCHIVE', `the archive holds another log (origin ${JSON.stringify(cp.origin)}, not ${JSON.stringify(ledger.origin)})`);
  }
  if (checkNote(cp.parsed, [ledger.verifier]) !== 'ok') {
    // Signed by the archive's own, different key: the local key was replaced. Otherwise the checkpoint is forged.
    const vkey = (await target.get(VKEY))?.data.toString('utf8').trim();
    if (vkey !== undefined && vkey !== ledger.vkey.trim() && signedBy(cp, vkey)) {
      return { size: cp.size, problems: [{ kind: 'fork', size: cp.size, detail: `the archive's ${name} is signed by the archive's key, not this ledger's: the key, and the history with it, were replaced` }] };
    }
    return { size: cp.size, problems: [{ kind: 'checkpoint-signature-invalid', size: cp.size, detail: `the archive's ${name} (size ${cp.size}) is not validly signed by this log's key: it was forged or altered in the archive` }] };
  }
  if (cp.size > head.size) {
    return { size: cp.size, problems: [{ kind: 'rollback', size: cp.size, detail: `the archive already holds ${cp.size} entries but the local log only ${head.size}: entries were removed or an older copy was restored` }] };
  }
  const proof = ledger.consistency(cp.size, head.size);
  if (!verifyConsistency(cp.size, head.size, proof, cp.root, head.root)) {
    return { size: cp.size, problems: [{ kind: 'fork', size: cp.size, detail: `the local log is not an extension of the archived checkpoint at size ${cp.size}: an older copy of the ledger was restored and new entries appended, or history was rewritten with the signing key` }] };
  }
  return { size: cp.size, problems: [] };
}

/** Reads entries [from, to) with one ranged read, each checked against the signed tree (Ledger.entries). */
function readEntries(ledger: Ledger, from: number, to: number): Buffer[] {
  return ledger.entries(from, to);
}

/** The hashes of a tile, from the store's perfect subtree nodes. */
function tileHashes(ledger: Ledger, t: TileRef & { level: number }): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < t.width; i++) out.push(ledger.treeNode(t.level * TILE_HEIGHT, t.index * TILE_WIDTH + i));
  return out;
}

/** What a run writes, and what it knows the archive holds already. */
interface Plan {
  tiles: TileRef[];
  blobs: string[];
  existing: Set<string>;
  /** `checkpoints/<s>` beyond the archived size, to check before anything is written. */
  leftovers: string[];
  /** Entries read (and checked) already, from `entriesFrom` on. */
  entries: Buffer[];
  entriesFrom: number;
  /** Blobs the entries to be archived name that the store lacks, with the first entry naming each. */
  missing: Map<string, number>;
}

async function planFull(ledger: Ledger, target: ArchiveTarget, previousSize: number, size: number): Promise<Plan> {
  const listing = listExisting(target);
  listing.catch(() => undefined); // awaited below; the local work runs meanwhile
  const blobs = ledger.blobHashes();
  const stored = new Set(blobs);
  const missing = new Map<string, number>();
  for (let a = previousSize; a < size; a += KEEP_ENTRIES) {
    for (const [k, data] of readEntries(ledger, a, Math.min(size, a + KEEP_ENTRIES)).entries()) {
      for (const sha of namedBlobs(data)) if (!stored.has(sha) && !missing.has(sha)) missing.set(sha, a + k);
    }
  }
  const existing = await listing;
  return {
    tiles: tilesForSize(size),
    blobs,
    existing,
    leftovers: [...existing].filter((n) => (parseCheckpointHistoryPath(n) ?? -1) > previousSize),
    entries: [],
    entriesFrom: size,
    missing,
  };
}

/** From the archive's checkpoint at `previousSize` on; undefined when so much is in doubt that a full run is cheaper. */
async function planIncremental(ledger: Ledger, target: ArchiveTarget, previousSize: number, size: number): Promise<Plan | undefined> {
  const leftovers = listCheckpointsBeyond(target, previousSize, size);
  leftovers.catch(() => undefined); // awaited below; the local work runs meanwhile
  const old = new Set(tilesForSize(previousSize).map((t) => tilePath(t)));
  const tiles = tilesForSize(size).filter((t) => !old.has(tilePath(t)));
  // The new tiles start at the level-0 tile that holds entry previousSize: read from there, once.
  // Kept in memory for the bundles when few; a long range is scanned in chunks and read again per bundle.
  const entriesFrom = Math.floor(previousSize / TILE_WIDTH) * TILE_WIDTH;
  let entries: Buffer[] = [];
  let named: { sha: string; fresh: boolean }[];
  const missing = new Map<string, number>();
  if (size === previousSize) {
    named = []; // nothing new: no entry to read
  } else if (size - entriesFrom <= KEEP_ENTRIES) {
    entries = readEntries(ledger, entriesFrom, size);
    named = blobsNamedBy(ledger, entries.slice(previousSize - entriesFrom), previousSize, missing);
  } else {
    const all = new Map<string, boolean>();
    for (let a = previousSize; a < size; a += KEEP_ENTRIES) {
      for (const b of blobsNamedBy(ledger, readEntries(ledger, a, Math.min(size, a + KEEP_ENTRIES)), a, missing)) all.set(b.sha, (all.get(b.sha) ?? false) || b.fresh);
    }
    named = [...all].map(([sha, fresh]) => ({ sha, fresh }));
  }
  // Names that may exist already. A directory refuses to create a name twice by itself; elsewhere, after a run
  // that stopped half-way everything new is in doubt, and otherwise only blobs an older entry may have named.
  let doubt: string[] = [];
  if (!target.exclusiveCreate) {
    doubt =
      readPendingRun(ledger.dir, target.location) !== undefined
        ? [...tiles.map((t) => tilePath(t)), ...named.map((b) => blobPath(b.sha))]
        : named.filter((b) => !b.fresh).map((b) => blobPath(b.sha));
  }
  if (doubt.length > PROBE_LIMIT) {
    await leftovers;
    return undefined;
  }
  const [existing, beyond] = await Promise.all([probeExisting(target, doubt), leftovers]);
  for (const n of beyond) existing.add(n);
  return { tiles, blobs: named.map((b) => b.sha), existing, leftovers: beyond, entries, entriesFrom: entries.length > 0 ? entriesFrom : size, missing };
}

export async function archiveLedger(ledger: Ledger, target: ArchiveTarget, opts: ArchiveOptions): Promise<ArchiveResult> {
  if (ledger.size() === 0) throw new FfauditError('NOT_FOUND', 'the ledger is empty: nothing to archive');
  const headText = ledger.checkpoint();
  let head: SignedCheckpoint;
  try {
    head = openCheckpoint(headText, [ledger.verifier], ledger.origin);
  } catch {
    throw new FfauditError('INTEGRITY', "the ledger's latest checkpoint does not verify: run ffaudit verify");
  }
  const size = head.size;
  const result: ArchiveResult = {
    ok: true,
    problems: [],
    previousSize: 0,
    size,
    mode: 'incremental',
    written: { tiles: 0, bundles: 0, blobs: 0, checkpoint: false, vkey: false },
    alreadyThere: 0,
  };
  // Whether the target takes locked writes: asked meanwhile, awaited before the first write.
  const ready = target.prepare();
  ready.catch(() => undefined);

  // 1. Where the archive stands, and whether we extend it.
  const archived = await readArchiveCheckpointText(target);
  if (archived !== undefined) {
    const ext = await checkExtension(ledger, target, head, archived, CHECKPOINT);
    result.previousSize = ext.size;
    if (ext.problems.length) return { ...result, ok: false, problems: ext.problems, size: ext.size };
  }
  let plan = opts.full || archived === undefined ? undefined : await planIncremental(ledger, target, result.previousSize, size);
  if (!plan) {
    result.mode = 'full';
    plan = await planFull(ledger, target, result.previousSize, size);
  }
  const { existing } = plan;
  // Checkpoints beyond the published one (left by an interrupted run) must belong to this same history too.
  for (const name of plan.leftovers) {
    const there = await target.get(name);
    if (!there) continue;
    const ext = await checkExtension(ledger, target, head, there.data.toString('utf8'), name);
    if (ext.problems.length) return { ...result, ok: false, problems: ext.problems };
  }
  if (plan.missing.size > 0) {
    const found = new Findings();
    for (const [sha, index] of plan.missing) found.add({ kind: 'blob-missing', index, detail: `blob ${sha}, named by entry ${index}, is missing from the ledger` });
    return { ...result, ok: false, problems: found.list() };
  }

  // 2. What is missing. Tiles come from the store's nodes, checked bottom-up: leaves against the entries' bytes,
  // each full tile against the hash the level above holds for it, and the right edge of the tree (the tiles the
  // root is made of, which hold every new hash a full tile is checked against) against the signed root.
  const edge = new Map<string, Buffer[]>();
  const root = rootFromTiles(size, (t) => {
    const name = tilePath(t);
    let hashes = edge.get(name);
    if (!hashes) edge.set(name, (hashes = tileHashes(ledger, t as TileRef & { level: number })));
    return hashes;
  });
  if (!root.equals(head.root)) throw new FfauditError('INTEGRITY', "the log's stored tree does not match its signed checkpoint: run ffaudit verify");
  const entriesOf = (from: number, to: number): Buffer[] =>
    from >= plan.entriesFrom ? plan.entries.slice(from - plan.entriesFrom, to - plan.entriesFrom) : readEntries(ledger, from, to);

  type Job = { name: string; make: () => Buffer; kind: 'tiles' | 'bundles' | 'blobs' | 'vkey' };
  const jobs: Job[] = [];
  for (const t of plan.tiles) {
    const name = tilePath(t);
    if (existing.has(name)) {
      result.alreadyThere++;
      continue;
    }
    if (t.level === 'entries') {
      jobs.push({ name, kind: 'bundles', make: () => encodeEntryBundle(entriesOf(t.index * TILE_WIDTH, t.index * TILE_WIDTH + t.width)) });
    } else {
      const ref = t as TileRef & { level: number };
      jobs.push({
        name,
        kind: 'tiles',
        make: () => {
          const hashes = tileHashes(ledger, ref);
          if (ref.level === 0) entriesOf(ref.index * TILE_WIDTH, ref.index * TILE_WIDTH + ref.width);
          if (ref.width === TILE_WIDTH && !hashPerfect(hashes).equals(ledger.treeNode((ref.level + 1) * TILE_HEIGHT, ref.index))) {
            throw new FfauditError('INTEGRITY', `the log's stored tree is inconsistent at ${name}: run ffaudit verify`);
          }
          return encodeHashTile(hashes);
        },
      });
    }
  }
  for (const sha of plan.blobs) {
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
  // An archive with a checkpoint has its vkey (written before the first checkpoint); a full run checks anyway.
  if (result.mode === 'full') {
    if (!existing.has(VKEY)) jobs.push({ name: VKEY, kind: 'vkey', make: () => Buffer.from(`${ledger.vkey}\n`) });
    else result.alreadyThere++;
  }
  const history = checkpointHistoryPath(size);
  const writeHistory = !existing.has(history) && !(result.mode === 'incremental' && size === result.previousSize);
  const publish = archived !== headText;
  // Tokens over the checkpoints the archive holds (this run's, the one it held, those it lists), not yet there.
  let stamps: { name: string; data: Buffer }[] = [];
  if (opts.stampCa !== undefined) {
    result.written.timestamps = 0;
    const listed = new Set(await target.list(TIMESTAMP_DIR));
    const sizes = new Set([size, result.previousSize, ...[...listed, ...existing].map((n) => parseTimestampPath(n)?.size ?? parseCheckpointHistoryPath(n) ?? 0)].filter((s) => s > 0 && s <= size));
    // Loaded only here: token checks need pkijs, which an archive without a TSA never loads.
    const { stampObjects } = await import('./published-stamps.js');
    stamps = stampObjects(ledger, opts.stampCa, sizes).filter((o) => !listed.has(o.name));
  }
  await ready;
  if (jobs.length === 0 && !writeHistory && !publish && stamps.length === 0) {
    if (existing.has(history)) result.alreadyThere++;
    clearPendingRun(ledger.dir, target.location);
    return result;
  }

  // 3. Write: everything else, then the checkpoint history, then the latest checkpoint. The journal says a run is
  // under way until the checkpoint is published (it only saves the next run requests: journal.ts).
  const journal = !target.exclusiveCreate && writePendingRun(ledger.dir, { location: target.location, from: result.previousSize, to: size });
  let done = 0;
  await runPool(jobs, opts.concurrency ?? 32, async (j) => {
    if (!(await target.put(j.name, j.make(), opts.retention))) result.alreadyThere++;
    else if (j.kind === 'vkey') result.written.vkey = true;
    else result.written[j.kind]++;
    opts.onProgress?.(++done, jobs.length);
  });
  const note = Buffer.from(headText, 'utf8');
  if (writeHistory) {
    if (!(await target.put(history, note, opts.retention))) result.alreadyThere++;
  } else if (existing.has(history)) result.alreadyThere++;
  // After checkpoints/<size>: a token is published only beside the checkpoint it is over; a renewal after its token.
  for (const o of stamps) {
    if (!(await target.put(o.name, o.data, opts.retention))) result.alreadyThere++;
    else result.written.timestamps!++;
  }
  if (publish) {
    await target.publishCheckpoint(note, size, opts.retention);
    result.written.checkpoint = true;
  }
  if (journal || result.mode === 'full') clearPendingRun(ledger.dir, target.location);
  result.protection = await target.finish();
  return result;
}
