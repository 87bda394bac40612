/**
 * A checkpoint as the log signed it: its text and the log's own signature lines that verify, nothing else. What
 * the witness keeps (state, evidence, the mirror's pending checkpoint) is rebuilt this way, so lines from unknown
 * keys in a request (anyone may add them: tlog-witness "MUST ignore signatures from unknown keys") are never
 * stored or served as if they were part of what we checked.
 */
import type { Note, NoteSignature, Verifier } from '../core/note.js';

/** One note signature line, `— name base64(key ID ‖ signature)\n` (signed-note §Format). */
export function signatureLine(s: NoteSignature): string {
  return `\u2014 ${s.name} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}\n`;
}

/** The log's signature lines on `note` that verify with `log`, in the note's order, without duplicates. */
export function verifiedLogLines(note: Note, log: Verifier): string[] {
  const msg = Buffer.from(note.text, 'utf8');
  const out: string[] = [];
  for (const s of note.signatures) {
    if (s.name !== log.name || !s.keyId.equals(log.keyId) || !log.verify(msg, s.signature)) continue;
    const line = signatureLine(s);
    if (!out.includes(line)) out.push(line);
  }
  return out;
}

/** The note made of `text` and `lines` (which must not be empty). */
export function noteOf(text: string, lines: readonly string[]): string {
  return `${text}\n${lines.join('')}`;
}
