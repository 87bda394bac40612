/**
 * c2sp.org/tlog-tiles: the log laid out as static files. Pure encoding and decoding only.
 *
 * - Hash tiles `tile/<L>/<N>[.p/<W>]`: the n-th tile at level l holds, for i in 0…W−1,
 *   MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]), each 32 bytes; full tiles are 256 hashes (8,192 bytes).
 * - Entry bundles `tile/entries/<N>[.p/<W>]`: each entry prefixed by its length as a big-endian uint16.
 * - `<N>` is split into zero-padded 3-digit path elements, all but the last prefixed with `x`
 *   (1234067 → `x001/x234/067`); `.p/<W>` (1 ≤ W ≤ 255) marks a partial tile.
 * - For a tree of size s, the partial tile at level l has floor(s / 256^l) mod 256 hashes; empty tiles do not
 *   exist. A partial tile is never hashed into the level above.
 */
import { FfauditError } from './errors.js';
import { EMPTY_ROOT, HASH_SIZE, hashChildren, rootAt, type NodeSource } from './merkle.js';

/** Tile height: each tile level spans 8 tree levels (tlog-tiles fixes it at 8, so 256 hashes per full tile). */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** tlog-tiles: `<L>` is between 0 and 63. */
export const MAX_TILE_LEVEL = 63;
/** The entry bundle length prefix is 16 bits. */
export const MAX_BUNDLE_ENTRY = 0xffff;

/** A tile's coordinates; `level` is 'entries' for an entry bundle. Width 256 means a full tile. */
export interface TileRef {
  level: number | 'entries';
  index: number;
  width: number;
}

