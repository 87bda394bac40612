/** Who and when, for entries: the operating system's account and a wall clock with nanosecond resolution. */
import { hostname, userInfo } from 'node:os';
import { formatTimeNs } from '../time/time.js';
import type { Author } from '../core/entry.js';

// Date.now() has millisecond resolution; hrtime adds the nanoseconds, anchored once per process.
const anchorMs = BigInt(Date.now());
const anchorHr = process.hrtime.bigint();

export function nowNs(): bigint {
  return anchorMs * 1_000_000n + (process.hrtime.bigint() - anchorHr);
}

export function nowRfc3339(): string {
  return formatTimeNs(nowNs());
}

export function currentAuthor(asserted?: string): Author {
  let user: string;
  let uid: number | null;
  try {
    const u = userInfo();
    user = u.username;
    uid = u.uid >= 0 ? u.uid : null;
  } catch {
    // No passwd entry (some containers): fall back to what the environment says, and the numeric uid.
    uid = typeof process.getuid === 'function' ? process.getuid() : null;
    user = process.env.USER ?? process.env.LOGNAME ?? (uid === null ? 'unknown' : `uid:${uid}`);
  }
  const a: Author = { user, uid, host: hostname() };
  if (asserted) a.asserted_actor = asserted;
  return a;
}
