/**
 * Who looked at a run or a file, for the Run and File pages (auditors only): the access.event entries of every
 * serve process's access log (access-log.ts) that name it, read through idx_access and rebuilt from the mirrored
 * entries, newest first.
 */
import type { Db } from '../db/pool.js';

export interface AccessView {
  /** RFC 3339 with nanoseconds, as the entry has it. */
  time: string;
  user: string;
  action: string;
  via: 'web' | 'api';
  /** The access log's origin and the entry's index in it: where the event is provable. */
  log: string;
  index: number;
  client: string | null;
}

/** The latest `limit` access events naming run `runId` or the file `sha256`. (Placeholder until the access log lands.) */
export function accessEvents(_db: Db, _subject: { runId: string } | { sha256: string }, _limit = 100): Promise<AccessView[]> {
  return Promise.resolve([]);
}
