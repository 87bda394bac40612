/**
 * The server's answers across every mirrored log, as the read API (server/api/) and the `--server` client
 * (remote/) see them. The indexes behind them (db/migrations.ts v3, filled by ingest.ts in the transaction that
 * stores the entries) only say where to look: every run and note returned is rebuilt from the mirrored entry bytes,
 * each checked against its stored leaf hash, its blobs against their hashes, and the filter applied again.
 */
import type { RunStatus, Tool, Unreadable } from '../../core/run.js';

/** A filter on runs or custody notes. Every field has been parsed strictly by the caller (api/filters.ts). */
export interface SearchFilter {
  /** Only these logs, by origin. */
  logs?: string[];
  /** Only these hosts, by the server's host name (`serve hosts add NAME`). */
  hosts?: string[];
  user?: string;
  /** The asserted actor (--actor / FFAUDIT_ACTOR). */
  actor?: string;
  /** Runs only. */
  tool?: Tool;
  /** Runs only. */
  statuses?: RunStatus[];
  /** Nanoseconds since the epoch, inclusive bounds on a run's start time or a note's time. */
  sinceNs?: bigint;
  untilNs?: bigint;
  /** A file read or written (a note: named) with this content, SHA-256 lower-case hex. */
  sha256?: string;
  /** A file path starting with this prefix (as recorded: absolute path, pipe:N or redacted URL). */
  pathPrefix?: string;
  /**
   * Case-insensitive text that must appear in the (redacted) command line, cwd, reason, actor or file paths of a
   * run, or in a note's text, actor or file paths (as `ffaudit log --grep`).
   */
  grep?: string;
}

/** Which logs a caller may see: null for every log. */
export type Scope = { hostIds: number[] | null };

export type { LoggedRun, Unreadable } from '../../core/run.js';
export type { LoggedNote } from '../../core/entry.js';

export interface PageRequest {
  /** At most this many items (the API bounds it: 1..1000). */
  limit: number;
  /** An opaque cursor from a previous page's `next`, already parsed (cursor.ts). */
  after?: Cursor;
  /** Newest first (the API's default) or oldest first. */
  order: 'desc' | 'asc';
}

/** Where a page ended: the order key of its last item. Encoded for clients by cursor.ts as base64url JSON. */
export interface Cursor {
  timeNs: bigint;
  hostId: number;
  index: number;
}

export interface Page<T> {
  items: T[];
  /** The cursor for the next page, or null when this is the last. */
  next: Cursor | null;
  /** The number of matches, exact when at most 10,000, else null. */
  total: number | null;
  unreadable: Unreadable[];
}

/** One row of `GET /api/v1/logs`: the state of a mirrored log. */
export interface LogState {
  /** The server's name for the host. */
  host: string;
  origin: string;
  status: 'active' | 'disabled';
  epoch: number;
  /** Entries mirrored (the mirror checkpoint's size). */
  size: number;
  /** The latest checkpoint the witness cosigned: its size and when. */
  cosigned: { size: number; at: string } | null;
  /** The last time the host pushed (witness or mirror request), RFC 3339, or null. */
  lastPushAt: string | null;
  /** True when the host has been silent longer than the server's --silent-after. */
  silent: boolean;
  /** Entries the witness cosigned that the mirror does not hold yet. */
  lag: number;
  /** Refused checkpoints kept as evidence (server conflicts table), by kind. */
  conflicts: { equivocation: number; unproven: number; contradicted: number };
  /** The last re-verification of the mirrored entries against the mirror checkpoint. */
  lastCheck: { at: string; size: number; ok: boolean; problems: string[] } | null;
}
