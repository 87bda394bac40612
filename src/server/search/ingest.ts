/**
 * Filling the search indexes (db/migrations.ts v3, and v4's idx_access) from mirrored entries.
 *
 * They are filled in the very transaction that stores the entries (mirror.ts commitPackages), not behind them with a
 * watermark. The issue leaves the choice open as long as a search never silently misses a mirrored run; in the same
 * transaction that holds by construction: no snapshot ever sees an entry without its rows, so there is no watermark
 * to compare, no catch-up worker to keep alive, and no window in which the mirror has cosigned a checkpoint whose runs
 * a search cannot find yet. The cost is paid at ingest, in a handful of multi-row statements per package batch (the
 * arrays sent as text: pg sends no binary arrays), measured against COPY in BENCHMARKS.md.
 *
 * `backfillIndexes` fills them for a mirror stored before schema v3, once, at start (serve.ts).
 */
import type { PoolClient } from 'pg';
import type { Db } from '../db/pool.js';
import { deriveIndexRows } from './derive.js';

/**
 * The advisory-lock class of the transactions that store a log's entries (mirror.ts commitPackages) and of a
 * backfill, which must not interleave with them: "mirr".
 */
export const MIRROR_COMMIT_LOCK = 0x6d697272;

/**
 * Indexes `entries`, the entries [first, first + n) of log (hostId, epoch) just stored by the caller's transaction
 * `c` (entries already held are not passed again). A run.end sets the end of the run whose start it names, only when
 * that start is a run.start of the same run id and no end was set before (the first end wins, as a scan of the log
 * would join them: ledger/runs.ts scanRuns). The tally (idx_tally) counts what went in.
 */
export async function indexEntries(c: PoolClient, hostId: number, epoch: number, first: number, entries: readonly Buffer[]): Promise<void> {
  const run = { idx: [] as number[], id: [] as string[], tool: [] as string[], usr: [] as string[], actor: [] as (string | null)[], ns: [] as string[], words: [] as (string | null)[] };
  const note = { idx: [] as number[], usr: [] as string[], actor: [] as (string | null)[], ns: [] as string[], words: [] as (string | null)[] };
  const file = { idx: [] as number[], role: [] as string[], sha: [] as (string | null)[], path: [] as string[] };
  const end = { start: [] as number[], idx: [] as number[], id: [] as string[], status: [] as string[], words: [] as (string | null)[] };
  const access = { idx: [] as number[], ns: [] as string[], usr: [] as string[], action: [] as string[], run: [] as (string | null)[], sha: [] as (string | null)[] };
  const endFor = new Set<number>();
  for (let i = 0; i < entries.length; i++) {
    const idx = first + i;
    const d = deriveIndexRows(idx, entries[i]!);
    if (d.run) {
      run.idx.push(idx);
      run.id.push(d.run.runId);
      run.tool.push(d.run.tool);
      run.usr.push(d.run.usr);
      run.actor.push(d.run.actor);
      run.ns.push(d.run.startedNs.toString());
      run.words.push(d.run.words);
    }
    // One end per start in a batch (UPDATE … FROM would pick one of several arbitrarily): the first, as above.
    if (d.runEnd && d.runEnd.start < idx && !endFor.has(d.runEnd.start)) {
      endFor.add(d.runEnd.start);
      end.start.push(d.runEnd.start);
      end.idx.push(idx);
      end.id.push(d.runEnd.runId);
      end.status.push(d.runEnd.status);
      end.words.push(d.runEnd.words);
    }
    if (d.note) {
      note.idx.push(idx);
      note.usr.push(d.note.usr);
      note.actor.push(d.note.actor);
      note.ns.push(d.note.timeNs.toString());
      note.words.push(d.note.words);
    }
    if (d.access) {
      // One row per run and per file it names; an event naming neither (a sign-in, a search) still gets one.
      const subjects: [string | null, string | null][] = [...d.access.runIds.map((r): [string, null] => [r, null]), ...d.access.sha256s.map((h): [null, string] => [null, h])];
      for (const [run, sha] of subjects.length > 0 ? subjects : [[null, null] as const]) {
        access.idx.push(idx);
        access.ns.push(d.access.timeNs.toString());
        access.usr.push(d.access.usr);
        access.action.push(d.access.action);
        access.run.push(run);
        access.sha.push(sha);
      }
    }
    for (const f of d.files) {
      file.idx.push(idx);
      file.role.push(f.role);
      file.sha.push(f.sha256);
      file.path.push(f.path);
    }
  }
  if (run.idx.length > 0) {
    await c.query(
      `INSERT INTO idx_runs (host_id, epoch, start_idx, run_id, tool, status, usr, actor, started_ns, words)
       SELECT $1, $2, r.idx, r.id, r.tool, 'incomplete', r.usr, r.actor, r.ns, r.words
         FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[]) AS r(idx, id, tool, usr, actor, ns, words)`,
      [hostId, epoch, run.idx, run.id, run.tool, run.usr, run.actor, run.ns, run.words],
    );
  }
  let ends = 0;
  if (end.idx.length > 0) {
    const r = await c.query(
      `UPDATE idx_runs r SET end_idx = e.idx, status = e.status,
              words = CASE WHEN r.words IS NULL OR e.words IS NULL THEN NULL ELSE r.words || chr(1114111) || e.words END
         FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[]) AS e(start, idx, id, status, words)
        WHERE r.host_id = $1 AND r.epoch = $2 AND r.start_idx = e.start AND r.run_id = e.id AND r.end_idx IS NULL`,
      [hostId, epoch, end.start, end.idx, end.id, end.status, end.words],
    );
    ends = r.rowCount ?? 0;
  }
  if (note.idx.length > 0) {
    await c.query(
      `INSERT INTO idx_notes (host_id, epoch, idx, usr, actor, time_ns, words)
       SELECT $1, $2, n.idx, n.usr, n.actor, n.ns, n.words
         FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[]) AS n(idx, usr, actor, ns, words)`,
      [hostId, epoch, note.idx, note.usr, note.actor, note.ns, note.words],
    );
  }
  if (file.idx.length > 0) {
    await c.query(
      `INSERT INTO idx_files (host_id, epoch, idx, role, sha256, path)
       SELECT $1, $2, f.idx, f.role, decode(f.sha, 'hex'), f.path
         FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[]) AS f(idx, role, sha, path)`,
      [hostId, epoch, file.idx, file.role, file.sha, file.path],
    );
  }
  if (access.idx.length > 0) {
    await c.query(
      `INSERT INTO idx_access (host_id, epoch, idx, time_ns, usr, action, run_id, sha256)
       SELECT $1, $2, a.idx, a.ns, a.usr, a.action, a.run, decode(a.sha, 'hex')
         FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[]) AS a(idx, ns, usr, action, run, sha)`,
      [hostId, epoch, access.idx, access.ns, access.usr, access.action, access.run, access.sha],
    );
  }
  // Wakes the live Runs pages (web/live.ts); PostgreSQL delivers it when this transaction commits, and not at all if it rolls back.
  if (run.idx.length > 0 || ends > 0) await c.query("SELECT pg_notify('ffaudit_runs', '')");
  // Always, even at zero: a tally row says the log's entries went through indexing (needsBackfill).
  if (entries.length > 0) {
    await c.query(
      `INSERT INTO idx_tally AS t (host_id, epoch, runs, ends, notes, files, access) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (host_id, epoch) DO UPDATE SET runs = t.runs + EXCLUDED.runs, ends = t.ends + EXCLUDED.ends, notes = t.notes + EXCLUDED.notes, files = t.files + EXCLUDED.files,
                                                  access = t.access + EXCLUDED.access`,
      [hostId, epoch, run.idx.length, ends, note.idx.length, file.idx.length, access.idx.length],
    );
  }
}

