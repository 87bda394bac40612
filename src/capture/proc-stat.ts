/**
 * The few fields of Linux's /proc/PID/stat (proc(5)) that the capture needs: the process group and the terminal's
 * foreground process group, to tell whether a Ctrl-C reached FFmpeg already; the start time, to tell a process from
 * a later one that reuses its pid. Undefined where there is no /proc (not Linux) or the process is gone.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ProcStat {
  /** Field 5: the process group. */
  pgrp: number;
  /** Field 8: the foreground process group of the controlling terminal; -1 (or 0) without one. */
  tpgid: number;
  /** Field 22: when the process started, in clock ticks after boot. */
  startTime: string;
}

export function procStat(pid: number | 'self'): ProcStat | undefined {
  // One read into a buffer the line fits in (a command name of at most 64 bytes and some fifty numbers): the kernel
  // builds the line anew on every read, and readFileSync would read again to find the end.
  const buf = Buffer.allocUnsafe(4096);
  let text: string;
  try {
    const fd = openSync(`/proc/${pid}/stat`, 'r');
    try {
      text = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')': the fields after it start after
  // the last ')'. fields[0] is field 3 (the state).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  const tpgid = Number(fields[5]);
  const startTime = fields[19];
  if (!Number.isSafeInteger(pgrp) || !Number.isSafeInteger(tpgid) || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { pgrp, tpgid, startTime };
}

/** True when this process is in the foreground process group of its controlling terminal. */
export function inTerminalForeground(self: ProcStat | undefined = procStat('self')): boolean {
  return self !== undefined && self.tpgid > 0 && self.tpgid === self.pgrp;
}
