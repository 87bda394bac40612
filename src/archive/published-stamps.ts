/**
 * Time-stamp tokens in an archive (layout.ts): `timestamp/<size>`, a checkpoint's own token, beside the
 * `checkpoints/<size>` whose note body it is over, and `timestamp/<size>.<n>`, the chain of its renewals (each over
 * the DER of the one before). Written once, like tiles. What is published was verified against the ledger's TSA CA
 * first (timestamp/ledger-check.ts); what is read back is verified again, with a CA the reader names.
 */
import type { SignedCheckpoint } from '../core/checkpoint.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Problem } from '../ledger/problems.js';
import { checkCheckpointToken, checkRenewal, lapsed } from '../timestamp/chain.js';
import { checkStoredTimestamps, type CheckedStamp } from '../timestamp/ledger-check.js';
import { isUnanchored, type VerifiedTimestamp } from '../timestamp/verify.js';
import { parseTimestampPath, timestampPath } from './layout.js';
import type { ArchiveSource, StoredObject } from './target.js';

/** The most renewals of one token read back: decades of yearly renewals; more is not an archive of ours. */
const MAX_RENEWALS = 100;

/**
 * The objects to publish for the checkpoints of `sizes` entries: for each, its earliest valid token and the chain of
 * renewals from it (at each step the earliest valid renewal), named by their place in the chain.
 */
export function stampObjects(ledger: Ledger, caCerts: string, sizes: ReadonlySet<number>, now = new Date()): { name: string; data: Buffer }[] {
  // Only the chains over checkpoints the archive holds are verified (a chain shares its checkpoint's size).
  const valid = checkStoredTimestamps(ledger, caCerts, now, undefined, (rows) => rows.filter((r) => sizes.has(r.size))).valid;
  const earliest = (list: CheckedStamp[]) => list.sort((a, b) => a.verified.genTime.getTime() - b.verified.genTime.getTime())[0];
  const out: { name: string; data: Buffer }[] = [];
  for (const size of sizes) {
    let cur = earliest(valid.filter((c) => c.row.size === size && c.row.renews === null));
    for (let n = 0; cur && n <= MAX_RENEWALS; n++) {
      out.push({ name: timestampPath(size, n), data: cur.row.token });
      const at = cur.row.tokenHash;
      cur = earliest(valid.filter((c) => c.row.renews !== null && c.row.renews.equals(at)));
    }
  }
  return out;
}

export interface PublishedStampCheck {
  /** Token files read, and how many verified. */
  found: number;
  verified: number;
  /** Sound tokens under a CA not given: they state no time and are no finding (absent when none). */
  otherCa?: number | undefined;
  /** The sentence for the largest size covered (a chain still provable), as chain.ts words it. */
  newest?: { size: number; own: VerifiedTimestamp; renewal?: VerifiedTimestamp | undefined } | undefined;
}

/**
 * Checks the published tokens against the PEM `caCerts`: each `timestamp/<size>` over the note body of the signed
 * checkpoint of that size (`signed`: those the archive holds, already checked), each renewal over the token before
 * it; a chain whose newest token's certificate has expired is `timestamp-unrenewed`. `names`: the listing of
 * `timestamp/`, or undefined for a source that cannot be listed (then the chain of `probe` sizes is asked for).
 */
export async function checkPublishedStamps(
  source: ArchiveSource,
  signed: ReadonlyMap<number, SignedCheckpoint>,
  names: readonly string[] | undefined,
  caCerts: string,
  report: { add: (p: Problem) => void; seen: (name: string, o: StoredObject) => void },
  probe: readonly number[],
  now = new Date(),
): Promise<PublishedStampCheck> {
  const chains = new Map<number, number>(); // size → highest n listed
  if (names) {
    for (const name of names) {
      const p = parseTimestampPath(name);
      if (p) chains.set(p.size, Math.max(chains.get(p.size) ?? -1, p.n));
    }
  } else for (const s of probe) chains.set(s, MAX_RENEWALS);
  const out: PublishedStampCheck = { found: 0, verified: 0 };
  const bad = (size: number, name: string, why: string) => report.add({ kind: 'timestamp-invalid', size, detail: `${name} ${why}` });
  for (const [size, top] of [...chains].sort((a, b) => a[0] - b[0])) {
    let earlier: VerifiedTimestamp | undefined;
    let own: VerifiedTimestamp | undefined;
    for (let n = 0; n <= Math.min(top, MAX_RENEWALS); n++) {
      const name = timestampPath(size, n);
      const o = await source.get(name);
      if (!o) {
        if (names && n <= top) bad(size, name, n === 0 ? 'is missing while its renewals are there' : 'is missing while later renewals are there');
        break;
      }
      report.seen(name, o);
      out.found++;
      const cp = signed.get(size);
      if (n === 0 && !cp) {
        bad(size, name, `has no validly signed checkpoints/${size} in the archive to be checked against`);
        break;
      }
      try {
        const v: VerifiedTimestamp = n === 0 ? checkCheckpointToken(o.data, cp!.parsed.text, caCerts, now) : checkRenewal(o.data, earlier!, caCerts, now);
        out.verified++;
        earlier = v;
        own ??= v;
      } catch (e) {
        // A sound token under a CA not given (another TSA's, a CA since rolled over) states no time and is no
        // finding; its renewals are not followed (they would date it, and it is not trusted here).
        if (n === 0 && isUnanchored(e)) out.otherCa = (out.otherCa ?? 0) + 1;
        else bad(size, name, `does not verify: ${(e as Error).message}`);
        earlier = undefined;
        break;
      }
    }
    if (!earlier || !own) continue;
    const why = lapsed(earlier, now);
    if (why) {
      report.add({ kind: 'timestamp-unrenewed', size, detail: `the timestamp of size ${size} is no longer provable: ${why}` });
      continue; // a lapsed chain states no time
    }
    if (!out.newest || size > out.newest.size) out.newest = { size, own, renewal: earlier === own ? undefined : earlier };
  }
  return out;
}
