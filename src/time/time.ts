/** RFC 3339 timestamps with nanoseconds, the form every ffaudit entry carries (docs/design.md: no integer nanoseconds). */
import { FfauditError } from '../core/errors.js';
import { durationMs, parseDurationText } from './duration.js';

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/**
 * 2026-11-28T06:23:59.123456789Z from nanoseconds since the Unix epoch. Built from the UTC fields rather than by
 * Date#toISOString, whose first call in a process is slow (it is on the path before FFmpeg starts; BENCHMARKS.md);
 * years outside 0000–9999 keep toISOString's expanded form.
 */
export function formatTimeNs(epochNs: bigint): string {
  const ns = ((epochNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n; // floored: times before 1970 too
  const d = new Date(Number((epochNs - ns) / 1_000_000n));
  const frac = ns.toString().padStart(9, '0');
  const y = d.getUTCFullYear();
  const date =
    y >= 0 && y <= 9999
      ? `${String(y).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`
      : d.toISOString().slice(0, -5);
  return `${date}.${frac}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Nanoseconds since the epoch of an RFC 3339 time; null when it is not one. Untrusted input. */
export function parseTimeNs(text: string): bigint | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const base = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]!.toUpperCase() === 'Z' ? 'Z' : m[8]}`);
  if (Number.isNaN(base)) return null;
  const frac = BigInt((m[7] ?? '').padEnd(9, '0') || '0');
  return BigInt(base) * 1_000_000n + frac;
}

/** A UTC date, or a UTC date and time to the minute or the second, as people write them: no zone, T or a space. */
const PARTIAL = /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * A point in time from a user: an RFC 3339 time, an age such as 90s, 15m, 2h, 3d, 1w counted back from `nowMs`,
 * or a UTC date (YYYY-MM-DD) or date and time to the minute or second (`2026-12-05 18:58`, `2026-12-05T18:58:30`).
 * Those name a whole day, minute or second: as the start of a period (`bound` "since") they mean its first
 * instant, as its end ("until") its last, so that `--until 2026-12-05` includes that day.
 */
export function parseWhen(text: string, nowMs: number, bound: 'since' | 'until' = 'since'): bigint {
  const age = parseDurationText(text, { units: ['s', 'm', 'h', 'd', 'w'] });
  // An age of so many digits that it overflows is no time either (below).
  if (age && Number.isFinite(durationMs(age))) return BigInt(nowMs - durationMs(age)) * 1_000_000n;
  const partial = PARTIAL.exec(text);
  if (partial) {
    const [, date, hh, mm, ss] = partial;
    const t = parseTimeNs(`${date}T${hh ?? '00'}:${mm ?? '00'}:${ss ?? '00'}Z`);
    if (t !== null) {
      const unitS = hh === undefined ? 86_400n : ss === undefined ? 60n : 1n;
      return bound === 'until' ? t + unitS * 1_000_000_000n - 1n : t;
    }
  }
  const t = parseTimeNs(text);
  if (t === null) throw new FfauditError('USAGE', `not a time: ${JSON.stringify(text)} (use an RFC 3339 time, a date, a date and time such as "2026-12-05 18:58" (UTC), or an age such as 2h or 3d)`);
  return t;
}
