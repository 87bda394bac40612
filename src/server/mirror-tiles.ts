/**
 * The mirror's monitoring API: each mirrored log served read-only as c2sp.org/tlog-tiles under
 * `/mirror/<hex sha256(origin)>/` (tlog-mirror §Introduction): `checkpoint` (the log's note with the mirror's
 * cosignature), hash tiles `tile/<L>/<N>[.p/<W>]` and entry bundles `tile/entries/<N>[.p/<W>]`, as they stand in the
 * tree of the mirror checkpoint. Entries the mirror holds beyond it (pending) are not served.
 *
 * A disabled host's log stays readable: disabling stops a host's pushes, not the record of what it pushed. A host
 * reset starts a new epoch; the tiles are the current epoch's.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Context, Hono } from 'hono';
import type { PoolClient } from 'pg';
import { encodeEntryBundle, encodeHashTile, parseTilePath, TILE_HEIGHT, TILE_WIDTH, type TileRef } from '../core/tiles.js';
import type { AppEnv, ServerDeps } from './deps.js';
import { withClient } from './db/pool.js';
import { levelHashes } from './mirror-tree.js';

const gzipAsync = promisify(gzip);

/** tlog-tiles: tiles and bundles are immutable ("caching headers SHOULD be long-lived"); a partial tile of width W too. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

export interface MirroredLog {
  id: number;
  epoch: number;
  origin: string;
}

/** The log whose origin hashes to `hex` (lowercase hex SHA-256), enrolled and not pending; undefined otherwise. */
export async function logByOriginHash(deps: ServerDeps, hex: string): Promise<MirroredLog | undefined> {
  if (!/^[0-9a-f]{64}$/.test(hex)) return undefined;
  const { rows } = await deps.db.pool.query<MirroredLog>("SELECT id, epoch, origin FROM hosts WHERE origin_hash = $1 AND status IN ('active', 'disabled')", [
    Buffer.from(hex, 'hex'),
  ]);
  return rows[0] && { id: Number(rows[0].id), epoch: rows[0].epoch, origin: rows[0].origin };
}

async function mirrorCheckpoint(deps: ServerDeps, log: MirroredLog): Promise<{ size: number; note: string } | undefined> {
  const { rows } = await deps.db.pool.query<{ size: number; note: string }>('SELECT size, note FROM mirror_state WHERE host_id = $1 AND epoch = $2', [log.id, log.epoch]);
  return rows[0] && { size: Number(rows[0].size), note: rows[0].note };
}

/**
 * The bytes of a tile or bundle in the tree of `size`, or undefined when that tree has no such tile: tlog-tiles
 * defines the tile at level l with index n as holding hashes n·256 … n·256 + W − 1 of level 8l, and a tree of size s
 * holds floor(s / 256^l) of them, so a tile is there when its last hash is.
 */
export async function readTile(c: PoolClient, log: { id: number; epoch: number }, size: number, t: TileRef): Promise<Buffer | undefined> {
  const level = t.level === 'entries' ? 0 : t.level;
  const available = Math.floor(size / TILE_WIDTH ** level);
  const first = t.index * TILE_WIDTH;
  if (!Number.isSafeInteger(first) || first + t.width > available) return undefined;
  if (t.level === 'entries') {
    const { rows } = await c.query<{ data: Buffer }>('SELECT data FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx >= $3 AND idx < $4 ORDER BY idx', [
      log.id,
      log.epoch,
      first,
      first + t.width,
    ]);
    if (rows.length !== t.width) return undefined;
    return encodeEntryBundle(rows.map((r) => r.data));
  }
  return encodeHashTile(await levelHashes(c, log.id, log.epoch, level * TILE_HEIGHT, first, first + t.width));
}

/** A Buffer as a response body (hono's types want an ArrayBuffer-backed view; a Buffer from pg or zlib is one). */
export function bodyBytes(b: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);
}

function octets(c: Context, data: Buffer, gzipped: boolean): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Cache-Control': IMMUTABLE, Vary: 'Accept-Encoding' };
  if (gzipped) headers['Content-Encoding'] = 'gzip';
  return c.body(bodyBytes(data), 200, headers);
}

/** Whether the client listed gzip in Accept-Encoding (and did not refuse it with q=0). */
function acceptsGzip(c: Context): boolean {
  const accept = c.req.header('accept-encoding') ?? '';
  return accept.split(',').some((part) => {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    return (name === 'gzip' || name === '*') && !params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p));
  });
}

export function mirrorTileRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.get('/mirror/:h/checkpoint', async (c) => {
    const log = await logByOriginHash(deps, c.req.param('h'));
    const cp = log && (await mirrorCheckpoint(deps, log));
    if (!cp) return c.text('no mirror checkpoint for this log\n', 404, { 'Cache-Control': 'no-store' });
    // tlog-tiles §Checkpoints: text/plain; charset=utf-8, mutable, so not cached.
    return c.body(cp.note, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  });

  app.get('/mirror/:h/tile/*', async (c) => {
    const h = c.req.param('h');
    const path = c.req.path.slice(`/mirror/${h}/`.length);
    const t = parseTilePath(path);
    const log = t && (await logByOriginHash(deps, h));
    const cp = log && (await mirrorCheckpoint(deps, log));
    if (!t || !log || !cp) return c.text('not found\n', 404, { 'Cache-Control': 'no-store' });
    const data = await withClient(deps.db, (client) => readTile(client, log, cp.size, t));
    // Beyond the mirrored tree: not there (yet). Not cacheable, since it will be.
    if (!data) return c.text('not found\n', 404, { 'Cache-Control': 'no-store' });
    // tlog-tiles §Log entries: bundles SHOULD be compressed at the HTTP layer; hash tiles do not compress.
    if (t.level === 'entries' && acceptsGzip(c)) return octets(c, await gzipAsync(data), true);
    return octets(c, data, false);
  });
}
