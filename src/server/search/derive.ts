/**
 * The index rows one mirrored entry gives (db/migrations.ts v3: idx_runs, idx_notes, idx_files), as a pure function
 * of its bytes. The bytes are whatever the log signed: an entry that does not parse, or is not the shape of a run or a
 * note, gives no rows and is never an error (the mirror stores it all the same; a search reads it back as it is).
 *
 * The rows only say where to look (query.ts rebuilds every hit from the entry bytes), so each text column need only
 * be a superset of what the rebuilt record matches, and it must be storable whatever the entry holds: PostgreSQL
 * text holds no NUL and a btree key no more than about 2.7 kB. `indexText` maps a string to what the columns hold, and
 * a filter value goes through the same mapping (query.ts), so a value that matches the record matches its row.
 */
import { isBlobRef, parseEntry, SHA256_HEX, type EntryBase } from '../../core/entry.js';
import { checkCustodyNote, checkRunEnd, checkRunStart, isFileRecord } from '../../core/run-shape.js';
import { parseTimeNs } from '../../time/time.js';

/** The longest key text kept in a btree-indexed column (user, actor, run id, path), in UTF-16 code units. */
export const INDEX_KEY_CHARS = 256;
/**
 * Separates the fields of `words`: U+10FFFF, which indexText never leaves in a field (nor in a needle), so a needle
 * found in `words` lies inside one field, as the rebuilt record's match requires.
 */
export const WORD_SEPARATOR = '\u{10FFFF}';

/**
 * NUL (which PostgreSQL text cannot hold) and U+10FFFF (the words separator and the top of a prefix range) become
 * U+FFFD. The mapping keeps substrings and prefixes: if b is inside a, map(b) is inside map(a).
 */
export function indexText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000\u{10FFFF}]/u.test(s) ? s.replace(/[\u0000\u{10FFFF}]/gu, '\ufffd') : s;
}

/** indexText, cut to INDEX_KEY_CHARS: an equal value gives an equal key, a prefix a prefix (or the same key). */
export function indexKey(s: string): string {
  const t = indexText(s);
  return t.length > INDEX_KEY_CHARS ? t.slice(0, INDEX_KEY_CHARS) : t;
}

export interface DerivedRun {
  runId: string;
  tool: string;
  usr: string;
  actor: string | null;
  /** The start time; 0 when the entry's time is not RFC 3339 (it then sorts oldest and matches no time range). */
  startedNs: bigint;
  /** Lower-cased searchable text, fields separated by WORD_SEPARATOR; null when a field was moved into a blob. */
  words: string | null;
}

export interface DerivedRunEnd {
  runId: string;
  /** The entry index of the run's start, as the end names it. */
  start: number;
  status: 'ok' | 'failed' | 'terminated';
  /** The end's own searchable text (its file paths), appended to the run's; null when a field is a blob. */
  words: string | null;
}

export interface DerivedNote {
  usr: string;
  actor: string | null;
  timeNs: bigint;
  words: string | null;
}

export interface DerivedFile {
  role: 'input' | 'output' | 'note';
  /** Lower-case hex, or null when the record names no hash (or a malformed one). */
  sha256: string | null;
  /** indexKey of the recorded path. */
  path: string;
}

export interface DerivedRows {
  run?: DerivedRun;
  runEnd?: DerivedRunEnd;
  note?: DerivedNote;
  files: DerivedFile[];
}

const NONE: DerivedRows = Object.freeze({ files: [] });

function hasBlobRef(e: EntryBase): boolean {
  for (const v of Object.values(e)) if (isBlobRef(v)) return true;
  return false;
}

/** The well-formed file records of a list (a list moved into a blob gives none: its records are not in the entry). */
function fileRows(v: unknown, role: DerivedFile['role']): DerivedFile[] {
  if (!Array.isArray(v)) return [];
  const out: DerivedFile[] = [];
  for (const f of v as unknown[]) {
    if (!isFileRecord(f)) continue;
    out.push({ role, sha256: f.sha256 !== null && SHA256_HEX.test(f.sha256) ? f.sha256 : null, path: indexKey(f.path) });
  }
  return out;
}

function paths(v: unknown): string[] {
  return Array.isArray(v) ? (v as unknown[]).filter(isFileRecord).map((f) => f.path) : [];
}

function words(fields: readonly string[]): string {
  return fields.map((f) => indexText(f.toLowerCase())).join(WORD_SEPARATOR);
}

function author(e: EntryBase): { user: string; actor: string | null } | undefined {
  const by = e.by as unknown as Record<string, unknown>;
  if (typeof by.user !== 'string') return undefined;
  return { user: by.user, actor: typeof by.asserted_actor === 'string' ? by.asserted_actor : null };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The rows of entry `index` (its stored bytes `data`). A run.start gives its run and its inputs; a run.end its end
 * (the start it names, its status) and its inputs and outputs; a custody.note its note and files. A field moved into
 * a blob ({"$blob": …}) cannot be checked or searched here: the run or note is still indexed (so a search finds it,
 * and the rebuilt record decides), with null words, and a file list in a blob gives no file rows.
 */
export function deriveIndexRows(index: number, data: Buffer): DerivedRows {
  void index; // the rows are keyed by the caller; the index is part of the contract for generators of test data
  let e: EntryBase;
  try {
    e = parseEntry(data);
  } catch {
    return NONE;
  }
  const blobbed = hasBlobRef(e);
  switch (e.type) {
    case 'run.start': {
      // With a field in a blob the full shape check cannot run: the fields the row is made of are checked alone.
      if (!blobbed && typeof checkRunStart(e) === 'string') return NONE;
      const by = author(e);
      if (!by || typeof e.run !== 'string' || e.run.length === 0 || (e.tool !== 'ffmpeg' && e.tool !== 'ffprobe')) return NONE;
      const argv = Array.isArray(e.argv) ? (e.argv as unknown[]).filter((x): x is string => typeof x === 'string') : [];
      return {
        run: {
          runId: indexKey(e.run),
          tool: e.tool,
          usr: indexKey(by.user),
          actor: by.actor === null ? null : indexKey(by.actor),
          startedNs: parseTimeNs(e.time) ?? 0n,
          words: blobbed ? null : words([...argv, str(e.cwd), str(e.reason), by.actor ?? '', ...paths(e.inputs)]),
        },
        files: fileRows(e.inputs, 'input'),
      };
    }
    case 'run.end': {
      if (!blobbed && typeof checkRunEnd(e) === 'string') return NONE;
      if (!author(e) || typeof e.run !== 'string' || e.run.length === 0) return NONE;
      if (typeof e.start !== 'number' || !Number.isSafeInteger(e.start) || e.start < 0) return NONE;
      if (e.status !== 'ok' && e.status !== 'failed' && e.status !== 'terminated') return NONE;
      return {
        runEnd: { runId: indexKey(e.run), start: e.start, status: e.status, words: blobbed ? null : words([...paths(e.inputs), ...paths(e.outputs)]) },
        files: [...fileRows(e.inputs, 'input'), ...fileRows(e.outputs, 'output')],
      };
    }
    case 'custody.note': {
      if (!blobbed && typeof checkCustodyNote(e) === 'string') return NONE;
      const by = author(e);
      if (!by) return NONE;
      return {
        note: {
          usr: indexKey(by.user),
          actor: by.actor === null ? null : indexKey(by.actor),
          timeNs: parseTimeNs(e.time) ?? 0n,
          words: blobbed ? null : words([str(e.text), by.actor ?? '', ...paths(e.files)]),
        },
        files: fileRows(e.files, 'note'),
      };
    }
    default:
      return NONE;
  }
}
