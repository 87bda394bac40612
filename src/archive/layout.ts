/**
 * What an archive holds, beside the c2sp.org/tlog-tiles hash tiles and entry bundles (src/core/tiles.ts):
 *   checkpoint            the latest signed checkpoint (tlog-tiles); on S3 each one is a new locked version
 *   checkpoints/<size>    every checkpoint ever archived, written once
 *   vkey                  the log's verifier key (signed-note vkey text and a newline)
 *   blob/<sha256>         each stored report log (or other blob), uncompressed, named by the SHA-256 of its bytes
 */
export const CHECKPOINT = 'checkpoint';
export const CHECKPOINTS_DIR = 'checkpoints/';
export const VKEY = 'vkey';
export const BLOB_DIR = 'blob/';
export const TILE_DIR = 'tile/';

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
  const m = /^blob\/([0-9a-f]{64})$/.exec(name);
  return m ? m[1] : undefined;
}
