/**
 * The ledger's stored time-stamp tokens, checked as `verify` does everything in the store: as hostile input. A row
 * counts only when its token hashes to its key, its checkpoint is signed by the ledger's key with the size and root
 * the row names and is a prefix of the log (RFC 9162 §2.1.4 consistency with the head), and its token verifies
 * against the configured TSA CA: over the checkpoint's note body, or, for a renewal, over the token it renews
 * (chain.ts). Each row that fails is one `timestamp-invalid` finding saying why; a chain whose newest token's
 * certificate has expired is `timestamp-unrenewed`.
 */
import { createHash } from 'node:crypto';
import { openCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { verifyConsistency } from '../core/merkle.js';
import type { Ledger, Timestamp } from '../ledger/ledger.js';
import { Findings, type Problem } from '../ledger/problems.js';
import { checkCheckpointToken, checkRenewal, lapsed, stampSentence } from './chain.js';
import { isUnanchored, verifyTimestampToken } from './verify.js';
import type { VerifiedTimestamp } from './verify.js';

export interface CheckedStamp {
  row: Timestamp;
  verified: VerifiedTimestamp;
  /** The checkpoint's own token at the root of this row's chain (the row itself when it is one). */
  own: CheckedStamp | undefined;
}

export interface StoredStamps {
  problems: Problem[];
  /** Rows stored, and those that verified. */
  stored: number;
  /**
   * Rows whose token is sound but signed under a CA that is not configured (another TSA, a CA since rolled over),
   * with the renewals over them: no evidence of time here, and no evidence of tampering either.
   */
  otherCa: number;
  valid: CheckedStamp[];
  /** The newest token of each chain (a valid row no valid renewal covers). */
  tips: CheckedStamp[];
  /** The sentence for the largest size a valid token covers (its earliest token), with its newest renewal. */
  newest: string | undefined;
}

const short = (h: Buffer) => h.toString('hex').slice(0, 16);

/**
 * Checks every stored token (or those over the checkpoint of `size` entries, or those `pick` keeps: whole chains,
 * since a renewal verifies only after the token it renews) against the PEM CA text `caCerts`.
 */
export function checkStoredTimestamps(ledger: Ledger, caCerts: string, now = new Date(), size?: number, pick?: (rows: Timestamp[]) => Timestamp[]): StoredStamps {
  const findings = new Findings();
  const rows = pick ? pick(ledger.timestamps(size)) : ledger.timestamps(size);
  let head: SignedCheckpoint | undefined;
  try {
    head = openCheckpoint(ledger.checkpoint(), [ledger.verifier], ledger.origin);
  } catch {
    head = undefined; // verify reports the head itself; without it no token can be placed in the log
  }
  const bad = (r: Timestamp, why: string) =>
    findings.add({ kind: 'timestamp-invalid', size: Number.isSafeInteger(r.size) ? r.size : undefined, detail: `the ${r.renews === null ? 'token' : 'renewal'} ${short(r.tokenHash)}… stored for size ${r.size} ${why}` });

  // What is the ledger's own, token aside.
  const placed: Timestamp[] = [];
  for (const r of rows) {
    if (!Buffer.isBuffer(r.token) || !createHash('sha256').update(r.token).digest().equals(r.tokenHash)) {
      bad(r, 'does not hash to its key (token_hash): it was altered in the database');
      continue;
    }
    let cp: SignedCheckpoint;
    try {
      cp = openCheckpoint(r.checkpoint, [ledger.verifier], ledger.origin);
    } catch (e) {
      bad(r, `is over a checkpoint that is not this log's: ${(e as Error).message}`);
      continue;
    }
    if (cp.size !== r.size || !Buffer.isBuffer(r.root) || !cp.root.equals(r.root)) {
      bad(r, `names a checkpoint of size ${cp.size} with another size or root: the row was rewritten`);
      continue;
    }
    if (!head) {
      bad(r, 'cannot be placed in the log: its latest checkpoint does not verify');
      continue;
    }
    let consistent: boolean;
    try {
      consistent = cp.size <= head.size && verifyConsistency(cp.size, head.size, ledger.consistency(cp.size, head.size), cp.root, head.root);
    } catch {
      consistent = false;
    }
    if (!consistent) {
      bad(r, `is over a checkpoint the log of ${head.size} entries does not extend: its root at size ${cp.size} is another`);
      continue;
    }
    placed.push(r);
  }

  // The tokens: checkpoints' own first, then renewals once the token each renews has verified.
  const byHash = new Map<string, CheckedStamp>();
  const failed = new Set<string>();
  const foreign = new Set<string>();
  let pending = placed;
  for (;;) {
    const next: Timestamp[] = [];
    for (const r of pending) {
      const key = r.tokenHash.toString('hex');
      const earlier = r.renews === null ? undefined : byHash.get(r.renews.toString('hex'));
      if (r.renews !== null && !earlier) {
        if (foreign.has(r.renews.toString('hex'))) {
          // It renews a token under a CA not configured: it states no time here either, but it must still be a
          // sound token over that one (its imprint is the renewed token's SHA-256), or it is a finding.
          try {
            verifyTimestampToken(r.token, { imprint: r.renews, caCerts, now });
            foreign.add(key);
          } catch (e) {
            if (isUnanchored(e)) foreign.add(key);
            else {
              bad(r, `does not verify: ${(e as Error).message}`);
              failed.add(key);
            }
          }
        } else if (failed.has(r.renews.toString('hex')) || !placed.some((p) => p.tokenHash.equals(r.renews!))) {
          bad(r, 'renews a token that is not stored or does not verify');
          failed.add(key);
        } else next.push(r);
        continue;
      }
      try {
        const verified = earlier ? checkRenewal(r.token, earlier.verified, caCerts, now) : checkCheckpointToken(r.token, openCheckpoint(r.checkpoint, [ledger.verifier]).parsed.text, caCerts, now);
        if (earlier && earlier.row.size !== r.size) throw new Error(`it renews a token over size ${earlier.row.size}`);
        // The copies the schedule reads without verifying (store/types.ts) must be the token's own.
        if (r.genTime !== verified.genTime.toISOString() || r.signerNotAfter !== verified.signerNotAfter.toISOString()) {
          throw new Error(`its stored genTime or certificate expiry (${String(r.genTime)}, ${String(r.signerNotAfter)}) is not the token's: the row was rewritten`);
        }
        const c: CheckedStamp = { row: r, verified, own: undefined };
        c.own = earlier ? (earlier.own ?? earlier) : undefined;
        byHash.set(key, c);
      } catch (e) {
        // A sound token under a CA not configured (another TSA asked once, a CA rolled over) proves no time here,
        // and is no sign of tampering: counted apart, with what renews it.
        if (!earlier && isUnanchored(e)) foreign.add(key);
        else {
          bad(r, `does not verify: ${(e as Error).message}`);
          failed.add(key);
        }
      }
    }
    if (next.length === 0 || next.length === pending.length) {
      for (const r of next) bad(r, 'renews a token that is not stored or does not verify');
      break;
    }
    pending = next;
  }

  const valid = [...byHash.values()];
  const renewed = new Set(valid.filter((c) => c.row.renews !== null).map((c) => c.row.renews!.toString('hex')));
  const tips = valid.filter((c) => !renewed.has(c.row.tokenHash.toString('hex')));
  for (const t of tips) {
    const why = lapsed(t.verified, now);
    if (why) findings.add({ kind: 'timestamp-unrenewed', size: t.row.size, detail: `the timestamp of size ${t.row.size} (first token ${short((t.own ?? t).row.tokenHash)}…) is no longer provable: ${why}` });
  }
  return { problems: findings.list(), stored: rows.length, otherCa: foreign.size, valid, tips, newest: newestSentence(valid, tips, now) };
}

/**
 * The largest size a valid own token covers, its earliest such token, and the newest renewal of that token's chain;
 * only chains still provable (their newest certificate not expired): a lapsed one states nothing.
 */
function newestSentence(valid: readonly CheckedStamp[], tips: readonly CheckedStamp[], now: Date): string | undefined {
  const live = new Set(tips.filter((t) => lapsed(t.verified, now) === undefined).map((t) => t.own ?? t));
  const own = valid.filter((c) => c.row.renews === null && live.has(c));
  const best = own.reduce<CheckedStamp | undefined>((b, c) => (!b || c.row.size > b.row.size || (c.row.size === b.row.size && c.verified.genTime < b.verified.genTime) ? c : b), undefined);
  if (!best) return undefined;
  const renewal = tips.filter((t) => t.own === best).sort((a, b) => b.verified.genTime.getTime() - a.verified.genTime.getTime())[0];
  return stampSentence(best.row.size, best.verified, renewal?.verified);
}

/**
 * The chains (a checkpoint's own token and its renewals, linked by `renews`) that hold any row `wanted` keeps. The
 * links are read as stored, unchecked: this only chooses what to verify.
 */
export function chainsHolding(rows: readonly Timestamp[], wanted: (r: Timestamp) => boolean): Timestamp[] {
  const byHash = new Map(rows.map((r) => [r.tokenHash.toString('hex'), r]));
  // A chain's first token; on a cycle forged into the table, the least hash of the cycle (the same for every row on
  // or below it), and verification then refuses what it holds.
  const rootOf = (r: Timestamp): string => {
    const path: string[] = [];
    let cur: Timestamp | undefined = r;
    while (cur) {
      const key = cur.tokenHash.toString('hex');
      const seen = path.indexOf(key);
      if (seen >= 0) return path.slice(seen).sort()[0]!;
      path.push(key);
      if (cur.renews === null) return key;
      cur = byHash.get(cur.renews.toString('hex'));
    }
    return path[path.length - 1]!;
  };
  const roots = new Set(rows.filter(wanted).map(rootOf));
  return rows.filter((r) => roots.has(rootOf(r)));
}
