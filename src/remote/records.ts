/**
 * What the team server answers, checked before anything is printed from it: a run or a note has the shape
 * `ffaudit log --json` documents (plus the origin of its log), a lineage the shape of `trace --json`. A server
 * that answers anything else gets a one-line BAD_INPUT, never a crash deep in a formatter.
 */
import { SHA256_HEX, type FileRecord, type LoggedNote } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { LoggedRun, Unreadable } from '../core/run.js';
import { isFileRecord } from '../core/run-shape.js';
import type { Lineage, LineageRun, LineageSource, TraceNote } from '../lineage/walk.js';

export type { LoggedNote, LoggedRun, Unreadable };

export interface RemotePage<T> {
  items: T[];
  next: string | null;
  total: number | null;
  unreadable: Unreadable[];
}

function bad(what: string): FfauditError {
  return new FfauditError('BAD_INPUT', `the server's answer is malformed: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isNullableInt = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isSafeInteger(v));
const STATUSES = new Set(['ok', 'failed', 'incomplete', 'terminated']);

function files(v: unknown, what: string): FileRecord[] {
  if (!Array.isArray(v) || !v.every(isFileRecord)) throw bad(`${what} is not a list of files`);
  return v;
}

/** A run as `log --json` prints it; `log` required when `needLog`. */
export function checkRun(v: unknown, needLog = true): LoggedRun {
  if (!isObject(v)) throw bad('a run is not an object');
  const id = typeof v.id === 'string' ? v.id.slice(0, 80) : '?';
  const fail = (what: string) => bad(`run ${JSON.stringify(id)}: ${what}`);
  if (needLog && typeof v.log !== 'string') throw fail('it names no log');
  // The printers tell a note from a run by its `index`: a run must not carry one.
  if ('index' in v || 'type' in v) throw fail('it carries the fields of a custody note');
  if (typeof v.id !== 'string' || (v.tool !== 'ffmpeg' && v.tool !== 'ffprobe')) throw fail('its id or tool');
  if (!Array.isArray(v.entries) || v.entries.length < 1 || v.entries.length > 2 || !v.entries.every(isIndex)) throw fail('its entries');
  if (typeof v.status !== 'string' || !STATUSES.has(v.status)) throw fail('its status');
  if (typeof v.user !== 'string' || typeof v.host !== 'string' || !isNullableInt(v.uid) || !isNullableString(v.asserted_actor) || !isNullableString(v.reason)) throw fail('its author');
  if (typeof v.cwd !== 'string' || !Array.isArray(v.argv) || !v.argv.every((a) => typeof a === 'string')) throw fail('its command line');
  if (typeof v.started_at !== 'string' || !isNullableString(v.ended_at) || !isNullableInt(v.duration_ms) || !isNullableInt(v.exit_code) || !isNullableString(v.signal)) throw fail('its times or outcome');
  files(v.inputs, 'its inputs');
  files(v.outputs, 'its outputs');
  if (!Array.isArray(v.streams) || !isObject(v.ffmpeg) || !isNullableString(v.report_sha256)) throw fail('its streams, ffmpeg or report');
  return v as unknown as LoggedRun;
}

export function checkNote(v: unknown): LoggedNote {
  if (!isObject(v) || typeof v.log !== 'string' || !isIndex(v.index)) throw bad('a custody note lacks its log or index');
  if ('entries' in v || (v.type !== undefined && v.type !== 'custody.note')) throw bad(`custody note ${v.index}: it carries the fields of a run`);
  if (typeof v.time !== 'string' || typeof v.user !== 'string' || typeof v.host !== 'string' || !isNullableInt(v.uid) || !isNullableString(v.asserted_actor) || typeof v.text !== 'string') {
    throw bad(`custody note ${v.index}: its author, time or text`);
  }
  files(v.files, `custody note ${v.index}'s files`);
  const { type: _type, ...note } = v;
  return note as unknown as LoggedNote;
}

export function checkPage<T>(v: unknown, item: (x: unknown) => T): RemotePage<T> {
  if (!isObject(v) || !Array.isArray(v.items)) throw bad('a page has no items');
  if (!isNullableString(v.next) || !(v.total === null || isIndex(v.total))) throw bad('a page has a bad cursor or total');
  const unreadable = v.unreadable ?? [];
  if (!Array.isArray(unreadable)) throw bad('unreadable is not a list');
  return {
    items: v.items.map(item),
    next: v.next,
    total: v.total,
    unreadable: unreadable.map((u) => {
      if (!isObject(u) || typeof u.log !== 'string' || !isIndex(u.index) || !isNullableString(u.id) || typeof u.error !== 'string') throw bad('an unreadable item');
      return { log: u.log, index: u.index, id: u.id, error: u.error };
    }),
  };
}

function lineageRun(v: unknown): LineageRun {
  const r = checkRun(v, false);
  if (r.log !== undefined && typeof r.log !== 'string') throw bad('a lineage run names a bad log');
  return r;
}

function traceNote(v: unknown): TraceNote {
  if (!isObject(v) || !isIndex(v.index) || typeof v.time !== 'string' || typeof v.text !== 'string' || !isObject(v.by)) throw bad('a lineage note');
  const by = v.by;
  if (typeof by.user !== 'string' || typeof by.host !== 'string' || !isNullableInt(by.uid)) throw bad('a lineage note author');
  files(v.files, 'a lineage note files');
  if (v.log !== undefined && typeof v.log !== 'string') throw bad('a lineage note names a bad log');
  return v as unknown as TraceNote;
}

function source(v: unknown): LineageSource {
  if (!isFileRecord(v)) throw bad('a lineage source');
  const basis = (v as { basis?: unknown }).basis;
  if (!(basis === null || basis === 'signed' || basis === 'index-checked' || basis === 'unproven')) throw bad('a lineage source basis');
  return v as LineageSource;
}

/** The lineage object of `trace --json` (with `log`), back into a Lineage. */
export function checkLineage(v: unknown): Lineage {
  if (!isObject(v) || !isObject(v.file) || typeof v.file.path !== 'string' || typeof v.file.sha256 !== 'string' || !SHA256_HEX.test(v.file.sha256)) throw bad('the lineage names no file');
  if (typeof v.log !== 'string' || typeof v.known !== 'boolean' || typeof v.index_checked !== 'boolean') throw bad('the lineage lacks its log, known or index_checked');
  const list = <T>(x: unknown, what: string, f: (y: unknown) => T): T[] => {
    if (!Array.isArray(x)) throw bad(`the lineage's ${what} is not a list`);
    return x.map(f);
  };
  return {
    log: v.log,
    file: { path: v.file.path, sha256: v.file.sha256 },
    known: v.known,
    runs: list(v.runs, 'runs', lineageRun),
    sources: list(v.sources, 'sources', source),
    indexChecked: v.index_checked,
    notes: list(v.notes, 'notes', traceNote),
    readBy: list(v.read_by, 'read_by', lineageRun),
  };
}
