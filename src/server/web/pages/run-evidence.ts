/**
 * The proof that a run is in its host's log, as the Run page states it and /runs/:id/receipt hands it out: for each
 * of the run's entries a c2sp.org/tlog-proof@v1 receipt against the newest checkpoint the server cosigned and holds
 * every entry of (search/evidence.ts signedHead), the same receipt `ffaudit proof N` prints on the host and
 * `ffaudit verify-proof` checks. Each receipt is checked here as verify-proof would before anything is said about it,
 * and the checkpoint's cosignatures are checked with the server's own witness (both its keys) and mirror keys.
 */
import { verifiedCosignatures } from '../../../core/cosignature.js';
import { parseSignedCheckpoint } from '../../../core/checkpoint.js';
import { FfauditError } from '../../../core/errors.js';
import { parseNote } from '../../../core/note.js';
import { checkReceipt } from '../../../core/receipt-check.js';
import { formatTlogProof } from '../../../core/tlog-proof.js';
import { formatTimeNs } from '../../../time/time.js';
import type { Db } from '../../db/pool.js';
import { serverVerifierList, type ServerKeys } from '../../keys.js';
import { mirrorEvidence } from '../../search/evidence.js';
import type { LoggedRun } from '../../search/types.js';

export interface EntryProof {
  index: number;
  /** The entry's exact bytes, as `ffaudit entry N --raw` prints them on the host. */
  data: Buffer;
  receipt: string;
  /** Whether the receipt holds for these bytes under the log's key (core/receipt-check.ts); why not otherwise. */
  failure: string | null;
}

export interface RunEvidence {
  origin: string;
  /** The log's verifier key as enrolled (what `--pubkey` of verify-proof takes, obtained independently). */
  vkey: string;
  keyName: string;
  checkpoint: { size: number; root: string };
  entries: EntryProof[];
  /** The server's cosignatures on that checkpoint that verify, with their times (RFC 3339). */
  cosigned: { role: 'witness' | 'mirror'; name: string; at: string }[];
  /** Signature lines of other keys (other witnesses), not checked here. */
  others: number;
}

/**
 * The evidence of `run`, or null when no checkpoint the server cosigned covers its entries yet (a host that pushed
 * them but not a checkpoint of that size).
 */
export async function runEvidence(db: Db, keys: ServerKeys, run: LoggedRun): Promise<RunEvidence | null> {
  const src = await mirrorEvidence(db, run.log);
  const head = await src.signedHead();
  if (head === undefined) return null;
  const cp = parseSignedCheckpoint(head);
  if (run.entries.some((i) => i >= cp.size)) return null;
  const entries: EntryProof[] = [];
  for (const index of run.entries) {
    const { data, proof } = await src.entryWithProof(index, cp.size);
    const receipt = formatTlogProof(index, proof, head);
    entries.push({ index, data, receipt, failure: checkReceipt(receipt, data, src.verifier).failure });
  }
  const cosigned = verifiedCosignatures(head, serverVerifierList(keys)).map((s) => ({
    role: s.name === keys.witness.name ? ('witness' as const) : ('mirror' as const),
    name: s.name,
    at: formatTimeNs(BigInt(s.timestamp) * 1_000_000_000n),
  }));
  const signatures = parseNote(head).signatures.length;
  return {
    origin: run.log,
    vkey: src.vkey,
    keyName: src.verifier.name,
    checkpoint: { size: cp.size, root: cp.root.toString('base64') },
    entries,
    cosigned,
    others: Math.max(0, signatures - 1 - cosigned.length),
  };
}

/** Which of a run's entries a receipt is asked for: `end` (the default, or the start of a run that has none) or `start`. */
export function entryOf(evidence: RunEvidence, which: string | undefined): EntryProof {
  if (which !== undefined && which !== 'start' && which !== 'end') throw new FfauditError('USAGE', 'entry: start or end');
  const e = which === 'start' ? evidence.entries[0] : evidence.entries[evidence.entries.length - 1];
  if (!e) throw new FfauditError('NOT_FOUND', 'the run has no such entry');
  return e;
}
