/**
 * Re-verifying the stored timestamps of a mirror (search/reverify.ts runs it with the rest of a mirror check): each
 * row is hostile input. Its token hashes to its key; its checkpoint is signed by the log's key, of the row's size and
 * root, and that root is the mirrored tree's at that size; a renewal renews the token of the generation before it,
 * of the same checkpoint. With the TSA's CA (serve --tsa-ca), each token is verified completely (src/timestamp/
 * verify.ts) against its imprint: SHA-256 of the checkpoint's note body, or of the renewed token's DER; its genTime
 * and certificate expiry are the row's; a renewal was made before the renewed token's certificate expired.
 */
import { createHash } from 'node:crypto';
import { openCheckpoint } from '../core/checkpoint.js';
import { isFfauditError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';
import type { VerifiedTimestamp } from '../timestamp/verify.js';
import type { Db } from './db/pool.js';
import { timestampPath } from './mirror-timestamps.js';
import { storedRoot } from './mirror-tree.js';
import { readOnly } from './search/read.js';

interface TimestampRow {
  token_hash: Buffer;
  size: number;
  root: Buffer;
  checkpoint: string;
  generation: number;
  renews: Buffer | null;
  gen_time: Date;
  signer_not_after: Date;
  token: Buffer;
}

export interface TimestampCheck {
  stored: number;
  /** Tokens verified against the CA; `unchecked` when no CA was given (the rest of the row is checked anyway). */
  verified: number;
  unchecked: number;
  problems: string[];
}

export interface MirrorOfLog {
  hostId: number;
  epoch: number;
  origin: string;
  vkey: string;
  /** The mirror checkpoint's size: a token beyond it names entries the mirror does not hold. */
  mirrorSize: number;
}

const message = (e: unknown): string => (isFfauditError(e) ? e.message : (String((e as Error).message ?? e).split('\n')[0] ?? ''));

export async function checkTimestamps(db: Db, m: MirrorOfLog, caPem: string | undefined, now = new Date()): Promise<TimestampCheck> {
  const rows = await readOnly(db, async (c) => {
    const r = await c.query<TimestampRow>(
      'SELECT token_hash, size, root, checkpoint, generation, renews, gen_time, signer_not_after, token FROM timestamps WHERE host_id = $1 AND epoch = $2 ORDER BY size, generation',
      [m.hostId, m.epoch],
    );
    return r.rows.map((x) => ({ ...x, size: Number(x.size) }));
  });
  const out: TimestampCheck = { stored: rows.length, verified: 0, unchecked: 0, problems: [] };
  if (rows.length === 0) return out;
  // pkijs is loaded only when there are tokens to verify.
  let verify: ((token: Buffer, imprint: Buffer) => VerifiedTimestamp) | undefined;
  if (caPem !== undefined) {
    const { verifyTimestampToken } = await import('../timestamp/verify.js');
    verify = (token, imprint) => verifyTimestampToken(token, { imprint, caCerts: caPem });
  }
  const { noteImprint } = await import('../timestamp/request.js');
  const vkey = parseVerifierKey(m.vkey);
  const byHash = new Map(rows.map((r) => [r.token_hash.toString('hex'), r]));
  /** The verified certificate expiry of each token, by its hash: a renewal must be made before it. */
  const notAfter = new Map<string, Date>();
  const roots = new Map<number, Buffer>();
  for (const r of rows) {
    const name = timestampPath(r.size, r.generation);
    const problem = (what: string) => out.problems.push(`${name}: ${what}`);
    const sha = createHash('sha256').update(r.token).digest();
    if (!sha.equals(r.token_hash)) {
      problem('the token does not hash to its stored SHA-256');
      continue;
    }
    let body: string;
    try {
      const cp = openCheckpoint(r.checkpoint, [vkey], m.origin);
      body = cp.parsed.text;
      if (cp.size !== r.size || !cp.root.equals(r.root)) {
        problem(`its checkpoint is of size ${cp.size}, not ${r.size}, or another root`);
        continue;
      }
    } catch (e) {
      problem(`its checkpoint does not verify with the log's key: ${message(e)}`);
      continue;
    }
    if (r.size > m.mirrorSize) {
      problem(`it is beyond the mirror checkpoint (size ${m.mirrorSize})`);
      continue;
    }
    if (!roots.has(r.size)) roots.set(r.size, await readOnly(db, (c) => storedRoot(c, m.hostId, m.epoch, r.size)));
    if (!roots.get(r.size)!.equals(r.root)) {
      problem(`the mirrored entries do not hash to its checkpoint's root`);
      continue;
    }
    const renewed = r.renews === null ? undefined : byHash.get(r.renews.toString('hex'));
    if (r.generation > 0 && (!renewed || renewed.size !== r.size || renewed.generation !== r.generation - 1 || renewed.checkpoint !== r.checkpoint)) {
      problem(`it renews no stored token of the generation before it`);
      continue;
    }
    if (!verify) {
      out.unchecked++;
      continue;
    }
    try {
      const v = verify(r.token, renewed ? createHash('sha256').update(renewed.token).digest() : noteImprint(body));
      if (v.genTime.getTime() !== r.gen_time.getTime()) problem(`its stored gen_time ${r.gen_time.toISOString()} is not the token's ${v.genTime.toISOString()}`);
      else if (v.signerNotAfter.getTime() !== r.signer_not_after.getTime()) problem("its stored certificate expiry is not the token's");
      else {
        const before = renewed && notAfter.get(renewed.token_hash.toString('hex'));
        if (renewed && !before) problem(`it renews ${timestampPath(renewed.size, renewed.generation)}, which did not verify`);
        else if (before && v.genTime >= before) problem(`it was made at ${v.genTime.toISOString()}, after the certificate of ${timestampPath(renewed.size, renewed.generation)} expired (${before.toISOString()})`);
        else {
          notAfter.set(r.token_hash.toString('hex'), v.signerNotAfter);
          out.verified++;
        }
      }
    } catch (e) {
      problem(message(e));
    }
  }
  // A chain is provable while its newest token's certificate is unexpired (RFC 4998 §5.2): one that lapsed states
  // nothing any more, and is said so here rather than found out by whoever needs it.
  const renewedBy = new Set(rows.flatMap((r) => (r.renews === null ? [] : [r.renews.toString('hex')])));
  for (const r of rows) {
    const until = notAfter.get(r.token_hash.toString('hex'));
    if (until && until.getTime() < now.getTime() && !renewedBy.has(r.token_hash.toString('hex'))) {
      out.problems.push(`${timestampPath(r.size, r.generation)}: no longer provable: its TSA certificate expired at ${until.toISOString()} and no renewal covers it`);
    }
  }
  return out;
}
