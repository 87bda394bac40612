/**
 * Shape checks for run and custody-note entries read from somewhere we do not control (a bundle, whose key may be
 * anyone's). Each returns the entry typed, or a sentence saying what is wrong; none throws.
 */
import { SHA256_HEX, type CustodyNote, type EntryBase, type FileRecord } from './entry.js';
import type { InputRecord, RunEndEntry, RunStartEntry } from './run.js';

const STATUSES = new Set(['ok', 'failed', 'terminated']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNullableString(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function isFileRecord(v: unknown): v is FileRecord {
  if (!isObject(v) || typeof v.path !== 'string') return false;
  if (!(v.size === null || isCount(v.size))) return false;
  return v.sha256 === null || (typeof v.sha256 === 'string' && SHA256_HEX.test(v.sha256));
}

function isFileList(v: unknown): v is InputRecord[] {
  return Array.isArray(v) && v.every(isFileRecord);
}

function authorProblem(e: EntryBase): string | null {
  const by = e.by as unknown;
  if (!isObject(by) || typeof by.user !== 'string' || typeof by.host !== 'string') return 'its author lacks a user or host';
  if (!(by.uid === null || (typeof by.uid === 'number' && Number.isSafeInteger(by.uid)))) return 'its author uid is not a number';
  if (by.asserted_actor !== undefined && typeof by.asserted_actor !== 'string') return 'its asserted actor is not a string';
  return null;
}

export function checkRunStart(e: EntryBase): RunStartEntry | string {
  const a = authorProblem(e);
  if (a) return a;
  if (typeof e.run !== 'string' || e.run.length === 0) return 'it has no run id';
  if (e.tool !== 'ffmpeg' && e.tool !== 'ffprobe') return 'its tool is neither ffmpeg nor ffprobe';
  if (typeof e.cwd !== 'string') return 'its cwd is not a string';
  if (!Array.isArray(e.argv) || !e.argv.every((x) => typeof x === 'string')) return 'its argv is not a list of strings';
  if (e.reason !== undefined && typeof e.reason !== 'string') return 'its reason is not a string';
  const f = e.ffmpeg;
  if (!isObject(f) || typeof f.path !== 'string' || !isNullableString(f.version) || !isNullableString(f.sha256)) return 'its ffmpeg identity is malformed';
  if (!isFileList(e.inputs)) return 'its inputs are malformed';
  return e as RunStartEntry;
}

export function checkRunEnd(e: EntryBase): RunEndEntry | string {
  const a = authorProblem(e);
  if (a) return a;
  if (typeof e.run !== 'string' || e.run.length === 0) return 'it has no run id';
  if (!isCount(e.start)) return 'its start index is not a number';
  if (typeof e.status !== 'string' || !STATUSES.has(e.status)) return 'its status is not ok, failed or terminated';
  if (!(e.exit_code === null || (typeof e.exit_code === 'number' && Number.isSafeInteger(e.exit_code)))) return 'its exit code is not a number';
  if (!isNullableString(e.signal)) return 'its signal is not a string';
  if (!isCount(e.duration_ms)) return 'its duration is not a number';
  if (!isFileList(e.inputs) || !isFileList(e.outputs)) return 'its inputs or outputs are malformed';
  if (!Array.isArray(e.streams)) return 'its streams are not a list';
  if (!(e.report_sha256 === null || (typeof e.report_sha256 === 'string' && SHA256_HEX.test(e.report_sha256)))) return 'its report hash is malformed';
  return e as RunEndEntry;
}

export function checkCustodyNote(e: EntryBase): CustodyNote | string {
  const a = authorProblem(e);
  if (a) return a;
  if (typeof e.text !== 'string') return 'its text is not a string';
  if (!isFileList(e.files)) return 'its files are malformed';
  return e as CustodyNote;
}
