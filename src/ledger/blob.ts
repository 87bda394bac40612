/**
 * Blobs: values too large for an entry, content-addressed by the SHA-256 of their bytes and stored either as they
 * are ('identity') or gzip-compressed ('gzip'). The store is untrusted: content is only ever returned checked.
 */
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import { sha256Hex } from '../core/entry.js';

const requireBuiltin = createRequire(import.meta.url);
/** node:zlib, loaded on first use rather than with this module: an audited run's start does not need it (~1 ms). */
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
