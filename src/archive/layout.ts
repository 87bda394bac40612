/**
 * What an archive holds, beside the c2sp.org/tlog-tiles hash tiles and entry bundles (src/core/tiles.ts):
 *   checkpoint            the latest signed checkpoint (tlog-tiles); on S3 each one is a new locked version
 *   checkpoints/<size>    every checkpoint ever archived, written once
 *   vkey                  the log's verifier key (signed-note vkey text and a newline)
 *   blob/<sha256>         each stored report log (or other blob), uncompressed, named by the SHA-256 of its bytes
 *   timestamp/<size>      an RFC 3161 token (DER) over the note body of checkpoints/<size>
 *   timestamp/<size>.<n>  its n-th renewal: a token over the DER of timestamp/<size>.<n-1> (.0 being timestamp/<size>)
 */
import { SHA256_HEX } from '../core/entry.js';

export const CHECKPOINT = 'checkpoint';
export const CHECKPOINTS_DIR = 'checkpoints/';
export const VKEY = 'vkey';
export const BLOB_DIR = 'blob/';
export const TILE_DIR = 'tile/';
export const TIMESTAMP_DIR = 'timestamp/';

export function checkpointHistoryPath(size: number): string {
  return `${CHECKPOINTS_DIR}${size}`;
}

/** The size named by a `checkpoints/<size>` path, or undefined. Untrusted input. */
export function parseCheckpointHistoryPath(name: string): number | undefined {
  const m = /^checkpoints\/(0|[1-9][0-9]{0,15})$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function blobPath(sha256: string): string {
  return `${BLOB_DIR}${sha256}`;
}

/** The hash named by a `blob/<sha256>` path, or undefined. */
export function parseBlobPath(name: string): string | undefined {
  const sha256 = name.startsWith(BLOB_DIR) ? name.slice(BLOB_DIR.length) : undefined;
  return sha256 !== undefined && SHA256_HEX.test(sha256) ? sha256 : undefined;
}

/**
 * Listing windows that cover every `checkpoints/<s>` with `after < s ≤ through`, as (after, through) name pairs
 * in byte order: among names of one digit count, byte order is numeric order, so one window per digit count.
 * A window can also return names of other digit counts that sort inside it (callers parse and filter); what it
 * returns grows with the checkpoints in the range, not with the archive.
 */
export function checkpointHistoryWindows(after: number, through: number): { after: string; through: string }[] {
  const out: { after: string; through: string }[] = [];
  for (let digits = String(after + 1).length; digits <= String(through).length; digits++) {
    const lo = Math.max(after + 1, digits === 1 ? 0 : 10 ** (digits - 1));
    const hi = Math.min(through, 10 ** digits - 1);
    if (lo > hi) continue;
    // Just below the first name of the window: the name before it when it has as many digits, else "0" (only
    // the prefixes of lo sort between "0" and lo among decimal names; the filter drops them).
    const below = String(lo - 1).length === digits ? String(lo - 1) : '0';
    out.push({ after: `${CHECKPOINTS_DIR}${below}`, through: checkpointHistoryPath(hi) });
  }
  return out;
}

/** `timestamp/<size>` for a checkpoint's own token (n = 0), `timestamp/<size>.<n>` for its n-th renewal. */
export function timestampPath(size: number, n = 0): string {
  return `${TIMESTAMP_DIR}${size}${n === 0 ? '' : `.${n}`}`;
}

/** The size and renewal number a `timestamp/…` path names, or undefined. Untrusted input. */
export function parseTimestampPath(name: string): { size: number; n: number } | undefined {
  const m = /^timestamp\/([1-9][0-9]{0,15})(?:\.([1-9][0-9]{0,5}))?$/.exec(name);
  if (!m) return undefined;
  const size = Number(m[1]);
  return Number.isSafeInteger(size) ? { size, n: m[2] === undefined ? 0 : Number(m[2]) } : undefined;
}
