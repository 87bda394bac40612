/**
 * Blobs (FFmpeg reports, fields moved out of large entries): `PUT /blobs/<hex sha256(origin)>/<sha256>` stores one,
 * `GET /mirror/<hex sha256(origin)>/blob/<sha256>` serves it back. Content addressed and shared by every log (one
 * row per hash in `blobs`), but a log may push, and serve, only the blobs its mirrored entries name (entry_blobs,
 * filled by add-entries from each entry it commits): the server never keeps bytes no signed entry vouches for.
 */
import { createHash } from 'node:crypto';
import type { Hono } from 'hono';
import { SHA256_HEX } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { AppEnv, ServerDeps } from './deps.js';
import { readBody } from './http.js';
import { bodyBytes, IMMUTABLE, logByOriginHash } from './mirror-tiles.js';

/**
 * The largest blob PUT takes (after gzip decoding). The ledger sets no bound on a report (capture stores whatever
 * FFmpeg wrote, redacted); FFmpeg's reports at the default level are kilobytes to a few MiB, at -loglevel debug over
 * a long encode tens of MiB. 64 MiB keeps a request's buffer (read whole, to hash and store as one bytea) bounded.
 */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

export type PutBlobResult = { status: 200 | 201; sha256: string; size: number };

/**
 * Stores `data` as blob `sha256` of the log whose origin hashes to `originHex`: NOT_FOUND (404) for an unknown or
 * disabled log, INTEGRITY (422) unless the bytes hash to the name and a mirrored entry of that log names that hash
 * (with this size, when it says one). 201 when stored, 200 when the server had it already.
 */
export async function putBlob(deps: ServerDeps, originHex: string, sha256: string, data: Buffer): Promise<PutBlobResult> {
  const log = await logByOriginHash(deps, originHex);
  if (!log || !(await isActive(deps, log.id))) throw new FfauditError('NOT_FOUND', 'unknown log');
  if (!SHA256_HEX.test(sha256)) throw new FfauditError('BAD_INPUT', 'a blob is named by the lowercase hex SHA-256 of its bytes');
  if (createHash('sha256').update(data).digest('hex') !== sha256) throw new FfauditError('INTEGRITY', 'the bytes do not hash to the name');
  const { rows } = await deps.db.pool.query<{ size: number | null }>('SELECT size FROM entry_blobs WHERE host_id = $1 AND sha256 = $2', [log.id, Buffer.from(sha256, 'hex')]);
  if (rows.length === 0) throw new FfauditError('INTEGRITY', 'no mirrored entry of this log names this blob (push the entries first)');
  if (!rows.some((r) => r.size === null || Number(r.size) === data.length)) {
    throw new FfauditError('INTEGRITY', `the entry naming this blob gives another size than ${data.length} bytes`);
  }
  const inserted = await deps.db.pool.query('INSERT INTO blobs (sha256, size, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [Buffer.from(sha256, 'hex'), data.length, data]);
  return { status: inserted.rowCount === 1 ? 201 : 200, sha256, size: data.length };
}

async function isActive(deps: ServerDeps, id: number): Promise<boolean> {
  const { rows } = await deps.db.pool.query<{ status: string }>('SELECT status FROM hosts WHERE id = $1', [id]);
  return rows[0]?.status === 'active';
}

export function blobRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.put('/blobs/:h/:sha', async (c) => {
    const r = await putBlob(deps, c.req.param('h'), c.req.param('sha'), await readBody(c.req.raw, MAX_BLOB_BYTES));
    return c.text(r.status === 201 ? 'stored\n' : 'already stored\n', r.status);
  });

  app.get('/mirror/:h/blob/:sha', async (c) => {
    const sha = c.req.param('sha');
    const log = SHA256_HEX.test(sha) ? await logByOriginHash(deps, c.req.param('h')) : undefined;
    if (!log) return c.text('not found\n', 404);
    // Any epoch of the log: a blob an entry named stays served after a host reset, as its entries stay kept.
    const { rows } = await deps.db.pool.query<{ data: Buffer }>(
      'SELECT b.data FROM blobs b WHERE b.sha256 = $2 AND EXISTS (SELECT 1 FROM entry_blobs e WHERE e.host_id = $1 AND e.sha256 = $2)',
      [log.id, Buffer.from(sha, 'hex')],
    );
    const data = rows[0]?.data;
    if (!data) return c.text('not found\n', 404);
    return c.body(bodyBytes(data), 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': IMMUTABLE });
  });
}
