/**
 * The mirrored copy of each log's Merkle tree in PostgreSQL (db/migrations.ts: mirror_entries, mirror_nodes), read
 * the way tlog-tiles lays a tree out: the leaves are mirror_entries.leaf and the only interior nodes stored are those
 * at the tile levels 8, 16, 24, … (the hashes of tiles at levels 1, 2, 3, …), one row per 256 rows below. Any other
 * perfect subtree is hashed up from at most 128 stored hashes of the tile level beneath it.
 *
 * What makes the reads simple: a log's mirrored entries are always a prefix [0, next) of the log. add-entries
 * commits a package only when it starts at or below the first missing index (mirror.ts), packages of one request
 * follow each other, and entries are never deleted, so no gap can open. Each package that completes a block of 256
 * entries writes the block's level-8 node in the same transaction, and the node above once the 256th node below it
 * is written: every full block below `next` has its nodes.
 */
import type { PoolClient } from 'pg';
import { FfauditError } from '../core/errors.js';
import { HASH_SIZE, rootAt, type NodeSource } from '../core/merkle.js';
import { hashPerfect, TILE_HEIGHT, TILE_WIDTH } from '../core/tiles.js';

/** The first index the mirror does not hold for (host, epoch): its *next entry* (tlog-mirror §Updating a Mirror). */
export async function nextEntry(c: PoolClient, hostId: number, epoch: number): Promise<number> {
  const { rows } = await c.query<{ m: number | null }>('SELECT max(idx) AS m FROM mirror_entries WHERE host_id = $1 AND epoch = $2', [hostId, epoch]);
  const m = rows[0]?.m;
  return m === null || m === undefined ? 0 : Number(m) + 1;
}

/** Leaf hashes [from, to) of a mirrored log, in order; INTERNAL when one is missing (the prefix invariant broke). */
export async function leafHashes(c: PoolClient, hostId: number, epoch: number, from: number, to: number): Promise<Buffer[]> {
  if (to <= from) return [];
  const { rows } = await c.query<{ leaf: Buffer }>('SELECT leaf FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx >= $3 AND idx < $4 ORDER BY idx', [
    hostId,
    epoch,
    from,
    to,
  ]);
  if (rows.length !== to - from) throw missing(`entries ${from} to ${to - 1}`);
  return rows.map((r) => r.leaf);
}

/** Stored hashes at tree level `level` (0 or a multiple of 8) with indices [from, to), in order. */
export async function levelHashes(c: PoolClient, hostId: number, epoch: number, level: number, from: number, to: number): Promise<Buffer[]> {
  if (level === 0) return leafHashes(c, hostId, epoch, from, to);
  if (to <= from) return [];
  const { rows } = await c.query<{ hash: Buffer }>(
    'SELECT hash FROM mirror_nodes WHERE host_id = $1 AND epoch = $2 AND level = $3 AND idx >= $4 AND idx < $5 ORDER BY idx',
    [hostId, epoch, level, from, to],
  );
  if (rows.length !== to - from) throw missing(`nodes ${from} to ${to - 1} at level ${level}`);
  return rows.map((r) => r.hash);
}

const missing = (what: string) => new FfauditError('INTERNAL', `the mirrored tree lacks ${what}`);

const ZERO = Buffer.alloc(HASH_SIZE);

/**
 * Runs a synchronous tree computation (rootAt, subtreeHash, a proof) over the stored tree. NodeSource is synchronous,
 * so the computation runs twice: a first pass records which perfect subtrees it asks for (the nodes a Merkle
 * algorithm asks for depend on the sizes only, never on the hashes it gets), they are read in one query per tile
 * level, and the second pass gets them.
 */
