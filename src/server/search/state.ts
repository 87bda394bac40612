/**
 * The state of every mirrored log (`GET /api/v1/logs`): what the witness cosigned, what the mirror holds, when the
 * host last pushed, the checkpoints refused as evidence, and the last re-verification (reverify.ts). A host silent
 * for longer than --silent-after is flagged: a stopped host otherwise looks like a quiet one. Logs registered for
 * witnessing only (hosts.ts registerLog) are not mirrored, so not listed: their missing mirror is no lag.
 */
import type { Db } from '../db/pool.js';
import { readOnly } from './read.js';
import type { LogState, Scope } from './types.js';

interface Row {
  name: string;
  origin: string;
  status: string;
  epoch: number;
  size: number | null;
  w_size: number | null;
  w_at: Date | null;
  last_push_at: Date | null;
  joined_at: Date | null;
  access_log: boolean;
  equivocation: number;
  unproven: number;
  contradicted: number;
  c_at: Date | null;
  c_size: number | null;
  c_ok: boolean | null;
  c_problems: unknown;
}

export async function logStates(db: Db, scope: Scope, opts: { silentAfterMs: number; now?: Date }): Promise<LogState[]> {
  const now = (opts.now ?? new Date()).getTime();
  const rows = await readOnly(db, async (c) => {
    const { rows } = await c.query<Row>(
      `SELECT h.name, h.origin, h.status, h.epoch, m.size, w.size AS w_size, w.updated_at AS w_at, h.last_push_at, h.joined_at, h.access_log,
              (SELECT count(*) FROM conflicts x WHERE x.host_id = h.id AND x.epoch = h.epoch AND x.kind = 'equivocation')::int AS equivocation,
              (SELECT count(*) FROM conflicts x WHERE x.host_id = h.id AND x.epoch = h.epoch AND x.kind = 'unproven')::int AS unproven,
              (SELECT count(*) FROM conflicts x WHERE x.host_id = h.id AND x.epoch = h.epoch AND x.kind = 'contradicted')::int AS contradicted,
              k.checked_at AS c_at, k.size AS c_size, k.ok AS c_ok, k.problems AS c_problems
         FROM hosts h
         LEFT JOIN mirror_state m ON m.host_id = h.id AND m.epoch = h.epoch
         LEFT JOIN witness_state w ON w.host_id = h.id AND w.epoch = h.epoch
         LEFT JOIN LATERAL (SELECT checked_at, size, ok, problems FROM mirror_checks k WHERE k.host_id = h.id AND k.epoch = h.epoch ORDER BY checked_at DESC, id DESC LIMIT 1) k ON true
        WHERE h.origin IS NOT NULL AND h.status IN ('active', 'disabled') AND NOT h.witness_only AND ($1::bigint[] IS NULL OR h.id = ANY($1::bigint[]))
        ORDER BY h.name`,
      [scope.hostIds],
    );
    return rows;
  });
  return rows.map((r): LogState => {
    const size = Number(r.size ?? 0);
    const cosignedSize = r.w_size === null ? null : Number(r.w_size);
    const lastPush = r.last_push_at ?? null;
    // A host that never pushed is silent once it has been enrolled for longer than the bound. A serve process's
    // access log (web/access-log.ts) pushes only when someone looks at evidence: its quiet is no stopped host.
    const since = lastPush ?? r.joined_at;
    return {
      host: r.name,
      origin: r.origin,
      status: r.status === 'disabled' ? 'disabled' : 'active',
      epoch: r.epoch,
      size,
      cosigned: cosignedSize === null || r.w_at === null ? null : { size: cosignedSize, at: r.w_at.toISOString() },
      lastPushAt: lastPush === null ? null : lastPush.toISOString(),
      silent: !r.access_log && (since === null || now - since.getTime() > opts.silentAfterMs),
      lag: Math.max(0, (cosignedSize ?? 0) - size),
      conflicts: { equivocation: r.equivocation, unproven: r.unproven, contradicted: r.contradicted },
      lastCheck:
        r.c_at === null
          ? null
          : {
              at: r.c_at.toISOString(),
              size: Number(r.c_size),
              ok: r.c_ok === true,
              problems: Array.isArray(r.c_problems) ? (r.c_problems as unknown[]).filter((p): p is string => typeof p === 'string') : [],
            },
    };
  });
}
