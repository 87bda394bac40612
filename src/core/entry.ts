/**
 * Ledger entries: RFC 8785 canonical JSON objects with a `type`, a `time` (RFC 3339 with nanoseconds) and who
 * wrote them. The stored bytes are what gets hashed; readers parse the stored bytes and never re-serialise them.
 *
 * An entry stays below 64 KiB because C2SP tlog-tiles entry bundles prefix each entry with a 16-bit length.
 * Larger values move into content-addressed blobs: the field is replaced by {"$blob": <sha256 hex>, "size": n}.
 */
import { createHash } from 'node:crypto';
import { canonicalBytes } from './canonical-json.js';
import { FfauditError } from './errors.js';
import type { Redaction } from './run.js';

export const ENTRY_SCHEMA_VERSION = 1;
/** A SHA-256 as entries write it: 64 lowercase hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
/** The largest entry a tlog-tiles entry bundle can hold (a 16-bit length prefix). */
export const MAX_ENTRY_BYTES = 0xffff;

export interface Author {
  user: string;
  uid: number | null;
  host: string;
  /** A name the user asserted (--actor / FFAUDIT_ACTOR): recorded, never checked. */
  asserted_actor?: string;
}

export interface FileRecord {
  /** Absolute path, `pipe:0`/`pipe:1`, or a redacted URL. */
  path: string;
  size: number | null;
  /** SHA-256 hex of the content, null when not hashed (network URLs, missing files). */
  sha256: string | null;
}

export interface EntryBase {
  v: number;
  type: string;
  time: string;
  by: Author;
  /** The version of ffaudit that wrote the entry (null if it could not tell); absent from entries written before it was recorded. */
  ffaudit_version?: string | null;
  [key: string]: unknown;
}

export interface CustodyNote extends EntryBase {
  type: 'custody.note';
  text: string;
  files: FileRecord[];
  /** What was removed from the text and the file names (only when something was). */
  redactions?: Redaction[];
}

/** A custody note as `ffaudit log --json` and the exports show it: its log index and its fields, author flattened. */
export interface NoteRecord {
  index: number;
  time: string;
  user: string;
  uid: number | null;
  host: string;
  asserted_actor: string | null;
  text: string;
  files: FileRecord[];
}

export interface BlobRef {
  $blob: string;
  size: number;
}

export function isBlobRef(v: unknown): v is BlobRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.$blob === 'string' && /^[0-9a-f]{64}$/.test(o.$blob) && typeof o.size === 'number';
}

const BLOB_MARK = Buffer.from('"$blob":"');
const REPORT_MARK = Buffer.from('"report_sha256":"');
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') HEX[c.charCodeAt(0)] = 1;

/**
 * The blobs an entry's stored bytes name: each top-level `{"$blob": sha256, "size": n}` value (a field moved out of
 * the entry by encodeEntry) and a top-level `report_sha256` (a run's FFmpeg report, stored with its run.end). Every
 * one must be in the store and hash to its name (`verify`: blob-missing, blob-modified).
 *
 * Called on every entry by verify's scan, so it never parses an entry that names no blob: the marks are searched
 * for in the bytes first, and a report's name is read in place: an RFC 8785 entry has no whitespace, and a `"`
 * inside a string is always escaped, so the mark's later quotes are structural; `depthAt` says whether its first
 * one is too (not `\"` inside a string), at the top level, which makes it a top-level member name. Untrusted bytes:
 * anything malformed names nothing, and the leaf hash says whether they were signed.
 */
export function namedBlobs(data: Buffer): readonly string[] {
  let out: string[] | undefined;
  let at = data.indexOf(REPORT_MARK);
  while (at !== -1) {
    const from = at + REPORT_MARK.length;
    if (data[from + 64] === 0x22 && isHex(data, from, from + 64) && depthAt(data, at) === 1) (out ??= []).push(data.toString('latin1', from, from + 64));
    at = data.indexOf(REPORT_MARK, from);
  }
  if (data.indexOf(0x24) !== -1 && data.includes(BLOB_MARK)) {
    let v: unknown;
    try {
      v = JSON.parse(data.toString('utf8'));
    } catch {
      return out ?? NONE;
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const x of Object.values(v)) if (isBlobRef(x)) (out ??= []).push(x.$blob);
  }
  return out ?? NONE;
}

const NONE: readonly string[] = Object.freeze([]);

function isHex(d: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (HEX[d[i]!] !== 1) return false;
  return true;
}

/** How deeply nested (objects and arrays) byte `end` of a JSON text is; -1 when it lies inside a string. */
function depthAt(d: Buffer, end: number): number {
  let depth = 0;
  for (let i = 0; i < end; i++) {
    const c = d[i];
    if (c === 0x22) {
      // Skip the string, its escapes included.
      for (i++; i < end && d[i] !== 0x22; i++) if (d[i] === 0x5c) i++;
      if (i >= end) return -1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return depth;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const FIXED_FIELDS = new Set(['v', 'type', 'time', 'by']);

/**
 * Serialises an entry, moving its largest top-level fields into blobs (via `putBlob`) until it fits.
 * Returns the canonical bytes to append.
 */
export function encodeEntry(entry: EntryBase, putBlob: (sha256: string, bytes: Buffer) => void): Buffer {
  let bytes = canonicalBytes(entry);
  if (bytes.length <= MAX_ENTRY_BYTES) return bytes;
  const e: Record<string, unknown> = { ...entry };
  while (bytes.length > MAX_ENTRY_BYTES) {
    let bestKey: string | undefined;
    let best: Buffer | undefined;
    for (const [k, v] of Object.entries(e)) {
      if (FIXED_FIELDS.has(k) || isBlobRef(v) || v === undefined) continue;
      const b = canonicalBytes(v);
      if (!best || b.length > best.length) {
        best = b;
        bestKey = k;
      }
    }
    if (!best || bestKey === undefined || best.length < 100) {
      throw new FfauditError('INTERNAL', 'entry cannot be made small enough for the log');
    }
    const hash = sha256Hex(best);
    putBlob(hash, best);
    e[bestKey] = { $blob: hash, size: best.length } satisfies BlobRef;
    bytes = canonicalBytes(e);
  }
  return bytes;
}

/** Parses stored entry bytes. Untrusted input: throws BAD_INPUT unless it is a JSON object with the base fields. */
export function parseEntry(bytes: Uint8Array): EntryBase {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')); // a view, not a copy
  } catch {
    throw new FfauditError('BAD_INPUT', 'entry is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FfauditError('BAD_INPUT', 'entry is not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.type !== 'string' || typeof o.time !== 'string' || typeof o.by !== 'object' || o.by === null) {
    throw new FfauditError('BAD_INPUT', 'entry lacks type, time or author');
  }
  return o as EntryBase;
}

/** Replaces blob references with their content, checking each blob's hash. */
export function resolveBlobs<T extends Record<string, unknown>>(entry: T, getBlob: (sha256: string) => Buffer | undefined): T {
  const out: Record<string, unknown> = { ...entry };
  for (const [k, v] of Object.entries(out)) {
    if (!isBlobRef(v)) continue;
    const b = getBlob(v.$blob);
    if (!b) throw new FfauditError('INTEGRITY', `blob ${v.$blob} named by the entry is missing`);
    if (sha256Hex(b) !== v.$blob) throw new FfauditError('INTEGRITY', `blob ${v.$blob} does not match its hash`);
    out[k] = JSON.parse(b.toString('utf8')) as unknown;
  }
  return out as T;
}
