/**
 * What a recipient checks with the public key only (`ffaudit verify-proof`, `ffaudit verify-consistency`): a
 * c2sp.org/tlog-proof@v1 receipt against an entry's exact bytes, and a consistency proof between two signed
 * checkpoints (RFC 9162 §2.1.4). Every input is untrusted; each function returns a verdict and never throws
 * on bad evidence (a malformed receipt, proof or checkpoint is invalid evidence, not a failure to run).
 */
import { openCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { FfauditError } from './errors.js';
import { HASH_SIZE, hashLeaf, verifyConsistency, verifyInclusion } from './merkle.js';
import { decodeBase64Strict, type Verifier } from './note.js';
import { parseTlogProof } from './tlog-proof.js';

export interface ReceiptVerdict {
  ok: boolean;
  /** Why the receipt does not hold, when it does not. */
  failure: string | null;
  index: number | null;
  size: number | null;
  origin: string | null;
}

function reason(e: unknown): string {
  if (e instanceof FfauditError) return e.message;
  throw e;
}

/**
 * The key's name must be the checkpoint's origin (c2sp.org/tlog-checkpoint: the log's key is named by its origin),
 * and the key must have signed it (c2sp.org/signed-note).
 */
function open(note: string, key: Verifier, what: string): SignedCheckpoint | string {
  try {
    return openCheckpoint(note, [key], key.name);
  } catch (e) {
    return `${what}: ${reason(e)}`;
  }
}

export function checkReceipt(receipt: string, entry: Uint8Array, key: Verifier): ReceiptVerdict {
  const v: ReceiptVerdict = { ok: false, failure: null, index: null, size: null, origin: null };
  let p;
  try {
    p = parseTlogProof(receipt);
  } catch (e) {
    return { ...v, failure: `the receipt is malformed: ${reason(e)}` };
  }
  v.index = p.index;
  const cp = open(p.checkpoint.note, key, "the receipt's checkpoint");
  if (typeof cp === 'string') return { ...v, failure: cp };
  v.size = cp.size;
  v.origin = cp.origin;
  if (p.index >= cp.size) return { ...v, failure: `index ${p.index} is beyond the checkpoint's tree size ${cp.size}` };
  // RFC 9162 §2.1.3.2 from leaf hash = SHA-256(0x00 ‖ entry) (§2.1.1).
  if (!verifyInclusion(hashLeaf(entry), p.index, cp.size, p.proof, cp.root)) {
    return { ...v, failure: `the entry is not the one at index ${p.index} of the signed log (its bytes, the index or the proof hashes differ from what was signed)` };
  }
  return { ...v, ok: true };
}

export interface ConsistencyVerdict {
  ok: boolean;
  failure: string | null;
  oldSize: number | null;
  size: number | null;
  origin: string | null;
}

/**
 * A consistency proof as `ffaudit consistency OLD NEW` prints it: with `--json`, {"old_size","size","hashes"};
 * without, one base64 hash per line. Returns the hashes and, for the JSON form, the sizes it claims.
 */
export function parseConsistencyProof(text: string): { oldSize?: number; size?: number; hashes: Buffer[] } {
  const decode = (h: unknown): Buffer => {
    const b = typeof h === 'string' ? decodeBase64Strict(h) : null;
    if (!b || b.length !== HASH_SIZE) throw new FfauditError('BAD_INPUT', 'a proof hash is not a base64 SHA-256 hash');
    return b;
  };
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let o: unknown;
    try {
      o = JSON.parse(trimmed);
    } catch {
      throw new FfauditError('BAD_INPUT', 'the proof is not valid JSON');
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new FfauditError('BAD_INPUT', 'the proof is not a JSON object');
    const { old_size: oldSize, size, hashes, ...rest } = o as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new FfauditError('BAD_INPUT', `the proof has unknown fields: ${Object.keys(rest).join(', ')}`);
    const count = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
    if (!count(oldSize) || !count(size)) throw new FfauditError('BAD_INPUT', 'the proof\'s "old_size" and "size" must be tree sizes');
    if (!Array.isArray(hashes) || hashes.length > 128) throw new FfauditError('BAD_INPUT', 'the proof\'s "hashes" must be a list of base64 hashes');
    return { oldSize: oldSize as number, size: size as number, hashes: hashes.map(decode) };
  }
  const lines = trimmed === '' ? [] : trimmed.split('\n');
  if (lines.length > 128) throw new FfauditError('BAD_INPUT', 'the proof has too many hashes');
  return { hashes: lines.map(decode) };
}

export function checkConsistency(oldNote: string, newNote: string, proofText: string, key: Verifier): ConsistencyVerdict {
  const v: ConsistencyVerdict = { ok: false, failure: null, oldSize: null, size: null, origin: null };
  const older = open(oldNote, key, 'the old checkpoint');
  if (typeof older === 'string') return { ...v, failure: older };
  const newer = open(newNote, key, 'the new checkpoint');
  if (typeof newer === 'string') return { ...v, failure: newer };
  Object.assign(v, { oldSize: older.size, size: newer.size, origin: newer.origin });
  let proof;
  try {
    proof = parseConsistencyProof(proofText);
  } catch (e) {
    return { ...v, failure: `the proof is malformed: ${reason(e)}` };
  }
  if ((proof.oldSize !== undefined && proof.oldSize !== older.size) || (proof.size !== undefined && proof.size !== newer.size)) {
    return { ...v, failure: `the proof is between tree sizes ${proof.oldSize} and ${proof.size}, the checkpoints are at ${older.size} and ${newer.size}` };
  }
  if (older.size > newer.size) return { ...v, failure: `the old checkpoint (tree size ${older.size}) is larger than the new one (${newer.size}): the log was rolled back, or the two were given the other way round` };
  if (!verifyConsistency(older.size, newer.size, proof.hashes, older.root, newer.root)) {
    return { ...v, failure: `the log at tree size ${newer.size} is not an append-only extension of the log at ${older.size} (or the proof is not theirs)` };
  }
  return { ...v, ok: true };
}
