/**
 * The index rows one mirrored entry gives (db/migrations.ts v3: idx_runs, idx_notes, idx_files; v4: idx_access), as a pure function
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

/** An access.event of a serve process's access log (web/access-log.ts): who looked at which runs and files. */
export interface DerivedAccess {
  usr: string;
  action: string;
  timeNs: bigint;
  /** indexKey of each run id it names, each once. */
  runIds: string[];
  /** Each file hash it names, once. */
  sha256s: string[];
}

export interface DerivedRows {
  run?: DerivedRun;
  runEnd?: DerivedRunEnd;
  note?: DerivedNote;
  access?: DerivedAccess;
  files: DerivedFile[];
}

/** An access.event entry as web/access-log.ts writes it, shape-checked (accessEventShape). */
export interface AccessEntry extends EntryBase {
  type: 'access.event';
  action: string;
  via: 'web' | 'api';
  runs?: string[];
  files?: string[];
  query?: string;
  client?: string;
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && (v as unknown[]).every((x) => typeof x === 'string');

/**
 * The entry as an access event, or why it is not one. Fields of later versions are let through: only what a reader
 * shows is checked (who, what, how, about which runs and files).
 */
export function accessEventShape(e: EntryBase): AccessEntry | string {
  if (e.type !== 'access.event') return 'not an access event';
  if (e.v !== 1) return `version ${String(e.v)} is not 1`;
  if (typeof e.by.user !== 'string' || typeof e.by.host !== 'string') return 'by.user and by.host must be strings';
  if (typeof e.action !== 'string' || e.action.length === 0) return 'action must be a non-empty string';
  if (e.via !== 'web' && e.via !== 'api') return 'via must be web or api';
  if (e.runs !== undefined && !isStringList(e.runs)) return 'runs must be a list of run ids';
  if (e.files !== undefined && !(isStringList(e.files) && e.files.every((f) => SHA256_HEX.test(f)))) return 'files must be a list of SHA-256 hashes';
  for (const k of ['query', 'client'] as const) if (e[k] !== undefined && typeof e[k] !== 'string') return `${k} must be a string`;
  return e as AccessEntry;
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
 * (the start it names, its status) and its inputs and outputs; a custody.note its note and files; an access.event who
 * looked, and at which runs and files. A field moved into
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
    case 'access.event': {
      // A list moved into a blob is not in the entry: such an event names nothing the index could point at.
      if (blobbed) return NONE;
      const a = accessEventShape(e);
      if (typeof a === 'string') return NONE;
      return {
        access: {
          usr: indexKey(a.by.user),
          action: indexKey(a.action),
          timeNs: parseTimeNs(a.time) ?? 0n,
          runIds: [...new Set((a.runs ?? []).filter((r) => r.length > 0).map(indexKey))],
          sha256s: [...new Set(a.files ?? [])],
        },
        files: [],
      };
    }
    default:
      return NONE;
  }
}
