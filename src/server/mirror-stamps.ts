/**
 * RFC 3161 timestamps of the mirror checkpoints (`serve --tsa URL --tsa-ca PEM`): on a schedule, each mirrored log
 * whose mirror checkpoint moved since its newest token gets a token over that checkpoint (the imprint is SHA-256 of
 * its note body through the last newline before the signatures, as src/timestamp/request.ts makes it); and every
 * chain of a log whose newest token's TSA certificate expires within --tsa-renew-before gets a renewal, a token over
 * SHA-256 of that token's DER (the archive-timestamp renewal of RFC 4998 §5.2), so the earlier one stays provable
 * after its certificate expires. Every token is verified completely (src/timestamp/verify.ts) before it is stored,
 * and again before a renewal is chained over it.
 *
 * A log is taken at most once per interval, across every serve process on the database (a compare-and-set on
 * timestamp_schedule claims it before anything is sent, whether the TSA then answers or not): one request for its
 * moved checkpoint, and renewals of the chains due (at most MAX_RENEWALS_PER_ROUND, none the TSA's current
 * certificate would not outlive); the unique indexes of `timestamps` keep one token per checkpoint and generation
 * whatever happens. One request at a time per process: the logs are taken one after the other, and a round never
 * starts while the last one runs (serve.ts).
 */
import { createHash } from 'node:crypto';
import { openCheckpoint } from '../core/checkpoint.js';
import { FfauditError, isFfauditError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';
import { requestImprintTimestamp, tsaUrl } from '../timestamp/client.js';
import { noteImprint } from '../timestamp/request.js';
import { stampSentence, shown } from '../timestamp/chain.js';
import { parseCaCertificates, verifyTimestampToken, type VerifiedTimestamp } from '../timestamp/verify.js';
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

interface DueToken {
  token_hash: Buffer;
  size: number;
  generation: number;
  root: Buffer;
  checkpoint: string;
  renews: Buffer | null;
  token: Buffer;
  signer_not_after: Date;
}

/** Renewals one log may ask for in a round: a burst when many chains near one expiry is spread over rounds. */
const MAX_RENEWALS_PER_ROUND = 16;

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
      log(`timestamp ${r.name}: ${isFfauditError(e) ? shown(e.message) : `unexpected: ${String((e as Error).message ?? e).split('\n')[0]}`}; retried next interval`);
      // A TSA that is away, or that refuses requests (a PKIStatus rejection), is not asked again this round.
      if (isFfauditError(e) && (e.code === 'IO' || e.code === 'TOO_LARGE' || e.message.startsWith('time-stamp token: the TSA refused'))) return;
    }
  }
}

async function stampLog(db: Db, tsa: MirrorTsa, r: MirroredLog, log: (line: string) => void, signal: AbortSignal | undefined): Promise<void> {
  const [top, due] = await Promise.all([
    db.pool.query<{ size: string | null }>('SELECT max(size) AS size FROM timestamps WHERE host_id = $1 AND epoch = $2', [r.id, r.epoch]),
    // Every chain's newest token (none renews it) whose certificate expires within the window: each checkpoint's
    // earliest time stays provable, not only the latest checkpoint's.
    db.pool.query<DueToken>(
      `SELECT token_hash, size, generation, root, checkpoint, renews, token, signer_not_after FROM timestamps t
        WHERE host_id = $1 AND epoch = $2 AND signer_not_after > now() AND signer_not_after <= now() + make_interval(secs => $3::double precision / 1000)
          AND NOT EXISTS (SELECT 1 FROM timestamps u WHERE u.renews = t.token_hash)
        ORDER BY signer_not_after, size LIMIT $4`,
      [r.id, r.epoch, tsa.renewBeforeMs, MAX_RENEWALS_PER_ROUND],
    ),
  ]);
  const moved = top.rows[0]?.size == null || Number(top.rows[0].size) < r.size;
  if (!moved && due.rows.length === 0) return;
  // Claimed first, so that a checkpoint that fails the checks below is reported once per interval too.
  if (!(await claim(db, r.id, tsa.everyMs))) return;
  // The TSA's certificate, once an answer of this round shows it: chains it would not outlive are not sent, so a
  // TSA that has not rolled its certificate yet costs one request a log a round, not one per chain.
  let tsaUntil: number | undefined;
  let failure: FfauditError | undefined;
  if (moved) {
    try {
      // Only what the log signed is sent to the TSA, and only as the mirror holds it.
      const cp = openCheckpoint(r.note, [parseVerifierKey(r.vkey)], r.origin);
      if (cp.size !== r.size || !cp.root.equals(r.root)) throw new FfauditError('INTEGRITY', `the mirror checkpoint's note is not of its stored size ${r.size} and root: not stamped`);
      const t = await requestImprintTimestamp(tsa.url, noteImprint(cp.parsed.text), tsa.caPem, { signal });
      tsaUntil = t.signerNotAfter.getTime();
      const stored = await store(db, r, { size: r.size, root: r.root, checkpoint: r.note, generation: 0, renews: null }, tsa.url, t);
      if (stored) log(`timestamp ${r.name}: ${stampSentence(r.size, t)}`);
    } catch (e) {
      // A checkpoint that cannot be stamped does not hold back the renewals of the log's earlier ones.
      if (!(e instanceof FfauditError) || e.code === 'IO' || e.code === 'TOO_LARGE') throw e;
      failure = e;
    }
  }
  for (const d of due.rows) {
    if (signal?.aborted) return;
    if (tsaUntil !== undefined && tsaUntil <= d.signer_not_after.getTime()) continue;
    const until = await renew(db, tsa, r, { ...d, size: Number(d.size) }, log, signal);
    if (until !== undefined) tsaUntil = until;
  }
  if (failure) throw failure;
}

