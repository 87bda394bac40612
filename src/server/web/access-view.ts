/**
 * Who looked at a run or a file, for the Run and File pages (auditors only): the access.event entries of every
 * serve process's access log (access-log.ts) that name it, read through idx_access and rebuilt from the mirrored
 * entries, newest first. The index only says where to look: each entry must hash to its stored leaf (RFC 6962 §2.1),
 * be an access event and name the subject, or it is reported as unreadable, never shown as what happened.
 */
import { SHA256_HEX } from '../../core/entry.js';
import { FfauditError } from '../../core/errors.js';
import type { Db } from '../db/pool.js';
import { accessEventShape, indexKey } from '../search/derive.js';
import { checkedEntry, oneLine, readOnly } from '../search/read.js';

export interface AccessView {
  /** RFC 3339 with nanoseconds, as the entry has it. */
  time: string;
  user: string;
  action: string;
  /** null only for an entry that could not be read back (`problem`). */
  via: 'web' | 'api' | null;
  /** The access log's origin and the entry's index in it: where the event is provable. */
  log: string;
  index: number;
  client: string | null;
  /**
   * Set when the entry could not be read back as recorded (damaged, or not the event the index says): only `log`
   * and `index` are then known, every other field is empty.
   */
  problem?: string;
}

export const MAX_ACCESS_EVENTS = 1000;

/** The latest `limit` access events naming run `runId` or the file `sha256`, newest first. */
export async function accessEvents(db: Db, subject: { runId: string } | { sha256: string }, limit = 100): Promise<AccessView[]> {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_ACCESS_EVENTS) throw new FfauditError('USAGE', `limit: 1 to ${MAX_ACCESS_EVENTS}`);
  const byRun = 'runId' in subject;
  if (!byRun && !SHA256_HEX.test(subject.sha256)) throw new FfauditError('BAD_INPUT', 'a file is named by its SHA-256: 64 lowercase hexadecimal digits');
  const rows = await readOnly(db, async (c) => {
    // Only the logs the server enrolled as its own access logs: a host's ledger could hold entries of this type too.
    const { rows } = await c.query<{ host_id: string; idx: string; origin: string; data: Buffer | null; leaf: Buffer | null }>(
      `WITH k AS (
         SELECT DISTINCT a.host_id, a.epoch, a.idx, a.time_ns
           FROM idx_access a JOIN hosts h ON h.id = a.host_id AND h.epoch = a.epoch AND h.access_log
          WHERE ${byRun ? 'a.run_id = $1' : "a.sha256 = decode($1, 'hex')"}
          ORDER BY a.time_ns DESC, a.host_id, a.idx DESC LIMIT $2)
       SELECT k.host_id, k.idx, h.origin, e.data, e.leaf
         FROM k JOIN hosts h ON h.id = k.host_id
         LEFT JOIN mirror_entries e ON e.host_id = k.host_id AND e.epoch = k.epoch AND e.idx = k.idx
        ORDER BY k.time_ns DESC, k.host_id, k.idx DESC`,
      [byRun ? indexKey(subject.runId) : subject.sha256, limit],
    );
    return rows;
  });
  return rows.map((r) => {
    const index = Number(r.idx);
    try {
      const e = accessEventShape(checkedEntry({ index, data: r.data, leaf: r.leaf }));
      if (typeof e === 'string') throw new FfauditError('INTEGRITY', `entry ${index} is not a well-formed access event: ${e}`);
      if (byRun ? !(e.runs ?? []).includes(subject.runId) : !(e.files ?? []).includes(subject.sha256)) {
        throw new FfauditError('INTEGRITY', `entry ${index} does not name this ${byRun ? 'run' : 'file'}, though the index says it does`);
      }
      return { time: e.time, user: e.by.user, action: e.action, via: e.via, log: r.origin, index, client: e.client ?? null };
    } catch (err) {
      return { time: '', user: '', action: '', via: null, log: r.origin, index, client: null, problem: oneLine(err) };
    }
  });
}
