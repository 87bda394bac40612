/**
 * Evidence: checkpoints refused and kept (tlog-witness §add-checkpoint: "the witness MAY log the request even if the
 * consistency proof doesn't verify … as it might be proof of log misbehavior"). Two kinds come from the witness:
 * 'equivocation' (signed by the log's key, the size of a checkpoint we cosigned, another root: two checkpoints that
 * cannot both be true) and 'unproven' (a valid signature whose consistency proof failed: not proof of misbehaviour
 * by itself, so never called equivocation). Rows are kept per host and bounded, so a noisy or hostile host cannot
 * fill the database's disk with refusals.
 */
import type { Pool, PoolClient } from 'pg';
import type { Db } from './db/pool.js';

/** The first this many refusals of each host are kept (resets by an administrator are not counted). */
export const MAX_CONFLICTS_PER_HOST = 1000;

export type ConflictKind = 'equivocation' | 'unproven' | 'contradicted' | 'reset';

export interface NewConflict {
  hostId: number;
  epoch: number;
  kind: Exclude<ConflictKind, 'reset'>;
  size: number;
  /** The refused checkpoint (its text and the log's verified signature lines). */
  note: string;
  /** What it contradicts: the checkpoint we cosigned at that size, when there is one. */
  otherNote: string | null;
  detail: string;
}

/**
 * Records a conflict, unless the host already has MAX_CONFLICTS_PER_HOST of them or the same refusal (kind and
 * checkpoint) is already kept. Returns whether a row was written. One statement: requests of one host refused at
 * the same moment may each see the count below the bound, so it can be passed by as many as arrive at once.
 */
export async function recordConflict(c: Pool | PoolClient, x: NewConflict): Promise<boolean> {
  const { rowCount } = await c.query(
    `INSERT INTO conflicts (host_id, epoch, kind, size, note, other_note, detail)
     SELECT $1, $2, $3, $4, $5, $6, $7
      WHERE (SELECT count(*) FROM conflicts WHERE host_id = $1 AND kind <> 'reset') < $8
        AND NOT EXISTS (SELECT 1 FROM conflicts WHERE host_id = $1 AND epoch = $2 AND kind = $3 AND note = $5)`,
    [x.hostId, x.epoch, x.kind, x.size, x.note, x.otherNote, x.detail, MAX_CONFLICTS_PER_HOST],
  );
  return rowCount === 1;
}

export interface ConflictRow {
  host: string;
  origin: string | null;
  epoch: number;
  kind: ConflictKind;
  size: number | null;
  seen_at: string;
  detail: string;
  note: string;
  other_note: string | null;
}

/** Every conflict kept, oldest first: of one host (by id or name), or of all. */
export async function listConflicts(db: Db, which: { hostId?: number; hostName?: string } = {}): Promise<ConflictRow[]> {
  const { rows } = await db.pool.query<ConflictRow & { seen_at: Date }>(
    `SELECT h.name AS host, h.origin, x.epoch, x.kind, x.size, x.seen_at, x.detail, x.note, x.other_note
       FROM conflicts x JOIN hosts h ON h.id = x.host_id
      WHERE ($1::bigint IS NULL OR h.id = $1) AND ($2::text IS NULL OR h.name = $2)
      ORDER BY h.name, x.seen_at, x.id`,
    [which.hostId ?? null, which.hostName ?? null],
  );
  return rows.map((r) => ({ ...r, seen_at: new Date(r.seen_at).toISOString() }));
}
