/**
 * c2sp.org/tlog-checkpoint: the note text `origin\nsize\nbase64(root)\n[extension lines]`, signed as a note.
 */
import { FfauditError } from './errors.js';
import { HASH_SIZE } from './merkle.js';
import { checkNote, decodeBase64Strict, parseNote, signNote, type Note, type Signer, type Verifier } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions: string[];
}

export interface SignedCheckpoint extends Checkpoint {
  /** The whole note, byte-exact, as signed. */
  note: string;
  parsed: Note;
}

export function formatCheckpointText(cp: Checkpoint): string {
  return `${cp.origin}\n${cp.size}\n${cp.root.toString('base64')}\n${cp.extensions.map((e) => `${e}\n`).join('')}`;
}

export function signCheckpoint(cp: Checkpoint, signer: Signer): string {
  return signNote(formatCheckpointText(cp), [signer]);
}

/** Parses checkpoint note text (the part before the blank line). Untrusted input. */
export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') throw new FfauditError('BAD_INPUT', 'a checkpoint has at least three lines');
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin.length === 0) throw new FfauditError('BAD_INPUT', 'checkpoint origin is empty');
  // Decimal, no leading zeros, and small enough to be an exact JavaScript number.
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new FfauditError('BAD_INPUT', 'checkpoint tree size is not a decimal number');
  }
  const root = decodeBase64Strict(rootText);
  if (!root || root.length !== HASH_SIZE) throw new FfauditError('BAD_INPUT', 'checkpoint root is not a base64 SHA-256 hash');
  const extensions = lines.slice(3, -1);
  // tlog-checkpoint §Note text: extension lines, if any, MUST be non-empty.
  if (extensions.some((e) => e.length === 0)) throw new FfauditError('BAD_INPUT', 'checkpoint has an empty extension line');
  return { origin, size: Number(sizeText), root, extensions };
}

/** Parses a signed checkpoint without checking its signatures. Untrusted input. */
export function parseSignedCheckpoint(note: string): SignedCheckpoint {
  const parsed = parseNote(note);
  return { ...parseCheckpointText(parsed.text), note, parsed };
}

/**
 * Parses and verifies a signed checkpoint: a known key must have signed it (tlog-checkpoint: the log's key), and
 * the origin must be the expected one when given.
 */
export function openCheckpoint(note: string, verifiers: readonly Verifier[], origin?: string): SignedCheckpoint {
  const cp = parseSignedCheckpoint(note);
  if (origin !== undefined && cp.origin !== origin) {
    throw new FfauditError('BAD_INPUT', `checkpoint origin ${JSON.stringify(cp.origin)} is not this log's (${JSON.stringify(origin)})`);
  }
  const verdict = checkNote(cp.parsed, verifiers);
  if (verdict !== 'ok') throw new FfauditError('INTEGRITY', verdict === 'invalid' ? 'checkpoint signature is invalid' : 'checkpoint is not signed by a known key');
  return cp;
}
