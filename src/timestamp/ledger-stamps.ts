/**
 * Timestamping a ledger: its latest checkpoint sent to the TSA (request.ts: SHA-256 of the note body, a nonce,
 * certReq), the answer verified completely (client.ts, verify.ts) and only then stored with the checkpoint
 * (Ledger.addTimestamps). Renewals (RFC 4998 §5.2) ask for a token over the DER of a chain's newest token while its
 * certificate is still valid. A host has no daemon: `scheduledStamps` runs with its pushes and before each archive.
 */
import { createHash } from 'node:crypto';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import type { Ledger, Timestamp } from '../ledger/ledger.js';
import { stampSentence } from './chain.js';
import { requestTimestamp, tsaUrl, type RequestOptions } from './client.js';
import { readCaFile, readTsaConfig, type TsaConfig } from './config.js';
import { chainsHolding, checkStoredTimestamps, type CheckedStamp, type StoredStamps } from './ledger-check.js';
import type { VerifiedTimestamp } from './verify.js';

export interface Tsa {
  url: string;
  /** PEM text of the CA certificates the TSA must chain to. */
  caCerts: string;
  request?: RequestOptions;
}

export interface StampResult {
  size: number;
  /** False when a valid token over this checkpoint was stored already (and none was asked for). */
  stamped: boolean;
  sentence: string;
  token: VerifiedTimestamp;
}

function row(r: { size: number; root: Buffer; checkpoint: string }, tsa: string, t: VerifiedTimestamp, renews: Buffer | null): Timestamp {
  // The row's key is the token's SHA-256, as the store requires.
  return { tokenHash: createHash('sha256').update(t.tokenDer).digest(), size: r.size, root: r.root, checkpoint: r.checkpoint, renews, tsa, genTime: t.genTime.toISOString(), signerNotAfter: t.signerNotAfter.toISOString(), token: t.tokenDer };
}

/**
 * Timestamps the ledger's latest checkpoint and stores the token. A checkpoint that already has a valid token is
 * not sent again unless `force`.
 */
export async function stampHead(ledger: Ledger, tsa: Tsa, opts: { force?: boolean; now?: Date; stored?: StoredStamps } = {}): Promise<StampResult> {
  const note = ledger.checkpoint();
  const cp = parseSignedCheckpoint(note);
  if (cp.size === 0) throw new FfauditError('NOT_FOUND', 'the ledger is empty: there is no entry to timestamp');
  tsaUrl(tsa.url); // a TSA that could never be asked is refused even when it need not be
  if (!opts.force) {
    const have = earliestOwn((opts.stored ?? checkStoredTimestamps(ledger, tsa.caCerts, opts.now, cp.size)).valid, cp.size);
    if (have) return { size: cp.size, stamped: false, sentence: stampSentence(cp.size, have.verified), token: have.verified };
  }
  const t = await requestTimestamp(tsa.url, cp.parsed.text, tsa.caCerts, tsa.request);
  ledger.addTimestamps([row({ size: cp.size, root: cp.root, checkpoint: note }, tsa.url, t, null)]);
  return { size: cp.size, stamped: true, sentence: stampSentence(cp.size, t), token: t };
}

function earliestOwn(valid: readonly CheckedStamp[], size: number): CheckedStamp | undefined {
  return valid.filter((c) => c.row.renews === null && c.row.size === size).sort((a, b) => a.verified.genTime.getTime() - b.verified.genTime.getTime())[0];
}

export interface RenewResult {
  renewed: { size: number; sentence: string }[];
  /** Chains left alone, and why (lapsed already, or the TSA's certificate would not outlive the token's). */
  skipped: string[];
}

/**
 * Renews every chain whose newest token's certificate expires within `renewBeforeMs`, soonest first: a token over
 * that token's DER, stored with `renews` naming it. A chain whose certificate has expired already cannot be renewed
 * (verify reports it). A renewal is kept only when the TSA's certificate outlives the token it renews: otherwise it
 * would gain nothing. Chains the TSA's current certificate would not outlive are not sent (see tsaUntil).
 */
export async function renewDue(ledger: Ledger, tsa: Tsa, renewBeforeMs: number, now = new Date(), scheduled?: { stored: StoredStamps; rows: readonly Timestamp[]; everyMs: number; tsaUntil?: Date | undefined }): Promise<RenewResult> {
  const stored = scheduled?.stored ?? checkStoredTimestamps(ledger, tsa.caCerts, now);
  const out: RenewResult = { renewed: [], skipped: [] };
  // When the TSA's certificate is known, chains it would not outlive are not sent: from an answer of this run, or on
  // a schedule from its newest token here when that is younger than `every` (a copy read unverified: it only
  // spares a request). A TSA that has not rolled its certificate yet costs at most one request an `every`.
  let tsaUntil = scheduled?.tsaUntil?.getTime();
  if (scheduled && tsaUntil === undefined) {
    const newest = scheduled.rows.filter((r) => r.tsa === tsa.url).reduce<Timestamp | undefined>((m, r) => (!m || r.genTime > m.genTime ? r : m), undefined);
    if (newest && now.getTime() - Date.parse(newest.genTime) < scheduled.everyMs) tsaUntil = Date.parse(newest.signerNotAfter);
  }
  const tips = [...stored.tips].sort((x, y) => x.verified.signerNotAfter.getTime() - y.verified.signerNotAfter.getTime());
  for (const tip of tips) {
    const expires = tip.verified.signerNotAfter.getTime();
    if (expires - now.getTime() > renewBeforeMs) continue;
    const until = tip.verified.signerNotAfter.toISOString();
    if (expires < now.getTime()) {
      out.skipped.push(`size ${tip.row.size}: its certificate expired at ${until}, too late to renew`);
      continue;
    }
    if (tsaUntil !== undefined && tsaUntil <= expires) continue;
    const t = await requestTimestamp(tsa.url, tip.verified.tokenDer, tsa.caCerts, tsa.request);
    tsaUntil = t.signerNotAfter.getTime();
    if (t.signerNotAfter.getTime() <= expires) {
      out.skipped.push(`size ${tip.row.size}: the TSA's certificate (until ${t.signerNotAfter.toISOString()}) does not outlive the token's (until ${until}): a renewal would gain nothing`);
      continue;
    }
    ledger.addTimestamps([row(tip.row, tsa.url, t, tip.row.tokenHash)]);
    out.renewed.push({ size: tip.row.size, sentence: stampSentence(tip.row.size, (tip.own ?? tip).verified, t) });
  }
  return out;
}

