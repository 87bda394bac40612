// SHA-256 of a file of any size, read in slices: Web Crypto's digest() takes the whole content at once, which a
// browser cannot hold for a file of hundreds of GB, so the hash is @noble/hashes' incremental one (FIPS 180-4).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** Bytes read per slice: large enough that the reads are not the cost, small enough to keep memory flat. */
export const CHUNK = 4 * 1024 * 1024;

/**
 * The lower-case hex SHA-256 of `blob`. The next slice is read while this one is hashed; `progress` is told the
 * bytes hashed so far after each slice. A slice shorter than asked means the file changed while it was read.
 */
export async function hashBlob(blob: Blob, progress: (done: number, total: number) => void): Promise<string> {
  const h = sha256.create();
  const total = blob.size;
  const read = (from: number) => blob.slice(from, Math.min(from + CHUNK, total)).arrayBuffer();
  let next = total > 0 ? read(0) : undefined;
  for (let at = 0; at < total; ) {
    const buf = await next!;
    const end = Math.min(at + CHUNK, total);
    if (buf.byteLength !== end - at) throw new Error('the file changed while it was being read; try again');
    next = end < total ? read(end) : undefined;
    h.update(new Uint8Array(buf));
    at = end;
    progress(at, total);
  }
  return bytesToHex(h.digest());
}
