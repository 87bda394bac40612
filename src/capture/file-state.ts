/**
 * A file's identity and state as the capture sees it, kept apart from hashing so that the start of a run (which
 * only stats its inputs) loads nothing it does not need.
 */
import { statSync, type BigIntStats } from 'node:fs';
import type { FileDigest } from './hash.js';

export interface FileState {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  regular: boolean;
}

export function fileState(p: string | Buffer): FileState | { error: string } {
  let s: BigIntStats;
  try {
    s = statSync(p, { bigint: true });
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, regular: s.isFile() };
}

export function sameState(a: FileState | { error: string }, b: FileState | { error: string }): boolean {
  if ('error' in a || 'error' in b) return 'error' in a && 'error' in b && a.error === b.error;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** A local file as the run sees it: the name FFmpeg got, and the real path (a Buffer when not valid UTF-8). */
export interface LocalFile {
  path: string;
  fsPath: string | Buffer;
  pathB64?: string;
}

/** An input hashed while FFmpeg runs: its state before, and its digest. */
export interface EarlyHash {
  file: LocalFile;
  before: FileState | { error: string };
  /** The digest, wanted now that FFmpeg is done (see hashInBackground). */
  finish(): Promise<FileDigest | { error: string }>;
  /** Stops the hash if it still runs (the run ends without a record). */
  cancel(): void;
}

/** A file name as given to FFmpeg, with the `-f` that applies to it. */
export interface Operand {
  name: string;
  format: string | null;
}

/** What the command line names, from the argument analysis (src/ffmpeg/ffargs.ts). */
export interface Operands {
  inputs: Operand[];
  outputs: Operand[];
}

