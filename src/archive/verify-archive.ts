/**
 * `ffaudit verify --from LOCATION`: checks an archived copy on its own, with no local ledger. Everything read
 * is untrusted. Checked: every checkpoint's signature (against --pubkey, else the archive's own vkey), every
 * entry bundle against its level-0 tile, every full tile against the hash the level above holds for it, the root
 * rebuilt from the tiles and from the entries against each signed checkpoint, every blob against its name, and
 * that every object carries the retention it should (`not-locked`).
 */
import { parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { sha256Hex } from '../core/entry.js';
import { namedBlobs } from '../ledger/blob.js';
import { FfauditError } from '../core/errors.js';
import { Frontier, hashLeaf } from '../core/merkle.js';
import { checkNote, parseVerifierKey, type Verifier } from '../core/note.js';
import { decodeEntryBundle, decodeHashTile, hashPerfect, rootFromTiles, TILE_WIDTH, tilePath, tilesForSize, type TileRef } from '../core/tiles.js';
import { Findings, type Problem } from '../ledger/problems.js';
import { BLOB_DIR, blobPath, CHECKPOINT, CHECKPOINTS_DIR, parseBlobPath, parseCheckpointHistoryPath, parseTimestampPath, TILE_DIR, TIMESTAMP_DIR, VKEY } from './layout.js';
import { runPool } from './pool.js';
import { openSource } from './open-target.js';
import type { ArchiveSource, StoredObject } from './target.js';

export interface ArchiveVerifyReport {
  ok: boolean;
  size: number;
  origin: string;
  /** False when the signature was checked only against the archive's own vkey. */
  keyVerified: boolean;
  vkey: string;
  problems: Problem[];
  checked: { entries: number; tiles: number; checkpoints: number; blobs: number; objects: number };
  /**
   * The published time-stamp tokens (timestamp/<size>[.<n>]): how many were found, how many verified against the
   * TSA CA given (`checked` false: none given, so none was checked), and the sentence for the largest size covered.
   */
  timestamps: { found: number; verified: number; checked: boolean; otherCa?: number | undefined; newest?: string | undefined };
}

export interface ArchiveVerifyOptions {
  pubkey?: string | undefined;
  /** PEM text of the TSA CA the published tokens must chain to; without it they are counted, not checked. */
  tsaCa?: string | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
  now?: Date;
}

const FETCH_BATCH = 64;

export async function verifyArchive(target: ArchiveSource, opts: ArchiveVerifyOptions = {}): Promise<ArchiveVerifyReport> {
  const findings = new Findings();
  const add = (p: Problem) => findings.add(p);
  const checked = { entries: 0, tiles: 0, checkpoints: 0, blobs: 0, objects: 0 };
  const timestamps: ArchiveVerifyReport['timestamps'] = { found: 0, verified: 0, checked: opts.tsaCa !== undefined };
  // A source that cannot say whether its objects are locked (HTTP) has no retention to check.
  const lockCheck = (name: string, o: StoredObject) => {
    if (target.noListing) return;
    checked.objects++;
    if (!o.lock.locked) add({ kind: 'not-locked', detail: `${name}: ${o.lock.detail}` });
  };

  // 1. The key.
  const vkeyObject = await target.get(VKEY);
  if (vkeyObject) lockCheck(VKEY, vkeyObject);
  const vkeyText = (opts.pubkey ?? vkeyObject?.data.toString('utf8') ?? '').trim();
  if (vkeyText === '') {
    throw new FfauditError(
      target.noListing ? 'USAGE' : 'ARCHIVE',
      target.noListing ? `${target.location} serves no vkey (tlog-tiles does not): give the log's verifier key with --pubkey` : `${target.location} holds no vkey and no --pubkey was given: not an archive?`,
    );
  }
  let verifier: Verifier & { publicKey: Buffer };
  try {
    verifier = parseVerifierKey(vkeyText);
  } catch (e) {
    throw new FfauditError(opts.pubkey !== undefined ? 'BAD_INPUT' : 'ARCHIVE', `the ${opts.pubkey !== undefined ? 'given' : "archive's"} verifier key is malformed: ${(e as Error).message}`);
  }
  if (opts.pubkey !== undefined && vkeyObject && vkeyObject.data.toString('utf8').trim() !== vkeyText) {
    add({ kind: 'checkpoint-signature-invalid', detail: "the archive's vkey is not the key you gave: checkpoints signed by it do not count" });
  }

  // 2. The checkpoints: the latest, and the history.
  const signed = new Map<number, SignedCheckpoint>();
  const openSigned = (name: string, o: StoredObject): SignedCheckpoint | undefined => {
    lockCheck(name, o);
    let cp: SignedCheckpoint;
    try {
      cp = parseSignedCheckpoint(o.data.toString('utf8'));
    } catch (e) {
      add({ kind: 'checkpoint-signature-invalid', detail: `${name} is malformed: ${(e as Error).message}` });
      return undefined;
    }
    if (cp.origin !== verifier.name || checkNote(cp.parsed, [verifier]) !== 'ok') {
      add({ kind: 'checkpoint-signature-invalid', size: cp.size, detail: `${name} (size ${cp.size}) is not validly signed by ${verifier.name}` });
      return undefined;
    }
    return cp;
  };
  const latestObject = await target.get(CHECKPOINT);
  if (!latestObject) throw new FfauditError('ARCHIVE', `${target.location} holds no checkpoint: not an archive, or nothing was archived yet`);
  const latest = openSigned(CHECKPOINT, latestObject);
  if (latest) signed.set(latest.size, latest);
  // A source that cannot be listed offers its latest checkpoint only (tlog-tiles has no history).
  const historyNames = target.noListing ? [] : await target.list(CHECKPOINTS_DIR);
  const history = await fetchAll(target, historyNames);
  for (const [name, o] of history) {
    const claimed = parseCheckpointHistoryPath(name);
    if (claimed === undefined || !o) continue;
    const cp = openSigned(name, o);
    if (!cp) continue;
    if (cp.size !== claimed) {
      add({ kind: 'checkpoint-signature-invalid', size: claimed, detail: `${name} holds the checkpoint for size ${cp.size}` });
      continue;
    }
    const other = signed.get(cp.size);
    if (other && !other.root.equals(cp.root)) add({ kind: 'fork', size: cp.size, detail: `two signed checkpoints of size ${cp.size} disagree: the log was forked with its key` });
    signed.set(cp.size, cp);
  }
  // A history checkpoint larger than the latest is not a finding: a run interrupted between its last two writes
  // leaves exactly that, and the next run publishes it.
  checked.checkpoints = signed.size;
  const size = Math.max(0, ...signed.keys());
  if (signed.size === 0) {
    return finish();
  }
  const top = signed.get(size)!;

  // 3. Entry bundles and level-0 tiles, streamed in order: leaves rebuild every signed root.
  // What the listing says is there; a source that cannot be listed is asked for each tile, absent ones come back undefined.
  const listed = target.noListing ? undefined : new Set(await target.list(TILE_DIR));
  const names = { has: (n: string) => listed?.has(n) ?? true };
  const tiles = tilesForSize(size);
  const bundles = tiles.filter((t) => t.level === 'entries');
  const upper = tiles.filter((t): t is TileRef & { level: number } => t.level !== 'entries' && t.level > 0);
  const partialTiles = new Map<string, Buffer[]>(); // the tiles a root is computed from (tileNodeSource)
  const fullHashUp = new Map<string, Buffer>(); // "level/hashIndex" → hash of a full tile below, to compare
  const frontier = new Frontier();
  const sizes = [...signed.keys()].sort((a, b) => a - b);
  let nextSize = 0;
  const checkRoots = () => {
    while (nextSize < sizes.length && sizes[nextSize]! <= frontier.size) {
      const s = sizes[nextSize++]!;
      if (s === frontier.size && !frontier.root().equals(signed.get(s)!.root)) {
        add({ kind: 'root-mismatch', size: s, detail: `the archived entries do not hash to the root signed at size ${s}` });
      }
    }
  };
  checkRoots();
  const referencedBlobs = new Map<string, number>();
  const leafMismatches: { index: number; where: string }[] = [];
  for (let b = 0; b < bundles.length; b += FETCH_BATCH) {
    const batch = bundles.slice(b, b + FETCH_BATCH);
    const wanted = batch.flatMap((t) => [tilePath(t), tilePath({ ...t, level: 0 })]);
    const got = await fetchAll(target, wanted.filter((n) => names.has(n)));
    for (const t of batch) {
      const start = t.index * TILE_WIDTH;
      const bundleName = tilePath(t);
      const tileName = tilePath({ ...t, level: 0 });
      const bundle = got.get(bundleName);
      const tile = got.get(tileName);
      if (bundle) lockCheck(bundleName, bundle);
      if (tile) lockCheck(tileName, tile);
      let entries: Buffer[] | undefined;
      if (!bundle) add({ kind: 'entry-missing', index: start, detail: `${bundleName} (entries ${start} to ${start + t.width - 1}) is missing` });
      else {
        try {
          entries = decodeEntryBundle(bundle.data);
          if (entries.length !== t.width) throw new Error(`it holds ${entries.length} entries, not ${t.width}`);
        } catch (e) {
          add({ kind: 'entry-modified', index: start, detail: `${bundleName} is malformed: ${(e as Error).message}` });
          entries = undefined;
        }
      }
      let hashes: Buffer[] | undefined;
      if (!tile) add({ kind: 'tree-modified', index: start, detail: `${tileName} is missing` });
      else {
        try {
          hashes = decodeHashTile(tile.data, t.width);
          checked.tiles++;
        } catch (e) {
          add({ kind: 'tree-modified', index: start, detail: `${tileName} is malformed: ${(e as Error).message}` });
        }
      }
      for (let i = 0; i < t.width; i++) {
        const data = entries?.[i];
        const leaf = data ? hashLeaf(data) : hashes?.[i] ?? Buffer.alloc(32);
        if (data) {
          checked.entries++;
          collectBlobRefs(data, start + i, referencedBlobs);
        }
        if (data && hashes && !leaf.equals(hashes[i]!)) leafMismatches.push({ index: start + i, where: `${bundleName} / ${tileName}` });
        frontier.push(leaf);
        checkRoots();
      }
      if (hashes && t.width === TILE_WIDTH) fullHashUp.set(`1/${t.index}`, hashPerfect(hashes));
      if (hashes && t.width < TILE_WIDTH) partialTiles.set(tileName, hashes);
    }
    opts.onProgress?.(Math.min(b + FETCH_BATCH, bundles.length), bundles.length);
  }

  // An entry that no longer hashes to its leaf: if the entries still rebuild the signed roots, the tile was
  // altered; otherwise the entry was.
  const entriesMatchRoots = !findings.has('root-mismatch');
  for (const m of leafMismatches) {
    add(
      entriesMatchRoots
        ? { kind: 'tree-modified', index: m.index, detail: `the level-0 tile hash of entry ${m.index} was altered (${m.where}); the entries still match the signed roots` }
        : { kind: 'entry-modified', index: m.index, detail: `entry ${m.index} no longer hashes to its leaf (${m.where}): it was altered after it was signed` },
    );
  }

  // 4. Tiles above level 0: each hash must be the hash of the full tile below it.
  const upperGot = await fetchAll(target, upper.map((t) => tilePath(t)).filter((n) => names.has(n)));
  for (const t of upper) {
    const name = tilePath(t);
    const o = upperGot.get(name);
    if (!o) {
      add({ kind: 'tree-modified', detail: `${name} is missing` });
      continue;
    }
    lockCheck(name, o);
    let hashes: Buffer[];
    try {
      hashes = decodeHashTile(o.data, t.width);
      checked.tiles++;
    } catch (e) {
      add({ kind: 'tree-modified', detail: `${name} is malformed: ${(e as Error).message}` });
      continue;
    }
    hashes.forEach((h, i) => {
      const below = fullHashUp.get(`${t.level}/${t.index * TILE_WIDTH + i}`);
      if (below && !below.equals(h)) add({ kind: 'tree-modified', detail: `hash ${i} of ${name} is not the hash of the tile below it` });
    });
    if (t.width === TILE_WIDTH) fullHashUp.set(`${t.level + 1}/${t.index}`, hashPerfect(hashes));
    else partialTiles.set(name, hashes);
  }

  // 5. The root from the tiles alone (what a tlog-tiles client computes) against the latest checkpoint.
  try {
    const root = rootFromTiles(size, (t) => {
      const h = partialTiles.get(tilePath(t));
      if (!h) throw new Error(`${tilePath(t)} is unavailable`);
      return h;
    });
    if (!root.equals(top.root)) add({ kind: 'root-mismatch', size, detail: `the tiles do not hash to the root signed at size ${size}` });
  } catch (e) {
    add({ kind: 'tree-modified', size, detail: `the root cannot be rebuilt from the tiles: ${(e as Error).message}` });
  }

  // 6. Blobs: each must hash to its name; those the entries name must be there.
  // Unlisted, the blobs looked for are those the entries name.
  const blobNames = target.noListing ? [...referencedBlobs.keys()].map((sha) => blobPath(sha)) : (await target.list(BLOB_DIR)).filter((n) => parseBlobPath(n) !== undefined);
  const present = new Set(target.noListing ? [] : blobNames.map((n) => parseBlobPath(n)!));
  const missingBlob = (sha: string, index: number) => add({ kind: 'blob-missing', index, detail: `blob ${sha}, named by entry ${index}, is missing from the archive` });
  if (!target.noListing) for (const [sha, index] of referencedBlobs) if (!present.has(sha)) missingBlob(sha, index);
  await runPool(blobNames, 16, async (name) => {
    const o = await target.get(name);
    if (!o) {
      if (target.noListing) missingBlob(parseBlobPath(name)!, referencedBlobs.get(parseBlobPath(name)!)!);
      return;
    }
    lockCheck(name, o);
    checked.blobs++;
    if (sha256Hex(o.data) !== parseBlobPath(name)) add({ kind: 'blob-modified', detail: `${name} does not hash to its name: the report was altered` });
  });

  // 7. Time-stamp tokens, each over a checkpoint checked above (or over the token it renews).
  const stampNames = target.noListing ? undefined : await target.list(TIMESTAMP_DIR);
  if (opts.tsaCa !== undefined) {
    const { checkPublishedStamps } = await import('./published-stamps.js');
    const { stampSentence } = await import('../timestamp/chain.js');
    const r = await checkPublishedStamps(target, signed, stampNames, opts.tsaCa, { add, seen: lockCheck }, [size], opts.now);
    timestamps.found = r.found;
    timestamps.verified = r.verified;
    if (r.otherCa) timestamps.otherCa = r.otherCa;
    if (r.newest) timestamps.newest = stampSentence(r.newest.size, r.newest.own, r.newest.renewal);
  } else {
    timestamps.found = stampNames?.filter((n) => parseTimestampPath(n) !== undefined).length ?? 0;
  }
  return finish();

  function finish(): ArchiveVerifyReport {
    if (signed.size === 0 && !findings.has('checkpoint-signature-invalid')) {
      add({ kind: 'checkpoint-missing', detail: 'no validly signed checkpoint in the archive' });
    }
    const problems = findings.list();
    return { ok: problems.length === 0, size, origin: verifier.name, keyVerified: opts.pubkey !== undefined, vkey: vkeyText, problems, checked, timestamps };
  }
}

async function fetchAll(target: ArchiveSource, names: readonly string[]): Promise<Map<string, StoredObject | undefined>> {
  const out = new Map<string, StoredObject | undefined>();
  await runPool(names, 16, async (n) => {
    out.set(n, await target.get(n));
  });
  return out;
}

/** The blobs an entry names (src/ledger/blob.ts namedBlobs: reports and large fields), with the first entry naming each. */
function collectBlobRefs(data: Buffer, index: number, into: Map<string, number>): void {
  for (const sha of namedBlobs(data)) if (!into.has(sha)) into.set(sha, index);
}

/** `verify --from LOCATION`: an archived copy on its own, without a ledger. `pubkey`: the verifier key's text. */
export async function verifyArchiveAt(
  location: string,
  opts: ArchiveVerifyOptions & { endpoint?: string | undefined },
): Promise<{ location: string; report: ArchiveVerifyReport }> {
  const target = await openSource(location, { endpoint: opts.endpoint });
  try {
    return { location: target.location, report: await verifyArchive(target, opts) };
  } finally {
    target.close();
  }
}