/**
 * Renews one chain's newest token: verified again first (a row rewritten in the database gets no token chained
 * over it), then a token over SHA-256 of its DER. A failure of this token is one line and the next is tried; a TSA
 * that cannot be reached ends the round (thrown).
 */
async function renew(db: Db, tsa: MirrorTsa, r: MirroredLog, d: DueToken, log: (line: string) => void, signal: AbortSignal | undefined): Promise<number | undefined> {
  const earlier = timestampPath(d.size, d.generation);
  const expires = d.signer_not_after.getTime();
  try {
    if (!createHash('sha256').update(d.token).digest().equals(d.token_hash)) throw new FfauditError('INTEGRITY', 'it does not hash to its stored SHA-256');
    const imprint = d.renews ?? noteImprint(openCheckpoint(d.checkpoint, [parseVerifierKey(r.vkey)], r.origin).parsed.text);
    const v = verifyTimestampToken(d.token, { imprint, caCerts: tsa.caPem });
    if (v.signerNotAfter.getTime() !== expires) throw new FfauditError('INTEGRITY', "its stored certificate expiry is not the token's");
  } catch (e) {
    if (!isFfauditError(e)) throw e;
    log(`timestamp ${r.name}: ${earlier} not renewed: ${e.message} (serve verify says more)`);
    return undefined;
  }
  const t = await requestImprintTimestamp(tsa.url, createHash('sha256').update(d.token).digest(), tsa.caPem, { signal });
  // A renewal keeps the earlier token provable only if it was made before that certificate expired, and is worth
  // keeping only if its own certificate lasts longer: otherwise the next interval asks again.
  if (t.genTime.getTime() >= expires) {
    log(`timestamp ${r.name}: the renewal of ${earlier} was made after its TSA certificate expired: not kept`);
    return t.signerNotAfter.getTime();
  }
  if (t.signerNotAfter.getTime() <= expires) {
    log(`timestamp ${r.name}: a renewal of ${earlier} would not outlive it (the TSA's certificate expires ${t.signerNotAfter.toISOString()}, no later than ${d.signer_not_after.toISOString()}): not kept`);
    return t.signerNotAfter.getTime();
  }
  const renewal = { size: d.size, root: d.root, checkpoint: d.checkpoint, generation: d.generation + 1, renews: d.token_hash };
  if (await store(db, r, renewal, tsa.url, t)) {
    log(`timestamp ${r.name}: ${earlier} renewed as ${timestampPath(renewal.size, renewal.generation)}: kept provable by a renewal at ${t.genTime.toISOString()}, according to TSA ${shown(t.tsaName)}`);
  }
  return t.signerNotAfter.getTime();
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
