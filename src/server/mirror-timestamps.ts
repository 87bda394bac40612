/**
 * The mirror's timestamps, published beside its tiles under `/mirror/<hex sha256(origin)>/`, in the layout an
 * archive uses for its own (so one monitor reads both):
 *   timestamp/<size>      the RFC 3161 TimeStampToken (DER CMS ContentInfo) over the mirror checkpoint of <size>:
 *                         its imprint is SHA-256 of that checkpoint's note body (through the last newline before
 *                         the signature lines)
 *   timestamp/<size>.<n>  the n-th renewal (n ≥ 1): a token whose imprint is SHA-256 of the DER of
 *                         timestamp/<size>.<n-1> (timestamp/<size> for n = 1), made before that one's TSA
 *                         certificate expired (RFC 4998 §5.2)
 *   checkpoints/<size>    every checkpoint the mirror cosigned, byte-exact: the note body a token's imprint is of
 * Sizes are decimal without leading zeros. All three are immutable once there (a checkpoint is timestamped once per
 * generation), so they are cached like tiles; what is not there yet is a 404 that is not cached.
 *
 * The token is sent as application/octet-stream, as the tiles are: no registered media type names a bare
 * TimeStampToken (application/timestamp-reply is the TimeStampResp with its status around it, RFC 3161 §3.4, and
 * application/pkcs7-mime is an S/MIME message, RFC 8551 §3.2, which mail software would try to open as one).
 */
import type { Context, Hono } from 'hono';
import type { AppEnv, ServerDeps } from './deps.js';
import { bodyBytes, IMMUTABLE, logByOriginHash } from './mirror-tiles.js';

/** The published name of a token: `timestamp/<size>`, or `timestamp/<size>.<generation>` for a renewal. */
export function timestampPath(size: number, generation: number): string {
  return `timestamp/${size}${generation === 0 ? '' : `.${generation}`}`;
}

/** The size and generation a published name gives, or undefined. Untrusted input. */
export function parseTimestampName(name: string): { size: number; generation: number } | undefined {
  const m = /^(0|[1-9][0-9]{0,15})(?:\.([1-9][0-9]{0,5}))?$/.exec(name);
  if (!m) return undefined;
  const size = Number(m[1]);
  return Number.isSafeInteger(size) ? { size, generation: m[2] === undefined ? 0 : Number(m[2]) } : undefined;
}

const notFound = (c: Context) => c.text('not found\n', 404, { 'Cache-Control': 'no-store' });

export function mirrorTimestampRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.get('/mirror/:h/timestamp/:name', async (c) => {
    const t = parseTimestampName(c.req.param('name'));
    const log = t && (await logByOriginHash(deps, c.req.param('h')));
    if (!t || !log) return notFound(c);
    const { rows } = await deps.db.pool.query<{ token: Buffer }>('SELECT token FROM timestamps WHERE host_id = $1 AND epoch = $2 AND size = $3 AND generation = $4', [
      log.id,
      log.epoch,
      t.size,
      t.generation,
    ]);
    if (!rows[0]) return notFound(c);
    return c.body(bodyBytes(rows[0].token), 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': IMMUTABLE });
  });

  app.get('/mirror/:h/checkpoints/:size', async (c) => {
    const t = parseTimestampName(c.req.param('size'));
    const log = t && t.generation === 0 && (await logByOriginHash(deps, c.req.param('h')));
    if (!t || !log) return notFound(c);
    const { rows } = await deps.db.pool.query<{ note: string }>("SELECT note FROM cosigned WHERE host_id = $1 AND epoch = $2 AND role = 'mirror' AND size = $3", [log.id, log.epoch, t.size]);
    if (!rows[0]) return notFound(c);
    // tlog-tiles §Checkpoints gives a checkpoint's content type; this one never changes, so it is cached.
    return c.body(rows[0].note, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': IMMUTABLE });
  });
}
