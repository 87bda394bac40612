/**
 * c2sp.org/tlog-proof@v1 receipts:
 *
 *   c2sp.org/tlog-proof@v1
 *   [extra <base64>]
 *   index <n>
 *   <base64 hash, one per line, the leaf's sibling first>
 *   <blank line>
 *   <the signed checkpoint, verbatim>
 */
import { FfauditError } from './errors.js';
import { HASH_SIZE, verifyInclusion } from './merkle.js';
import { decodeBase64Strict, type Verifier } from './note.js';
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from './checkpoint.js';

const HEADER = 'c2sp.org/tlog-proof@v1';
const MAX_PROOF_HASHES = 64; // a tree of 2^63 leaves needs 63

export interface TlogProof {
  index: number;
  proof: Buffer[];
  extra?: Buffer;
  checkpoint: SignedCheckpoint;
}

export function formatTlogProof(index: number, proof: readonly Buffer[], checkpointNote: string, extra?: Buffer): string {
  const lines = [HEADER];
  if (extra) lines.push(`extra ${extra.toString('base64')}`);
  lines.push(`index ${index}`);
  for (const h of proof) lines.push(h.toString('base64'));
  return `${lines.join('\n')}\n\n${checkpointNote}`;
}

/** Parses a receipt. Untrusted input: throws BAD_INPUT on anything malformed; checks no signature. */
export function parseTlogProof(text: string): TlogProof {
  const split = text.indexOf('\n\n');
  if (split < 0) throw new FfauditError('BAD_INPUT', 'tlog-proof has no blank line before its checkpoint');
  const head = text.slice(0, split).split('\n');
  if (head[0] !== HEADER) throw new FfauditError('BAD_INPUT', `not a ${HEADER} file`);
  let i = 1;
  let extra: Buffer | undefined;
  if (head[i]?.startsWith('extra ')) {
    const e = decodeBase64Strict(head[i]!.slice(6));
    if (!e) throw new FfauditError('BAD_INPUT', 'tlog-proof extra is not base64');
    extra = e;
    i++;
  }
  const m = /^index (0|[1-9][0-9]{0,15})$/.exec(head[i] ?? '');
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw new FfauditError('BAD_INPUT', 'tlog-proof index line is malformed');
  const proof: Buffer[] = [];
  for (const line of head.slice(i + 1)) {
    const h = decodeBase64Strict(line);
    if (!h || h.length !== HASH_SIZE) throw new FfauditError('BAD_INPUT', 'tlog-proof hash is not a base64 SHA-256 hash');
    proof.push(h);
  }
  if (proof.length > MAX_PROOF_HASHES) throw new FfauditError('BAD_INPUT', 'tlog-proof has too many hashes');
  const r: TlogProof = { index: Number(m[1]), proof, checkpoint: parseSignedCheckpoint(text.slice(split + 2)) };
  if (extra) r.extra = extra;
  return r;
}

/** Verifies a receipt for `leafHash` end to end: checkpoint signature, then the inclusion proof (RFC 9162 §2.1.3.2). */
export function verifyTlogProof(text: string, leafHash: Buffer, verifiers: readonly Verifier[], origin?: string): TlogProof {
  const p = parseTlogProof(text);
  const cp = openCheckpoint(p.checkpoint.note, verifiers, origin);
  if (!verifyInclusion(leafHash, p.index, cp.size, p.proof, cp.root)) {
    throw new FfauditError('INTEGRITY', `inclusion proof for index ${p.index} does not lead to the checkpoint's root`);
  }
  return p;
}
