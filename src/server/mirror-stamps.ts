/**
 * RFC 3161 timestamps of the mirror checkpoints (`serve --tsa URL --tsa-ca PEM`): on a schedule, each mirrored log
 * whose mirror checkpoint moved since its newest token gets a token over that checkpoint (the imprint is SHA-256 of
 * its note body through the last newline before the signatures, as src/timestamp/request.ts makes it); a log whose
 * newest token's TSA certificate expires within --tsa-renew-before gets a renewal instead, a token over SHA-256 of
 * that token's DER (the archive-timestamp renewal of RFC 4998 §5.2), so the earlier one stays provable after its
 * certificate expires. Every token is verified completely (src/timestamp/verify.ts) before it is stored.
 *
 * At most one TSA request per log per interval, across every serve process on the database: a compare-and-set on
 * timestamp_schedule claims the log before the request is sent, whether the TSA then answers or not; the unique
 * indexes of `timestamps` keep one token per checkpoint and generation whatever happens. One request at a time per
 * process: the logs are taken one after the other, and a round never starts while the last one runs (serve.ts).
 */
import { createHash } from 'node:crypto';
import { openCheckpoint } from '../core/checkpoint.js';
import { FfauditError, isFfauditError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';
import { requestImprintTimestamp, tsaUrl } from '../timestamp/client.js';
import { noteImprint } from '../timestamp/request.js';
import { parseCaCertificates, type VerifiedTimestamp } from '../timestamp/verify.js';
import type { Db } from './db/pool.js';
import { timestampPath } from './mirror-timestamps.js';

export interface MirrorTsa {
  url: string;
  /** PEM text of the CA certificate(s) the TSA's signing certificate must chain to. */
  caPem: string;
  /** At most one request per log this often (serve --tsa-every). */
  everyMs: number;
  /** Renew the newest token of a log when its TSA certificate expires within this (serve --tsa-renew-before). */
  renewBeforeMs: number;
}

/** One request per log per hour: a busy log is stamped hourly, a quiet one not at all until it moves. */
export const DEFAULT_TSA_EVERY_MS = 3_600_000;
/** Renewal starts 30 days before the TSA certificate expires: a month of daily chances to reach the TSA. */
export const DEFAULT_RENEW_BEFORE_MS = 30 * 86_400_000;
/** How often a round looks for work: the interval, or a minute when that is shorter, so a moved log waits little. */
export const MAX_TICK_MS = 60_000;

/** Checks the configuration before the server starts: one line for a bad URL or a CA file that holds no certificate. */
export function checkMirrorTsa(tsa: MirrorTsa): void {
  tsaUrl(tsa.url);
  parseCaCertificates(tsa.caPem);
}

interface MirroredLog {
  id: number;
  name: string;
  origin: string;
  vkey: string;
  epoch: number;
  size: number;
  root: Buffer;
  note: string;
}

interface NewestToken {
  token_hash: Buffer;
  size: number;
  generation: number;
  root: Buffer;
  checkpoint: string;
  token: Buffer;
  signer_not_after: Date;
}

/**
 * One round: the mirrored logs in turn. A failure is one log line and affects nothing else; when the TSA cannot be
 * reached, or answers with an error, the round ends there and the logs after it wait for the next one, so a TSA that
 * is down is asked once per round, not once per log. `signal` ends the round early (the server stopping).
 */
export async function stampMirrors(db: Db, tsa: MirrorTsa, log: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const { rows } = await db.pool.query<MirroredLog>(
    `SELECT h.id, h.name, h.origin, h.vkey, h.epoch, m.size, m.root, m.note
       FROM hosts h JOIN mirror_state m ON m.host_id = h.id AND m.epoch = h.epoch
      WHERE h.origin IS NOT NULL AND h.vkey IS NOT NULL AND h.status IN ('active', 'disabled') AND m.size > 0
      ORDER BY h.id`,
  );
  for (const r of rows) {
    if (signal?.aborted) return;
    try {
      await stampLog(db, tsa, { ...r, id: Number(r.id), size: Number(r.size) }, log, signal);
    } catch (e) {
      if (signal?.aborted) return;
      log(`timestamp ${r.name}: ${isFfauditError(e) ? e.message : `unexpected: ${String((e as Error).message ?? e).split('\n')[0]}`}; retried next interval`);
      if (isFfauditError(e) && (e.code === 'IO' || e.code === 'TOO_LARGE')) return;
    }
  }
}

async function stampLog(db: Db, tsa: MirrorTsa, r: MirroredLog, log: (line: string) => void, signal: AbortSignal | undefined): Promise<void> {
  const { rows } = await db.pool.query<NewestToken>(
    'SELECT token_hash, size, generation, root, checkpoint, token, signer_not_after FROM timestamps WHERE host_id = $1 AND epoch = $2 ORDER BY size DESC, generation DESC LIMIT 1',
    [r.id, r.epoch],
  );
  const newest = rows[0] && { ...rows[0], size: Number(rows[0].size) };
  if (!newest || newest.size < r.size) {
    // Claimed first, so that a checkpoint that fails the checks below is reported once per interval too.
    if (!(await claim(db, r.id, tsa.everyMs))) return;
    // Only what the log signed is sent to the TSA, and only as the mirror holds it.
    const cp = openCheckpoint(r.note, [parseVerifierKey(r.vkey)], r.origin);
    if (cp.size !== r.size || !cp.root.equals(r.root)) throw new FfauditError('INTEGRITY', `the mirror checkpoint's note is not of its stored size ${r.size} and root: not stamped`);
    const t = await requestImprintTimestamp(tsa.url, noteImprint(cp.parsed.text), tsa.caPem, { signal });
    const stored = await store(db, r, { size: r.size, root: r.root, checkpoint: r.note, generation: 0, renews: null }, tsa.url, t);
    if (stored) log(`timestamp ${r.name}: entry ${r.size - 1} existed no later than ${t.genTime.toISOString()}, according to TSA ${t.tsaName}`);
    return;
  }
  const expires = newest.signer_not_after.getTime();
  const now = Date.now();
  if (!(expires - tsa.renewBeforeMs <= now && now < expires)) return;
  const earlier = timestampPath(newest.size, newest.generation);
  if (!(await claim(db, r.id, tsa.everyMs))) return;
  if (!createHash('sha256').update(newest.token).digest().equals(newest.token_hash)) {
    throw new FfauditError('INTEGRITY', `${earlier} does not hash to its stored SHA-256: not renewed (serve verify says more)`);
  }
  const t = await requestImprintTimestamp(tsa.url, createHash('sha256').update(newest.token).digest(), tsa.caPem, { signal });
  // A renewal keeps the earlier token provable only if it was made before that certificate expired, and is worth
  // keeping only if its own certificate lasts longer: otherwise the next interval asks again.
  if (t.genTime.getTime() >= expires) throw new FfauditError('INTEGRITY', `the renewal of ${earlier} was made after its TSA certificate expired: not kept`);
  if (t.signerNotAfter.getTime() <= expires) {
    log(`timestamp ${r.name}: a renewal of ${earlier} would not outlive it (the TSA's certificate expires ${t.signerNotAfter.toISOString()}, no later than ${newest.signer_not_after.toISOString()}): not kept`);
    return;
  }
  const renewal = { size: newest.size, root: newest.root, checkpoint: newest.checkpoint, generation: newest.generation + 1, renews: newest.token_hash };
  if (await store(db, r, renewal, tsa.url, t)) {
    log(`timestamp ${r.name}: ${earlier} renewed as ${timestampPath(renewal.size, renewal.generation)}: kept provable by a renewal at ${t.genTime.toISOString()}, according to TSA ${t.tsaName}`);
  }
}

/** The compare-and-set that allows one request per log per interval across processes; true when this one may ask. */
async function claim(db: Db, hostId: number, everyMs: number): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `INSERT INTO timestamp_schedule (host_id, tried_at) VALUES ($1, now())
     ON CONFLICT (host_id) DO UPDATE SET tried_at = now() WHERE timestamp_schedule.tried_at <= now() - make_interval(secs => $2::double precision / 1000)
     RETURNING host_id`,
    [hostId, everyMs],
  );
  return rowCount === 1;
}

interface Stamped {
  size: number;
  root: Buffer;
  checkpoint: string;
  generation: number;
  renews: Buffer | null;
}

/** Appends a verified token; false when one of that checkpoint and generation is already there (another process). */
async function store(db: Db, r: MirroredLog, s: Stamped, url: string, t: VerifiedTimestamp): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `INSERT INTO timestamps (token_hash, host_id, epoch, size, root, checkpoint, generation, renews, tsa, gen_time, signer_not_after, token)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
    [createHash('sha256').update(t.tokenDer).digest(), r.id, r.epoch, s.size, s.root, s.checkpoint, s.generation, s.renews, url, t.genTime, t.signerNotAfter, t.tokenDer],
  );
  return rowCount === 1;
}
