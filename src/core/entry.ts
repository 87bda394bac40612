/**
 * Ledger entries: RFC 8785 canonical JSON objects with a `type`, a `time` (RFC 3339 with nanoseconds) and who
 * wrote them. The stored bytes are what gets hashed; readers parse the stored bytes and never re-serialise them.
 *
 * An entry stays below 64 KiB because C2SP tlog-tiles entry bundles prefix each entry with a 16-bit length.
 * Larger values move into content-addressed blobs: the field is replaced by {"$blob": <sha256 hex>, "size": n}.
 */
import { createHash } from 'node:crypto';
import { FfauditError } from './errors.js';

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

/** A secret removed before storage, with a keyed hash (HMAC-SHA-256 under the ledger's redaction key). */
export interface Redaction {
  /** Where it was: `argv[<i>]`, `report`, `cwd`, `inputs[<i>].path` or `outputs[<i>].path`. */
  where: string;
  /** What kind of secret: url-credentials, url-query:<name>, option:<name>, pattern:<name>. */
  kind: string;
  /** hex HMAC-SHA-256(redaction key, value). */
  hmac: string;
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

/** A custody note entry (shape-checked) as the NoteRecord `log --json` prints, author flattened (as runFromEntries for runs). */
export function noteRecord(index: number, n: CustodyNote): NoteRecord {
  return {
    index,
    time: n.time,
    user: n.by.user,
    uid: n.by.uid,
    host: n.by.host,
    asserted_actor: n.by.asserted_actor ?? null,
    text: n.text,
    files: n.files.map((x) => ({ path: x.path, size: x.size, sha256: x.sha256 })),
  };
}

/** A custody note as `ffaudit log --json` prints it (`type: 'custody.note'` added by the printer), plus its log's origin. */
export type LoggedNote = NoteRecord & { log: string };

export interface BlobRef {
  $blob: string;
  size: number;
}

export function isBlobRef(v: unknown): v is BlobRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.$blob === 'string' && SHA256_HEX.test(o.$blob) && typeof o.size === 'number';
}

/** SHA-256 as entries write it (SHA256_HEX); a string is hashed as its UTF-8 bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
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
  // Almost every entry names no blob: it is returned as it is, without a copy (searches rebuild runs by the thousand).
  if (!Object.values(entry).some(isBlobRef)) return entry;
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
