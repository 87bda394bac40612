/**
 * A consistency proof between two tree sizes computed from a log's hash tiles (c2sp.org/tlog-tiles), as a
 * tlog-tiles client does: no entry is downloaded, only the few tiles the proof's nodes lie in (RFC 9162 §2.1.4.1
 * over core/tiles.ts tileNodeSource). The tiles are untrusted; verifying the proof against both signed roots is what
 * makes the result trustworthy.
 */
import { consistencyProof, HASH_SIZE, verifyConsistency } from '../core/merkle.js';
import { decodeHashTile, tileNodeSource, tilePath, TILE_WIDTH, type TileRef } from '../core/tiles.js';
import type { ArchiveSource } from '../archive/target.js';

export type TileProofResult = { ok: true; proof: Buffer[] } | { ok: false; proof: Buffer[]; reason: string };

/**
 * Whether the tree of `newSize` with `newRoot`, as the source's tiles hold it, extends the tree of `oldSize` with
 * `oldRoot`. A tile the source does not hold or that is malformed is a failure with its reason (the log cannot prove
 * it is append-only); a source that cannot be read at all throws (FfauditError 'ARCHIVE'), which is not a finding.
 */
export async function proveFromTiles(source: ArchiveSource, oldSize: number, oldRoot: Buffer, newSize: number, newRoot: Buffer): Promise<TileProofResult> {
  // Which tiles the proof reads depends on the sizes alone: a first pass over placeholder hashes names them.
  const wanted = new Map<string, TileRef>();
  consistencyProof(
    tileNodeSource(newSize, (t) => {
      wanted.set(tilePath(t), t);
      return Array.from({ length: t.width }, () => Buffer.alloc(HASH_SIZE));
    }),
    oldSize,
    newSize,
  );
  const tiles = new Map<string, Buffer[]>();
  for (const [name, t] of wanted) {
    const got = await readTile(source, t);
    if (typeof got === 'string') return { ok: false, proof: [], reason: got };
    tiles.set(name, got);
  }
  const proof = consistencyProof(
    tileNodeSource(newSize, (t) => tiles.get(tilePath(t))!),
    oldSize,
    newSize,
  );
  return verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot)
    ? { ok: true, proof }
    : { ok: false, proof, reason: `the consistency proof from size ${oldSize} to size ${newSize}, computed from the log's tiles, does not verify against both signed roots` };
}

/**
 * A tile's hashes, or why it cannot be had. tlog-tiles lets a log delete a partial tile once the full one exists;
 * the full tile's first hashes are then the partial tile's, since a tile's hashes never change as the tree grows.
 */
async function readTile(source: ArchiveSource, t: TileRef): Promise<Buffer[] | string> {
  const name = tilePath(t);
  let o = await source.get(name);
  let width = t.width;
  if (!o && t.width < TILE_WIDTH) {
    o = await source.get(tilePath({ ...t, width: TILE_WIDTH }));
    width = TILE_WIDTH;
  }
  if (!o) return `${name}, needed to prove the log extends the last checkpoint, is not there`;
  try {
    return decodeHashTile(o.data, width).slice(0, t.width);
  } catch (e) {
    return `${name} is malformed: ${(e as Error).message}`;
  }
}