/** Encodes a tile index as 3-digit path elements, all but the last prefixed with `x`. */
export function formatTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad tile index ${index}`);
  const parts: string[] = [];
  let n = index;
  do {
    parts.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join('/');
}

/** The path of a hash tile or entry bundle, relative to the log prefix. */
export function tilePath(t: TileRef): string {
  if (!(t.width >= 1 && t.width <= TILE_WIDTH)) throw new RangeError(`bad tile width ${t.width}`);
  const level = t.level === 'entries' ? 'entries' : String(t.level);
  return `tile/${level}/${formatTileIndex(t.index)}${t.width < TILE_WIDTH ? `.p/${t.width}` : ''}`;
}

/** Parses a tile path; undefined for anything that is not one, exactly as the spec spells it. Untrusted input. */
export function parseTilePath(path: string): TileRef | undefined {
  const m = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path);
  if (!m) return undefined;
  const level = m[1] === 'entries' ? 'entries' : Number(m[1]);
  if (level !== 'entries' && level > MAX_TILE_LEVEL) return undefined;
  const groups = [...(m[2] ?? '').split('/').filter((g) => g !== '').map((g) => g.slice(1)), m[3]!];
  // No leading zero groups: index 5 is "005", never "x000/005".
  if (groups.length > 1 && groups[0] === '000') return undefined;
  if (groups.length > 6) return undefined; // beyond 2^53
  const index = groups.reduce((acc, g) => acc * 1000 + Number(g), 0);
  const width = m[4] === undefined ? TILE_WIDTH : Number(m[4]);
  if ((m[4] !== undefined && width >= TILE_WIDTH) || !Number.isSafeInteger(index)) return undefined;
  return { level, index, width };
}

/**
 * Every tile (and entry bundle) a tree of `size` leaves is made of: the full ones, and the partial ones of
 * width floor(size / 256^l) mod 256 when not zero.
 */
export function tilesForSize(size: number): TileRef[] {
  const out: TileRef[] = [];
  for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
    const span = TILE_WIDTH ** level; // leaves per hash at this level
    const hashes = Math.floor(size / span);
    if (hashes === 0) break;
    const full = Math.floor(hashes / TILE_WIDTH);
    const partial = hashes % TILE_WIDTH;
    for (let n = 0; n < full; n++) {
      out.push({ level, index: n, width: TILE_WIDTH });
      if (level === 0) out.push({ level: 'entries', index: n, width: TILE_WIDTH });
    }
    if (partial > 0) {
      out.push({ level, index: full, width: partial });
      if (level === 0) out.push({ level: 'entries', index: full, width: partial });
    }
  }
  return out;
}

/** The tile at `level` holding hash number `hashIndex` of that level, as it stands in a tree of `size`. */
export function tileAt(level: number, hashIndex: number, size: number): TileRef {
  const index = Math.floor(hashIndex / TILE_WIDTH);
  const available = Math.floor(size / TILE_WIDTH ** level);
  const width = Math.min(TILE_WIDTH, available - index * TILE_WIDTH);
  if (width <= 0) throw new RangeError(`hash ${hashIndex} at tile level ${level} is beyond a tree of ${size}`);
  return { level, index, width };
}

/** Concatenates the hashes of a tile. */
export function encodeHashTile(hashes: readonly Buffer[]): Buffer {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH || hashes.some((h) => h.length !== HASH_SIZE)) {
    throw new RangeError('a hash tile holds 1 to 256 hashes of 32 bytes');
  }
  return Buffer.concat(hashes);
}

/** Splits a hash tile into its hashes, checking its length against the expected width. Untrusted input. */
export function decodeHashTile(bytes: Uint8Array, width: number): Buffer[] {
  if (bytes.length !== width * HASH_SIZE) {
    throw new FfauditError('BAD_INPUT', `a tile of width ${width} has ${width * HASH_SIZE} bytes, not ${bytes.length}`);
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Buffer[] = [];
  for (let i = 0; i < width; i++) out.push(b.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** An entry bundle: each entry preceded by its length as a big-endian uint16. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY) throw new FfauditError('INTERNAL', `an entry of ${e.length} bytes does not fit an entry bundle`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(e.length);
    parts.push(len, Buffer.from(e.buffer, e.byteOffset, e.byteLength));
  }
  return Buffer.concat(parts);
}

/** Splits an entry bundle into its entries. Untrusted input: every length is checked against what is left. */
export function decodeEntryBundle(bytes: Uint8Array): Buffer[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < b.length) {
    if (at + 2 > b.length) throw new FfauditError('BAD_INPUT', 'entry bundle ends inside a length prefix');
    const len = b.readUInt16BE(at);
    at += 2;
    if (at + len > b.length) throw new FfauditError('BAD_INPUT', 'entry bundle ends inside an entry');
    out.push(b.subarray(at, at + len));
    at += len;
  }
  return out;
}

/** MTH of 2^k consecutive, aligned hashes: pairwise hashing, level by level (RFC 9162 §2.1.1 on a perfect tree). */
export function hashPerfect(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT;
  let level = [...hashes];
  if ((level.length & (level.length - 1)) !== 0) throw new RangeError('hashPerfect needs a power-of-two count');
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(hashChildren(level[i]!, level[i + 1]!));
    level = next;
  }
  return level[0]!;
}

/**
 * A NodeSource reading the tree from tiles: the perfect subtree (level, index) is found in tile level
 * floor(level / 8), where 2^(level mod 8) consecutive hashes are hashed up. `getTile` returns a tile's hashes
 * (as it stands in a tree of `size`); it is asked only for tiles that tree is made of.
 */
export function tileNodeSource(size: number, getTile: (t: TileRef) => Buffer[]): NodeSource {
  return {
    perfect(level: number, index: number): Buffer {
      const tileLevel = Math.floor(level / TILE_HEIGHT);
      const count = 2 ** (level % TILE_HEIGHT);
      const first = index * count;
      const ref = tileAt(tileLevel, first, size);
      const hashes = getTile(ref);
      const offset = first - ref.index * TILE_WIDTH;
      if (offset + count > hashes.length) throw new FfauditError('BAD_INPUT', `tile ${tilePath(ref)} is too short`);
      return hashPerfect(hashes.slice(offset, offset + count));
    },
  };
}

/** The root of a tree of `size` leaves computed from its tiles (RFC 6962 MTH). */
export function rootFromTiles(size: number, getTile: (t: TileRef) => Buffer[]): Buffer {
  return rootAt(tileNodeSource(size, getTile), size);
}
