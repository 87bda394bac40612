/**
 * The opaque page cursor of the read API: base64url (RFC 4648 §5, no padding) of the JSON array
 * ["<time in ns, decimal>", hostId, index], the order key of the last item of a page (query.ts). Untrusted input:
 * anything else is a USAGE error with one line, never a partial cursor.
 */
import { FfauditError } from '../../core/errors.js';
import type { Cursor } from './types.js';

/** A cursor is small: a longer string is refused before it is decoded. */
const MAX_CURSOR_CHARS = 200;
const TIME = /^(0|-?[1-9][0-9]{0,18})$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.timeNs.toString(), c.hostId, c.index]), 'utf8').toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  const bad = (why: string) => new FfauditError('USAGE', `bad cursor: ${why}`);
  if (s.length === 0 || s.length > MAX_CURSOR_CHARS || !BASE64URL.test(s) || s.length % 4 === 1) throw bad('not a cursor from a previous page');
  const bytes = Buffer.from(s, 'base64url');
  // Canonical only: one cursor, one spelling (no padding, no stray bits).
  if (bytes.toString('base64url') !== s) throw bad('not a cursor from a previous page');
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad('not a cursor from a previous page');
  }
  if (!Array.isArray(v) || v.length !== 3) throw bad('not a cursor from a previous page');
  const [t, h, i] = v as unknown[];
  if (typeof t !== 'string' || !TIME.test(t)) throw bad('its time is not a number of nanoseconds');
  const timeNs = BigInt(t);
  // started_ns is a PostgreSQL bigint.
  if (timeNs > 9223372036854775807n || timeNs < -9223372036854775808n) throw bad('its time is out of range');
  if (typeof h !== 'number' || !Number.isSafeInteger(h) || h < 0) throw bad('its host is not a number');
  if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0) throw bad('its index is not a number');
  return { timeNs, hostId: h, index: i };
}
