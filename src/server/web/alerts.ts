/**
 * What the web interface shows in red at the top of every page until an admin acknowledges it: a conflict of a
 * host's log (an equivocation, an unproven or contradicted checkpoint; not a reset, which an admin made) and a
 * re-verification of a mirror that found problems (the latest check of each log only).
 */
import type { Db } from '../db/pool.js';

export interface Alert {
  kind: 'conflict' | 'check';
  /** conflicts.id or mirror_checks.id: what an acknowledgement names. */
  ref: number;
  host: string;
  /** One line for people: what happened. */
  text: string;
  /** ISO 8601 UTC. */
  at: string;
}

export async function activeAlerts(db: Db): Promise<Alert[]> {
  const { rows } = await db.pool.query<{ kind: 'conflict' | 'check'; ref: string; host: string; what: string; size: string | null; at: Date }>(
    `SELECT 'conflict' AS kind, x.id AS ref, h.name AS host, x.kind AS what, x.size, x.seen_at AS at
       FROM conflicts x JOIN hosts h ON h.id = x.host_id
      WHERE x.kind <> 'reset' AND NOT EXISTS (SELECT 1 FROM alert_acks a WHERE a.kind = 'conflict' AND a.ref = x.id)
     UNION ALL
     SELECT 'check', c.id, h.name, 'check', c.size, c.checked_at
       FROM (SELECT DISTINCT ON (host_id) * FROM mirror_checks ORDER BY host_id, checked_at DESC, id DESC) c
       JOIN hosts h ON h.id = c.host_id
      WHERE NOT c.ok AND NOT EXISTS (SELECT 1 FROM alert_acks a WHERE a.kind = 'check' AND a.ref = c.id)
      ORDER BY at DESC LIMIT 50`,
  );
  return rows.map((r) => ({
    kind: r.kind,
    ref: Number(r.ref),
    host: r.host,
    at: r.at.toISOString(),
    text:
      r.kind === 'check'
        ? `the re-verification of ${r.host}'s mirrored log found problems (size ${r.size})`
        : r.what === 'equivocation'
          ? `${r.host} signed two different checkpoints for one log (equivocation${r.size !== null ? ` at size ${r.size}` : ''})`
          : `${r.host}'s log presented a checkpoint that is ${r.what}${r.size !== null ? ` (size ${r.size})` : ''}`,
  }));
}

/** Records an admin's acknowledgement; acknowledging twice keeps the first. */
export async function acknowledgeAlert(db: Db, kind: Alert['kind'], ref: number, by: string): Promise<boolean> {
  const { rowCount } = await db.pool.query('INSERT INTO alert_acks (kind, ref, acked_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [kind, ref, by]);
  return (rowCount ?? 0) > 0;
}
