/**
 * The FFmpeg binary's identity: path, version and SHA-256. Hashing a static FFmpeg binary and running `-version` on
 * every run would cost more than many runs, so both are cached in a small file keyed on the binary's device, inode,
 * size, mtime and ctime (ctime cannot be set by a user: any replacement or touch of the file invalidates the entry).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SHA256_HEX } from '../core/entry.js';
import type { FfmpegIdentity } from '../core/run.js';
import { writeFileAtomically } from '../ledger/safe-files.js';
import { hashFile } from './hash.js';

export const TOOL_CACHE_FILE = 'tool-cache.json';
const MAX_CACHED = 16;

interface CacheRow {
  key: string;
  version: string | null;
  sha256: string;
}

function statKey(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return [path, s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(':');
  } catch {
    return undefined;
  }
}

/** Untrusted file: anything malformed is ignored (the identity is recomputed). */
function readCache(file: string): CacheRow[] {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!Array.isArray(v)) return [];
    return v.filter(
      (r): r is CacheRow =>
        !!r && typeof r === 'object' && typeof (r as CacheRow).key === 'string' && typeof (r as CacheRow).sha256 === 'string' && SHA256_HEX.test((r as CacheRow).sha256) && ((r as CacheRow).version === null || typeof (r as CacheRow).version === 'string'),
    );
  } catch {
    return [];
  }
}

/** The first line of `<tool> -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) …": the version word. */
export function probeVersion(path: string): string | null {
  const r = spawnSync(path, ['-version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  const m = /^\S+ version (\S+)/.exec(r.stdout ?? '');
  return m ? m[1]! : null;
}

export async function identifyTool(path: string, cacheDir: string | undefined): Promise<FfmpegIdentity> {
  const key = statKey(path);
  const file = cacheDir ? join(cacheDir, TOOL_CACHE_FILE) : undefined;
  const rows = file ? readCache(file) : [];
  const hit = key ? rows.find((r) => r.key === key) : undefined;
  if (hit) return { path, version: hit.version, sha256: hit.sha256 };
  let sha256: string | null = null;
  try {
    sha256 = (await hashFile(path)).sha256;
  } catch {
    sha256 = null; // executable but unreadable: the record says so with a null hash
  }
  const version = probeVersion(path);
  // Only cache when the file did not change while we looked at it.
  if (file && key && sha256 && statKey(path) === key) {
    const next = [{ key, version, sha256 }, ...rows.filter((r) => r.key !== key)].slice(0, MAX_CACHED);
    try {
      writeFileAtomically(file, `${JSON.stringify(next)}\n`, 0o644);
    } catch {
      // A cache that cannot be written only costs time on the next run.
    }
  }
  return { path, version, sha256 };
}
