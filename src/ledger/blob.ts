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
