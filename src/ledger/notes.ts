/**
 * Custody notes: recorded (`ffaudit note`) and read back (`ffaudit log`, `ffaudit export`). Notes have no index of
 * their own: the database finds the entries whose bytes hold a note's type (a hint, like every index), and each is
 * then read through the checked reads (Ledger.entry) and parsed, so what is listed is exactly what was recorded.
 */
import { noteRecord, parseEntry, resolveBlobs, type CustodyNote, type FileRecord, type NoteRecord } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { checkCustodyNote } from '../core/run-shape.js';
import { parseRedactionRules, redactField, redactFileRecords, redactText } from '../redact/redact.js';
import { parseTimeNs } from '../time/time.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import type { EntryRead, Ledger } from './ledger.js';
import { ffauditVersion } from './software.js';

export type { NoteRecord };

export interface NoteInput {
  /** What happened (received, viewed, handed over…). */
  text: string;
  /** The files the note is about, already hashed by the caller (hashing a file is the caller's I/O). */
  files: readonly FileRecord[];
  /** Who did it, as asserted by the caller; recorded beside the operating-system user (clock.ts). */
  actor?: string | undefined;
  /** The note's time (default: now). */
  now?: () => string;
}

/**
 * Appends a custody note. It is redacted as a run is (docs/design.md invariant 4): URL credentials, credential query
 * parameters and the ledger's own patterns (config.json "redact") never reach the log, whether in the text, a
 * file's name or the asserted actor.
 */
export function recordNote(ledger: Ledger, note: NoteInput): { index: number; size: number } {
  const key = ledger.redactionKey();
  const extra = parseRedactionRules(ledger.config);
  const files = note.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  const text = redactText(note.text, key, [], extra);
  const redactions = [...text.redactions.map((x) => ({ ...x, where: 'text' })), ...redactFileRecords(files, 'files', key, [], extra)];
  const by = currentAuthor(note.actor);
  if (by.asserted_actor !== undefined) {
    const actor = redactField(by.asserted_actor, 'by.asserted_actor', key, [], extra);
    by.asserted_actor = actor.value;
    redactions.push(...actor.redactions);
  }
  const entry: CustodyNote = { v: 1, type: 'custody.note', time: (note.now ?? nowRfc3339)(), by, ffaudit_version: ffauditVersion(), text: text.text, files };
  if (redactions.length > 0) entry.redactions = redactions;
  const r = ledger.append([entry]);
  return { index: r.indices[0]!, size: r.size };
}

/** What a note can be filtered on: the subset of `ffaudit log`'s conditions that make sense for a note. */
export interface NoteFilter {
  user?: string;
  actor?: string;
  sinceNs?: bigint;
  untilNs?: bigint;
  sha256?: string;
  path?: string;
  grep?: string;
}

export function matchesNote(n: NoteRecord, f: NoteFilter): boolean {
  if (f.user !== undefined && n.user !== f.user) return false;
  if (f.actor !== undefined && n.asserted_actor !== f.actor) return false;
  if (f.sinceNs !== undefined || f.untilNs !== undefined) {
    const t = parseTimeNs(n.time);
    if (t === null) return false;
    if (f.sinceNs !== undefined && t < f.sinceNs) return false;
    if (f.untilNs !== undefined && t > f.untilNs) return false;
  }
  if (f.sha256 !== undefined && !n.files.some((x) => x.sha256 === f.sha256)) return false;
  if (f.path !== undefined && !n.files.some((x) => x.path === f.path)) return false;
  if (f.grep !== undefined) {
    const needle = f.grep.toLowerCase();
    const hay = [n.text, n.asserted_actor ?? '', ...n.files.map((x) => x.path)];
    if (!hay.some((h) => h.toLowerCase().includes(needle))) return false;
  }
  return true;
}

// Every custody note's canonical bytes hold this exact text (RFC 8785: no whitespace between a key and its value),
// so an entry without it is no note and need not be parsed. Entries with it are parsed and checked in full.
const NOTE_MARK = Buffer.from('"type":"custody.note"');
const CHUNK = 65_536;

/** A note that could not be read back as recorded (reported, never hidden). */
export interface UnreadableNote {
  index: number;
  error: FfauditError;
}

/**
 * The entries whose stored bytes hold a note's type (a hint), read checked. Consecutive hits are read as one range,
 * which the ledger proves against the checkpoint at once instead of entry by entry (Ledger.scanEntries).
 */
function* noteCandidates(ledger: Ledger, size: number): Generator<EntryRead> {
  for (let from = 0; from < size; from += CHUNK) {
    const hits = ledger.indicesContaining(NOTE_MARK, from, Math.min(from + CHUNK, size));
    for (let k = 0; k < hits.length; ) {
      let end = k + 1;
      while (end < hits.length && hits[end] === hits[end - 1]! + 1) end++;
      yield* ledger.scanEntries(hits[k]!, hits[end - 1]! + 1);
      k = end;
    }
  }
}

/** Every custody note matching `f`, oldest first. */
export function scanNotes(ledger: Ledger, f: NoteFilter = {}): { notes: NoteRecord[]; unreadable: UnreadableNote[] } {
  const notes: NoteRecord[] = [];
  const unreadable: UnreadableNote[] = [];
  const size = ledger.size();
  for (const read of noteCandidates(ledger, size)) {
    if ('error' in read) {
      unreadable.push({ index: read.index, error: read.error });
      continue;
    }
    if (!read.data.includes(NOTE_MARK)) continue;
    const e = read;
    let note;
    try {
      const entry = parseEntry(e.data);
      if (entry.type !== 'custody.note') continue;
      note = checkCustodyNote(resolveBlobs(entry, (sha) => ledger.blob(sha)));
    } catch (err) {
      if (!(err instanceof FfauditError)) throw err;
      unreadable.push({ index: e.index, error: err });
      continue;
    }
    if (typeof note === 'string') {
      unreadable.push({ index: e.index, error: new FfauditError('INTEGRITY', `entry ${e.index} is a malformed custody note: ${note}`) });
      continue;
    }
    const r = noteRecord(e.index, note);
    if (matchesNote(r, f)) notes.push(r);
  }
  return { notes, unreadable };
}