/** Entries read and indexed per transaction by backfillIndexes. */
const BACKFILL_CHUNK = 4096;

/**
 * Indexes every mirrored entry again, log by log and epoch by epoch: for a mirror stored before the indexes existed
 * (schema v3), or whose indexes were emptied. Idempotent: each log's rows are deleted and rebuilt while holding the
 * log's commit lock (so no add-entries interleaves), in one transaction per log. Returns the entries indexed.
 */
export async function backfillIndexes(db: Db, log: (line: string) => void = () => undefined): Promise<number> {
  const { rows: logs } = await db.pool.query<{ host_id: number; epoch: number }>('SELECT DISTINCT host_id, epoch FROM mirror_entries ORDER BY host_id, epoch');
  let total = 0;
  for (const { host_id: hostId, epoch } of logs) {
    const n = await db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashint8($2::bigint))', [MIRROR_COMMIT_LOCK, hostId]);
      for (const t of ['idx_runs', 'idx_notes', 'idx_files', 'idx_access', 'idx_tally']) await c.query(`DELETE FROM ${t} WHERE host_id = $1 AND epoch = $2`, [hostId, epoch]);
      let count = 0;
      for (let from = 0; ; from += BACKFILL_CHUNK) {
        const { rows } = await c.query<{ idx: number; data: Buffer }>('SELECT idx, data FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx >= $3 AND idx < $4 ORDER BY idx', [
          hostId,
          epoch,
          from,
          from + BACKFILL_CHUNK,
        ]);
        if (rows.length === 0) break;
        // The prefix invariant (mirror-tree.ts) makes the stored indices consecutive from 0.
        await indexEntries(c, hostId, epoch, Number(rows[0]!.idx), rows.map((r) => r.data));
        count += rows.length;
        if (rows.length < BACKFILL_CHUNK) break;
      }
      return count;
    });
    total += n;
    log(`search index: host ${hostId} epoch ${epoch}: ${n} entries indexed`);
  }
  return total;
}

/** True when the indexes must be filled at start: the schema came from before v3, or they are empty and entries are not. */
export async function needsBackfill(db: Db, migratedFrom: number): Promise<boolean> {
  if (migratedFrom > 0 && migratedFrom < 3) return true;
  const { rows } = await db.pool.query<{ e: boolean; t: boolean }>('SELECT EXISTS (SELECT 1 FROM mirror_entries) AS e, EXISTS (SELECT 1 FROM idx_tally) AS t');
  return rows[0]!.e && !rows[0]!.t;
}
