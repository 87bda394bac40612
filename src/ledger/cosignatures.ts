/**
 * Cosignatures of this log's checkpoints (c2sp.org/tlog-cosignature), as a server's witness and mirror return them
 * (c2sp.org/tlog-witness §add-checkpoint, c2sp.org/tlog-mirror §add-entries: "a sequence of one or more note
 * signature lines"). A line is read as a note signature over the checkpoint's note text; lines from keys the
 * ledger does not know are ignored, as both specifications require of a client.
 *
 * Stored rows are untrusted like the rest of the store (docs/design.md invariant 6): checkRow is how every reader
 * takes one back.
 */
import { parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import type { CosignatureVerifier } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { checkNote, parseNote, type Verifier } from '../core/note.js';
import type { CosignatureRow } from '../store/types.js';

export interface ReadCosignature {
  name: string;
  keyId: Buffer;
  timestamp: number;
  line: string;
}

/**
 * The cosignature lines among `lines` made by one of `verifiers` over the checkpoint `cp`'s note text, each
 * verified; a line from any other key is ignored. A line from a known key that does not verify (or is not a
 * signature line at all) is refused with INTEGRITY: a server that answers with a forged or garbled cosignature is
 * not to be half-believed.
 */
export function readCosignatureLines(cp: SignedCheckpoint, lines: readonly string[], verifiers: readonly CosignatureVerifier[]): ReadCosignature[] {
  const out: ReadCosignature[] = [];
  for (const raw of lines) {
    const line = raw.endsWith('\n') ? raw : `${raw}\n`;
    let sig;
    try {
      // One signature line appended to the note's text: what parseNote reads as a note with that one signature.
      const parsed = parseNote(`${cp.parsed.text}\n${line}`);
      if (parsed.signatures.length !== 1) throw new FfauditError('BAD_INPUT', 'not one signature line');
      sig = parsed.signatures[0]!;
    } catch {
      throw new FfauditError('INTEGRITY', `the server answered with something that is not a note signature line (${JSON.stringify(line.slice(0, 60))})`);
    }
    const v = verifiers.find((k) => k.name === sig.name && k.keyId.equals(sig.keyId));
    if (!v) continue;
    const timestamp = v.verify(cp.parsed.text, sig.signature);
    if (timestamp === undefined || !Number.isSafeInteger(timestamp)) {
      throw new FfauditError('INTEGRITY', `the cosignature by ${sig.name} on the checkpoint of size ${cp.size} does not verify with the server's key`);
    }
    if (!out.some((c) => c.name === sig.name && c.keyId.equals(sig.keyId))) out.push({ name: sig.name, keyId: sig.keyId, timestamp, line });
  }
  return out;
}

/** Why a stored row cannot be taken back, or undefined when it checks out. */
export function rowProblem(row: CosignatureRow, origin: string, logKey: Verifier, verifiers: readonly CosignatureVerifier[]): { problem: string; keyReplaced?: boolean } | undefined {
  const v = verifiers.find((k) => k.name === row.name && Buffer.isBuffer(row.keyId) && k.keyId.equals(row.keyId));
  if (!v) return { problem: 'not made by a key the ledger knows' };
  let cp: SignedCheckpoint;
  try {
    if (typeof row.checkpoint !== 'string' || typeof row.line !== 'string') throw new Error('not text');
    cp = parseSignedCheckpoint(row.checkpoint);
  } catch {
    return { problem: 'its checkpoint is malformed' };
  }
  if (cp.origin !== origin || cp.size !== row.size || !Buffer.isBuffer(row.root) || !cp.root.equals(row.root)) return { problem: 'its checkpoint is not the one the row names' };
  let read: ReadCosignature[];
  try {
    read = readCosignatureLines(cp, [row.line], [v]);
  } catch {
    return { problem: 'its signature does not verify' };
  }
  if (read.length !== 1 || read[0]!.timestamp !== row.timestamp) return { problem: 'its signature does not verify' };
  // The cosigner checked the log's signature before cosigning; one that fails now means the log's key changed.
  if (checkNote(cp.parsed, [logKey]) !== 'ok') return { problem: "its checkpoint is not signed by this ledger's current key", keyReplaced: true };
  return undefined;
}