/**
 * The rows the schedule acts on, as stored (verified afterwards): any over the head's checkpoint (is it stamped?),
 * the newest checkpoint token (is the next one due?), and the newest of each chain whose certificate expires within
 * `renewBeforeMs`, or whose expiry cannot be read (verification will say why).
 */
function due(rows: readonly Timestamp[], headSize: number, renewBeforeMs: number, now: Date): (r: Timestamp) => boolean {
  const renewed = new Set(rows.flatMap((r) => (r.renews === null ? [] : [r.renews.toString('hex')])));
  const newest = rows.filter((r) => r.renews === null).reduce<Timestamp | undefined>((m, r) => (!m || r.genTime > m.genTime ? r : m), undefined);
  return (r) => {
    if (r.size === headSize || r === newest) return true;
    if (renewed.has(r.tokenHash.toString('hex'))) return false;
    const expires = Date.parse(r.signerNotAfter);
    return !Number.isFinite(expires) || expires - now.getTime() <= renewBeforeMs;
  };
}

/**
 * What the schedule does (with a push, before an archive): timestamps the head when it has no valid token yet and
 * the newest token is older than `every` (or `always`, before an archive), then renews what is due. Never throws:
 * returns one line per thing done or failed, for the push log; whatever failed is tried again next time.
 */
export async function scheduledStamps(ledger: Ledger, cfg: TsaConfig, caCerts: string, opts: { always?: boolean; now?: Date; request?: RequestOptions } = {}): Promise<string[]> {
  const now = opts.now ?? new Date();
  const tsa: Tsa = { url: cfg.url, caCerts, ...(opts.request ? { request: opts.request } : {}) };
  const lines: string[] = [];
  // Each token costs milliseconds to verify (pkijs) and a ledger keeps thousands: the schedule verifies only the
  // chains it acts on (due(): the head's, the newest, those due for renewal), once for the whole run.
  let stored: StoredStamps;
  let rows: Timestamp[] = [];
  try {
    stored = checkStoredTimestamps(ledger, caCerts, now, undefined, (all) => chainsHolding((rows = all), due(all, ledger.size(), cfg.renewBeforeMs, now)));
  } catch (e) {
    return [`timestamp: not done: the stored tokens cannot be read (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`];
  }
  const failed = (what: string, e: unknown) => lines.push(`timestamp: ${what} failed (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}); tried again with the next push`);
  // A token asked for now shows the TSA's current certificate (renewDue: chains it would not outlive are not sent).
  let tsaUntil: Date | undefined;
  try {
    const size = ledger.size();
    if (size > 0) {
      const newest = stored.valid.filter((c) => c.row.renews === null).reduce((m, c) => Math.max(m, c.verified.genTime.getTime()), -Infinity);
      if (opts.always || now.getTime() - newest >= cfg.everyMs) {
        const r = await stampHead(ledger, tsa, { now, stored });
        if (r.stamped) {
          lines.push(`timestamp: ${r.sentence}`);
          tsaUntil = r.token.signerNotAfter;
        }
      }
    }
  } catch (e) {
    failed(`asking ${cfg.url} for a token over the latest checkpoint`, e);
  }
  try {
    const r = await renewDue(ledger, tsa, cfg.renewBeforeMs, now, { stored, rows, everyMs: cfg.everyMs, tsaUntil });
    // What cannot be renewed is not repeated at every push: verify reports a chain that lapsed.
    for (const x of r.renewed) lines.push(`timestamp: renewed size ${x.size}: ${x.sentence}`);
  } catch (e) {
    failed(`renewing tokens at ${cfg.url}`, e);
  }
  return lines;
}

/**
 * The schedule for the ledger's configured TSA, if any (config.json `tsa`): what a push and an archive run. Never
 * throws: a config that cannot be read, a CA file missing, a TSA down are each one line, and nothing is lost.
 */
export async function stampsForLedger(ledger: Ledger, opts: { always?: boolean; now?: Date; request?: RequestOptions } = {}): Promise<string[]> {
  let cfg: TsaConfig | undefined;
  let caCerts: string;
  try {
    cfg = readTsaConfig(ledger.dir);
    if (!cfg) return [];
    caCerts = readCaFile(cfg.ca);
  } catch (e) {
    return [`timestamp: not done: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`];
  }
  return scheduledStamps(ledger, cfg, caCerts, opts);
}
