/**
 * Blobs: values too large for an entry, content-addressed by the SHA-256 of their bytes and stored either as they
 * are ('identity') or gzip-compressed ('gzip'). The store is untrusted: content is only ever returned checked.
 * Writing an entry moves its largest fields into blobs (encodeEntry); verifying and archiving find the blobs an
 * entry's stored bytes name (namedBlobs). The reference format itself (isBlobRef, resolveBlobs) is core/entry.ts's.
 */
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import { canonicalBytes } from '../core/canonical-json.js';
import { isBlobRef, MAX_ENTRY_BYTES, sha256Hex, type BlobRef, type EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';

const requireBuiltin = createRequire(import.meta.url);
/** node:zlib, loaded on first use rather than with this module: an audited run's start does not need it, nor pay to load it. */
export const zlib = (): typeof Zlib => requireBuiltin('node:zlib') as typeof Zlib;

/** The blob's content when it decodes and hashes to `sha256`; undefined when it was damaged or altered. */
export function checkedBlobContent(sha256: string, stored: { codec: unknown; data: unknown }): Buffer | undefined {
  if (!Buffer.isBuffer(stored.data)) return undefined;
  let data: Buffer;
  try {
    if (stored.codec === 'gzip') data = zlib().gunzipSync(stored.data);
    else if (stored.codec === 'identity') data = stored.data;
    else return undefined;
  } catch {
    return undefined;
  }
  return sha256Hex(data) === sha256 ? data : undefined;
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

/** A blob ready to store: its content hash, its bytes as stored, how they are coded, and the content's size. */
export interface PreparedBlob {
  sha256: string;
  codec: 'gzip' | 'identity';
  data: Buffer;
  size: number;
}

/** Prepares content for storing (gzip-compressed unless `compress` is false), outside any write lock. */
export function prepareBlob(content: Buffer, compress = true): PreparedBlob {
  return { sha256: sha256Hex(content), codec: compress ? 'gzip' : 'identity', data: compress ? zlib().gzipSync(content) : content, size: content.length };
}