export async function withStoredTree<T>(c: PoolClient, hostId: number, epoch: number, compute: (src: NodeSource) => T): Promise<T> {
  // base level (0, 8, 16, …) → the indices wanted at that level
  const wanted = new Map<number, Set<number>>();
  compute({
    perfect(level: number, index: number): Buffer {
      const base = Math.floor(level / TILE_HEIGHT) * TILE_HEIGHT;
      const count = 2 ** (level - base);
      let set = wanted.get(base);
      if (!set) wanted.set(base, (set = new Set()));
      for (let i = index * count; i < (index + 1) * count; i++) set.add(i);
      return ZERO;
    },
  });
  const got = new Map<string, Buffer>();
  for (const [base, set] of wanted) {
    const indices = [...set];
    const { rows } =
      base === 0
        ? await c.query<{ idx: number; hash: Buffer }>('SELECT idx, leaf AS hash FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx = ANY($3::bigint[])', [
            hostId,
            epoch,
            indices,
          ])
        : await c.query<{ idx: number; hash: Buffer }>(
            'SELECT idx, hash FROM mirror_nodes WHERE host_id = $1 AND epoch = $2 AND level = $3 AND idx = ANY($4::bigint[])',
            [hostId, epoch, base, indices],
          );
    for (const r of rows) got.set(`${base}/${Number(r.idx)}`, r.hash);
  }
  return compute({
    perfect(level: number, index: number): Buffer {
      const base = Math.floor(level / TILE_HEIGHT) * TILE_HEIGHT;
      const count = 2 ** (level - base);
      const hashes: Buffer[] = [];
      for (let i = index * count; i < (index + 1) * count; i++) {
        const h = got.get(`${base}/${i}`);
        if (!h) throw missing(`hash ${i} at level ${base}`);
        hashes.push(h);
      }
      return count === 1 ? hashes[0]! : hashPerfect(hashes);
    },
  });
}

/** MTH(D[0:size]) of the stored tree, whatever the mirror checkpoint says (the caller knows `size` is held). */
export function storedRoot(c: PoolClient, hostId: number, epoch: number, size: number): Promise<Buffer> {
  return withStoredTree(c, hostId, epoch, (src) => rootAt(src, size));
}

/**
 * The root of the mirrored tree of `size` leaves, for any size up to the mirror checkpoint of that host and epoch;
 * undefined beyond it, or when the mirror holds no checkpoint for that epoch. The witness checks a checkpoint
 * against the mirrored entries with it (tlog-witness leaves that to the operator; the issue asks for it).
 */
export async function mirroredRoot(c: PoolClient, hostId: number, epoch: number, size: number): Promise<Buffer | undefined> {
  if (!Number.isSafeInteger(size) || size < 0) return undefined;
  const { rows } = await c.query<{ size: number }>('SELECT size FROM mirror_state WHERE host_id = $1 AND epoch = $2', [hostId, epoch]);
  const mirrored = rows[0]?.size;
  if (mirrored === undefined || size > Number(mirrored)) return undefined;
  return storedRoot(c, hostId, epoch, size);
}

/**
 * Writes the level-8 nodes of blocks of 256 entries that packages just completed, and above each the nodes it
 * completes in turn, climbing while a node written is the last of its 256 (tlog-tiles: a level-L tile hash is the
 * hash of a full tile below). Part of the packages' transaction.
 */
export async function insertCompletedBlocks(c: PoolClient, hostId: number, epoch: number, blocks: readonly { index: number; hash: Buffer }[]): Promise<void> {
  if (blocks.length === 0) return;
  await c.query(
    'INSERT INTO mirror_nodes (host_id, epoch, level, idx, hash) SELECT $1, $2, $3, n.idx, n.hash FROM unnest($4::bigint[], $5::bytea[]) AS n(idx, hash) ON CONFLICT DO NOTHING',
    [hostId, epoch, TILE_HEIGHT, blocks.map((b) => b.index), blocks.map((b) => b.hash)],
  );
  for (const b of blocks) {
    let level = TILE_HEIGHT;
    let index = b.index;
    // The 256th node of its tile: the tile is full, its hash is the node one tile level up.
    while (index % TILE_WIDTH === TILE_WIDTH - 1) {
      const first = index - (TILE_WIDTH - 1);
      const hash = hashPerfect(await levelHashes(c, hostId, epoch, level, first, index + 1));
      index = first / TILE_WIDTH;
      level += TILE_HEIGHT;
      await c.query('INSERT INTO mirror_nodes (host_id, epoch, level, idx, hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [hostId, epoch, level, index, hash]);
    }
  }
}
