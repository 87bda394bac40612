/**
 * Blobs: values too large for an entry, content-addressed by the SHA-256 of their bytes and stored either as they
 * are ('identity') or gzip-compressed ('gzip'). The store is untrusted: content is only ever returned checked.
 */
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import { sha256Hex } from '../core/entry.js';

/** The blob's content when it decodes and hashes to `sha256`; undefined when it was damaged or altered. */
export function checkedBlobContent(sha256: string, stored: { codec: unknown; data: unknown }): Buffer | undefined {
  if (!Buffer.isBuffer(stored.data)) return undefined;
  let data: Buffer;
  try {
    // node:zlib is loaded on first use, not with this module: an audited run's start does not need it (~1 ms).
    if (stored.codec === 'gzip') data = (createRequire(import.meta.url)('node:zlib') as typeof Zlib).gunzipSync(stored.data);
    else if (stored.codec === 'identity') data = stored.data;
    else return undefined;
  } catch {
    return undefined;
  }
  return sha256Hex(data) === sha256 ? data : undefined;
}
