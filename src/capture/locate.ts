/**
 * Finding the real FFmpeg (or FFprobe): `--ffmpeg PATH` / FFAUDIT_FFMPEG, else the first executable on PATH that is
 * neither one of our shims nor ffaudit itself, else the optional bundled binary from npm, else FFMPEG_NOT_FOUND.
 */
import { accessSync, closeSync, constants, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FfauditError } from '../core/errors.js';
import type { Tool } from '../core/run.js';

/** Every shim script carries this line; a candidate holding it is never taken for the real binary. */
export const SHIM_MARKER = 'ffaudit-shim: this file runs ffaudit, not FFmpeg';

const ENV_VAR: Record<Tool, string> = { ffmpeg: 'FFAUDIT_FFMPEG', ffprobe: 'FFAUDIT_FFPROBE' };
const BUNDLE: Record<Tool, string> = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' };

function isExecutableFile(p: string): boolean {
  try {
    // No exception for the PATH entries that lack the tool (most of them): building one costs more than the stat.
    if (!statSync(p, { throwIfNoEntry: false })?.isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when the first bytes of the file name it as a shim (shims are small scripts; binaries never carry the marker). */
function isShim(p: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(p, 'r');
    const buf = Buffer.alloc(1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).includes(SHIM_MARKER);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function ownBins(): Set<string> {
  const own = new Set<string>();
  for (const rel of ['../../bin/ffaudit.js', '../cli/main.js']) {
    try {
      own.add(realpathSync(fileURLToPath(new URL(rel, import.meta.url))));
    } catch {
      // not installed in that layout
    }
  }
  return own;
}

function bundled(tool: Tool): string | undefined {
  try {
    const req = createRequire(import.meta.url);
    const m = req(BUNDLE[tool]) as { path?: unknown };
    return typeof m.path === 'string' && isExecutableFile(m.path) ? m.path : undefined;
  } catch {
    return undefined; // optional dependency not installed, or no build for this platform
  }
}

export function locateTool(tool: Tool, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = flag ?? env[ENV_VAR[tool]];
  if (explicit) {
    const p = resolve(explicit);
    if (!isExecutableFile(p)) throw new FfauditError('FFMPEG_NOT_FOUND', `${p} (${flag ? `--${tool}` : ENV_VAR[tool]}) is not an executable file`);
    return p;
  }
  const own = ownBins();
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative PATH entry would make the binary depend on the cwd
    const p = join(dir, tool);
    if (!isExecutableFile(p) || isShim(p)) continue;
    try {
      if (own.has(realpathSync(p))) continue;
    } catch {
      continue;
    }
    return p;
  }
  const b = bundled(tool);
  if (b) return b;
  throw new FfauditError('FFMPEG_NOT_FOUND', `no ${tool} found: install FFmpeg, put it on PATH, or name it with --${tool} or ${ENV_VAR[tool]}`);
}
