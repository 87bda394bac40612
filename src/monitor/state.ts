/**
 * What the monitor remembers between rounds, in one small JSON file: per origin the last checkpoint it verified and
 * accepted (size, root, the whole note as evidence for later findings), and per source the largest size that source
 * has shown (a source showing less than it did before is a rollback, while a mirror lagging behind another source
 * is not), and, when timestamps are checked, the checkpoints still awaiting a token. Written atomically (a temporary file, fsync, rename(2)), so a crash leaves the old state or the new one.
 * A damaged file is an error, never reset: forgetting what was seen would let a rollback or fork pass unnoticed.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';

export interface SeenCheckpoint {
  size: number;
  /** Base64, as in the checkpoint. */
  root: string;
  note: string;
}

/** A checkpoint waiting for a time-stamp token (timestamp-rule.ts): since when, and whether it was reported. */
export interface AwaitedStamp extends SeenCheckpoint {
  /** When the monitor first saw it, RFC 3339. */
  first_seen: string;
  reported: boolean;
}

export interface MonitorState {
  logs: Map<string, SeenCheckpoint>;
  /** Per source location: the largest tree size it has shown. */
  sources: Map<string, number>;
  /** Per origin: checkpoints seen and not yet covered by a valid token (only with --tsa-ca). */
  stamps: Map<string, AwaitedStamp[]>;
}

const VERSION = 1;
/** Far above what a few logs need; a larger file is not ours. */
const MAX_STATE_BYTES = 16 * 1024 * 1024;

export function emptyState(): MonitorState {
  return { logs: new Map(), sources: new Map(), stamps: new Map() };
}

/** Reads the state file; a missing file is a first run. Anything else unreadable or malformed is an error (exit 2). */
export function loadState(path: string): MonitorState {
  let text: string;
  try {
    const data = readFileSync(path);
    if (data.length > MAX_STATE_BYTES) throw new FfauditError('BAD_INPUT', `the monitor state ${path} is larger than ${MAX_STATE_BYTES} bytes: not a state file`);
    text = data.toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot read the monitor state ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const damaged = (why: string) => new FfauditError('BAD_INPUT', `the monitor state ${path} is damaged (${why}): fix or remove it knowingly, it is not reset`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('not JSON');
  }
  if (!isObject(raw) || raw.version !== VERSION || !isObject(raw.logs) || !isObject(raw.sources)) throw damaged(`not a version ${VERSION} state`);
  const state = emptyState();
  for (const [origin, v] of Object.entries(raw.logs)) {
    if (!isObject(v) || typeof v.note !== 'string' || typeof v.size !== 'number' || typeof v.root !== 'string') throw damaged(`the entry of ${JSON.stringify(origin)} is malformed`);
    let cp;
    try {
      cp = parseSignedCheckpoint(v.note);
    } catch {
      throw damaged(`the checkpoint of ${JSON.stringify(origin)} is malformed`);
    }
    // The note is the evidence; the size and root beside it are for people reading the file, and must agree with it.
    if (cp.origin !== origin || cp.size !== v.size || cp.root.toString('base64') !== v.root) throw damaged(`the checkpoint of ${JSON.stringify(origin)} does not match its size and root`);
    state.logs.set(origin, { size: cp.size, root: v.root, note: v.note });
  }
  for (const [location, size] of Object.entries(raw.sources)) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw damaged(`the size of source ${JSON.stringify(location)} is malformed`);
    state.sources.set(location, size);
  }
  // Absent from the files of monitors that never checked timestamps.
  if (raw.timestamps !== undefined && !isObject(raw.timestamps)) throw damaged('its timestamps are malformed');
  for (const [origin, list] of Object.entries((raw.timestamps ?? {}))) {
    if (!Array.isArray(list)) throw damaged(`the timestamps awaited for ${JSON.stringify(origin)} are malformed`);
    const awaited: AwaitedStamp[] = [];
    for (const a of list as unknown[]) {
      if (!isObject(a) || typeof a.note !== 'string' || typeof a.first_seen !== 'string' || Number.isNaN(Date.parse(a.first_seen)) || typeof a.reported !== 'boolean') throw damaged(`a timestamp awaited for ${JSON.stringify(origin)} is malformed`);
      let cp;
      try {
        cp = parseSignedCheckpoint(a.note);
      } catch {
        throw damaged(`a checkpoint awaiting a timestamp for ${JSON.stringify(origin)} is malformed`);
      }
      if (cp.origin !== origin || cp.size !== a.size || cp.root.toString('base64') !== a.root) throw damaged(`a checkpoint awaiting a timestamp for ${JSON.stringify(origin)} does not match its size and root`);
      awaited.push({ size: cp.size, root: a.root, note: a.note, first_seen: a.first_seen, reported: a.reported });
    }
    state.stamps.set(origin, awaited);
  }
  return state;
}

/** Writes the state: temporary file beside it, fsync, rename over the old one. */
export function saveState(path: string, state: MonitorState): void {
  const body = {
    version: VERSION,
    logs: Object.fromEntries([...state.logs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    sources: Object.fromEntries([...state.sources].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    ...(state.stamps.size > 0 ? { timestamps: Object.fromEntries([...state.stamps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) } : {}),
  };
  const temp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(body, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // Never written, or already renamed.
    }
    throw new FfauditError('IO', `cannot write the monitor state ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
