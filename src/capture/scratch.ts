/**
 * A run's private temporary directory (`$TMPDIR/ffaudit-…`, mode 0700 from mkdtemp): FFmpeg writes its report there
 * before it is redacted, and the links that stand for non-UTF-8 names live there. The run removes it when it ends,
 * but a run killed outright (SIGKILL, the OOM killer) cannot, and the report it leaves holds the very secrets the
 * ledger never sees. So the directory's name says which process made it, and every run removes, while FFmpeg runs,
 * the directories of runs whose process is gone.
 *
 * A process is named by its pid and its start time (/proc/PID/stat), so a later process that reuses the pid is not
 * taken for it, and by a key for this machine (its host name) and this pid namespace, since a $TMPDIR can be shared
 * by containers or by machines (a network home), where the same pid is another process: a directory made under
 * another key is never judged, let alone removed. (After a reboot the key is the same, and the directories of the
 * previous boot are removed: their processes are gone, or are others that started at other times.) Without /proc
 * (not Linux) the name carries no owner and nothing is removed.
 */
import { lstat, mkdtempSync, readdir, readlinkSync, rm } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../core/entry.js';
import { procStat, type ProcStat } from './proc-stat.js';

const OWNED = /^ffaudit-(\d+)-(\d+)-([0-9a-f]{8})-[A-Za-z0-9]{6}$/;

/** This machine and its pid namespace (namespaces(7): the link /proc/self/ns/pid names it, e.g. `pid:[4026531836]`). */
function hostKey(): string | undefined {
  try {
    const ns = readlinkSync('/proc/self/ns/pid');
    return sha256Hex(`${hostname()}\n${ns}`).slice(0, 8);
  } catch {
    return undefined;
  }
}

export interface Scratch {
  dir: string;
  /** Removes, in the background, the directories that runs now dead left in the same place. */
  removeLeftovers(): void;
}

/** `self`: this process's /proc/self/stat, read once by the caller. */
export function makeScratch(self: ProcStat | undefined): Scratch {
  const parent = tmpdir();
  const key = self ? hostKey() : undefined;
  if (!self || !key) return { dir: mkdtempSync(join(parent, 'ffaudit-')), removeLeftovers: () => undefined };
  const dir = mkdtempSync(join(parent, `ffaudit-${process.pid}-${self.startTime}-${key}-`));
  return { dir, removeLeftovers: () => removeLeftovers(parent, key) };
}

/** True unless the process that made a directory is provably gone: no such pid, or a pid started at another time. */
function ownerAlive(pid: number, startTime: string): boolean {
  if (!Number.isSafeInteger(pid)) return true;
  const st = procStat(pid);
  return st !== undefined && st.startTime === startTime;
}

function removeLeftovers(parent: string, key: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  readdir(parent, (err, names) => {
    if (err) return;
    for (const name of names) {
      const m = OWNED.exec(name);
      if (!m || m[3] !== key || ownerAlive(Number(m[1]), m[2]!)) continue;
      const path = join(parent, name);
      // Only a real directory of ours: never a symbolic link (lstat), never another account's.
      lstat(path, (e, st) => {
        if (e || !st.isDirectory() || st.uid !== uid) return;
        rm(path, { recursive: true, force: true }, () => undefined);
      });
    }
  });
}
