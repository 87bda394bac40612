/**
 * The mirrored logs as one LineageLookup (lineage/lookup.ts): content hash → idx_files → the run or note entries →
 * rebuilt from the mirrored bytes (read.ts). A Step's `log` is the origin of the log that holds it, so a lineage
 * walks from one host's log to another's where a file produced on one was read on the other (lineage/walk.ts orders
 * such steps by their recorded times).
 */
import type { PoolClient } from 'pg';
import { FfauditError } from '../../core/errors.js';
import type { LineageLookup, NoteStep, Step } from '../../lineage/lookup.js';
import { walkLineage, type Lineage } from '../../lineage/walk.js';
import type { RunRecord } from '../../core/run.js';
import type { Db } from '../db/pool.js';
import { blobRefs, checkedEntry, fetchBlobs, logsInScope, noteFrom, readOnly, runFrom, type LogInfo } from './read.js';
import type { Scope } from './types.js';

/** The most runs or notes one lookup returns: a content read by more is refused rather than walked without bound. */
export const MAX_STEPS = 10_000;

interface Key {
  hostId: number;
  epoch: number;
  idx: number;
  endIdx: number | null;
}

/** Entry bytes and leaves of many (host, epoch, index) keys in one query. */
async function entriesAt(c: PoolClient, keys: readonly { hostId: number; epoch: number; idx: number }[]): Promise<Map<string, { data: Buffer; leaf: Buffer }>> {
  const out = new Map<string, { data: Buffer; leaf: Buffer }>();
  if (keys.length === 0) return out;
  const { rows } = await c.query<{ host_id: number; epoch: number; idx: number; data: Buffer; leaf: Buffer }>(
    `SELECT e.host_id, e.epoch, e.idx, e.data, e.leaf FROM mirror_entries e
       JOIN unnest($1::bigint[], $2::int[], $3::bigint[]) AS k(h, ep, i) ON e.host_id = k.h AND e.epoch = k.ep AND e.idx = k.i`,
    [keys.map((k) => k.hostId), keys.map((k) => k.epoch), keys.map((k) => k.idx)],
  );
  for (const r of rows) out.set(`${Number(r.host_id)}/${r.epoch}/${Number(r.idx)}`, { data: r.data, leaf: r.leaf });
  return out;
}

const at = (m: Map<string, { data: Buffer; leaf: Buffer }>, hostId: number, epoch: number, idx: number) => {
  const e = m.get(`${hostId}/${epoch}/${idx}`);
  return { index: idx, data: e?.data ?? null, leaf: e?.leaf ?? null };
};

/** How long a count check of the index against its tallies (indexProblems) is reused while the tallies are unchanged. */
let indexCheckReuseMs = 60_000;
/** Per log (host and epoch): the tallies counted against, when, and what was found. */
const recentIndexChecks = new Map<string, { tally: string; at: number; problems: string[] }>();

/** Sets how long a count check is reused (default 60 s; 0: every trace counts again). Forgets the checks made. */
export function setIndexCheckReuse(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new FfauditError('USAGE', 'the index check reuse is a number of milliseconds');
  indexCheckReuseMs = ms;
  recentIndexChecks.clear();
}

export class MirrorLookup implements LineageLookup {
  private logs: Promise<LogInfo[]> | undefined;
  private blobbed: Promise<Key[]> | undefined;
  private readonly runs = new Map<string, RunRecord>();

  constructor(
    private readonly db: Db,
    private readonly scope: Scope,
  ) {}

  /** The logs in scope (read once per lookup), by host id. */
  private inScope(c: PoolClient): Promise<LogInfo[]> {
    this.logs ??= logsInScope(c, this.scope);
    return this.logs;
  }

  private async runSteps(c: PoolClient, keys: Key[]): Promise<Step[]> {
    const logs = new Map((await this.inScope(c)).map((l) => [l.id, l]));
    keys = keys.filter((k) => logs.get(k.hostId)?.epoch === k.epoch);
    if (keys.length > MAX_STEPS) throw new FfauditError('TOO_LARGE', `more than ${MAX_STEPS} runs name this content`);
    const missing = keys.filter((k) => !this.runs.has(`${k.hostId}/${k.idx}`));
    const entries = await entriesAt(c, missing.flatMap((k) => (k.endIdx === null ? [k] : [k, { ...k, idx: k.endIdx }])));
    const parsed = missing.map((k) => ({
      k,
      start: checkedEntry(at(entries, k.hostId, k.epoch, k.idx)),
      end: k.endIdx === null ? undefined : checkedEntry(at(entries, k.hostId, k.epoch, k.endIdx)),
    }));
    const blobs = await fetchBlobs(c, parsed.flatMap((p) => [...blobRefs(p.start), ...(p.end ? blobRefs(p.end) : [])]));
    for (const p of parsed) {
      const log = logs.get(p.k.hostId)!;
      try {
        this.runs.set(`${p.k.hostId}/${p.k.idx}`, runFrom(p.k.idx, p.start, blobs, p.k.endIdx ?? undefined, p.end));
      } catch (e) {
        throw e instanceof FfauditError ? new FfauditError(e.code, `${log.origin}: ${e.message}`) : e;
      }
    }
    const seen = new Set<string>();
    const out: Step[] = [];
    for (const k of keys) {
      const id = `${k.hostId}/${k.idx}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ log: logs.get(k.hostId)!.origin, run: this.runs.get(id)! });
    }
    return out;
  }

  /**
   * Runs whose file lists are in a blob have no file rows (query.ts candidates): each is a step to check for every
   * content, and the walk keeps it only if its own record names the content. Read once per lookup.
   */
  private blobbedRuns(c: PoolClient, logs: readonly LogInfo[]): Promise<Key[]> {
    this.blobbed ??= c
      .query<{ host_id: number; epoch: number; idx: number; end_idx: number | null }>(
        `SELECT r.host_id, r.epoch, r.start_idx AS idx, r.end_idx FROM idx_runs r WHERE r.words IS NULL AND r.host_id = ANY($1::bigint[]) LIMIT ${MAX_STEPS + 1}`,
        [logs.map((l) => l.id)],
      )
      .then(({ rows }) => rows.map((r) => ({ hostId: Number(r.host_id), epoch: r.epoch, idx: Number(r.idx), endIdx: r.end_idx === null ? null : Number(r.end_idx) })));
    return this.blobbed;
  }

  /** Runs joined to the file rows of `role` for the content, by the entry (`start_idx` or `end_idx`) that names it. */
  private async filesToRuns(sha256: string, role: 'input' | 'output', via: ('start_idx' | 'end_idx')[]): Promise<Step[]> {
    return readOnly(this.db, async (c) => {
      const logs = await this.inScope(c);
      const keys: Key[] = [];
      for (const col of via) {
        const { rows } = await c.query<{ host_id: number; epoch: number; idx: number; end_idx: number | null }>(
          `SELECT DISTINCT r.host_id, r.epoch, r.start_idx AS idx, r.end_idx
             FROM idx_files f JOIN idx_runs r ON r.host_id = f.host_id AND r.epoch = f.epoch AND r.${col} = f.idx
            WHERE f.sha256 = $1 AND f.role = $2 AND f.host_id = ANY($3::bigint[])
            LIMIT ${MAX_STEPS + 1}`,
          [Buffer.from(sha256, 'hex'), role, logs.map((l) => l.id)],
        );
        for (const r of rows) keys.push({ hostId: Number(r.host_id), epoch: r.epoch, idx: Number(r.idx), endIdx: r.end_idx === null ? null : Number(r.end_idx) });
      }
      return this.runSteps(c, [...keys, ...(await this.blobbedRuns(c, logs))]);
    });
  }

  producersOf(sha256: string): Promise<Step[]> {
    return this.filesToRuns(sha256, 'output', ['end_idx']);
  }

  readersOf(sha256: string): Promise<Step[]> {
    return this.filesToRuns(sha256, 'input', ['start_idx', 'end_idx']);
  }

  notesNaming(sha256: string): Promise<NoteStep[]> {
    return readOnly(this.db, async (c) => {
      const logs = new Map((await this.inScope(c)).map((l) => [l.id, l]));
      const { rows } = await c.query<{ host_id: number; epoch: number; idx: number }>(
        `SELECT f.host_id, f.epoch, f.idx FROM idx_files f WHERE f.sha256 = $1 AND f.role = 'note' AND f.host_id = ANY($2::bigint[])
         UNION SELECT n.host_id, n.epoch, n.idx FROM idx_notes n WHERE n.words IS NULL AND n.host_id = ANY($2::bigint[]) -- files in a blob
         ORDER BY 1, 3 LIMIT ${MAX_STEPS + 1}`,
        [Buffer.from(sha256, 'hex'), [...logs.keys()]],
      );
      const keys = rows.map((r) => ({ hostId: Number(r.host_id), epoch: r.epoch, idx: Number(r.idx) })).filter((k) => logs.get(k.hostId)?.epoch === k.epoch);
      if (keys.length > MAX_STEPS) throw new FfauditError('TOO_LARGE', `more than ${MAX_STEPS} custody notes name this content`);
      const entries = await entriesAt(c, keys);
      const parsed = keys.map((k) => ({ k, e: checkedEntry(at(entries, k.hostId, k.epoch, k.idx)) }));
      const blobs = await fetchBlobs(c, parsed.flatMap((p) => blobRefs(p.e)));
      return parsed.map((p) => ({ log: logs.get(p.k.hostId)!.origin, index: p.k.idx, note: noteFrom(p.k.idx, p.e, blobs).note }));
    });
  }

  /**
   * Per log in scope, the index rows against what its entries gave when they were indexed (idx_tally, written in the
   * same transactions): a row deleted since (which could hide a producer and turn a rendered file into a "source")
   * shows as a count below its tally. One count query over the logs in scope; re-verification (reverify.ts) checks
   * the entries themselves.
   */
  indexProblems(): Promise<string[]> {
    return readOnly(this.db, async (c) => {
      const logs = await this.inScope(c);
      // Counting every index row of every log costs a scan of millions of rows: a log whose tallies are the ones
      // counted against less than a minute ago (setIndexCheckReuse) keeps that count, and only the others are counted
      // again. The tallies move with every ingest into a log (the server's own access log moves with every page), so a
      // reused check is of the very index state asked about, give or take a row deleted without touching the tally
      // within that window (which anyone able to delete rows could hide by editing the tally as well: the count check
      // is a guard against damage, the re-verification of the entries is the proof).
      const { rows: tallies } = await c.query<{ host_id: number; epoch: number; runs: number; ends: number; notes: number; files: number; access: number }>(
        'SELECT host_id, epoch, runs, ends, notes, files, access FROM idx_tally WHERE host_id = ANY($1::bigint[])',
        [logs.map((l) => l.id)],
      );
      const tallyOf = new Map(tallies.map((t) => [`${t.host_id}/${t.epoch}`, `${t.runs}/${t.ends}/${t.notes}/${t.files}/${t.access}`]));
      const now = performance.now();
      const keyOf = (l: LogInfo) => `${l.id}/${l.epoch}`;
      const stale = logs.filter((l) => {
        const r = recentIndexChecks.get(keyOf(l));
        return !(r && r.tally === (tallyOf.get(keyOf(l)) ?? 'none') && now - r.at < indexCheckReuseMs);
      });
      if (stale.length > 0) {
        const { rows } = await c.query<{ id: number; t: boolean; runs: number; ends: number; notes: number; files: number; access: number; r: number; e: number; n: number; f: number; a: number; m: boolean }>(
          `SELECT h.id, t.host_id IS NOT NULL AS t, t.runs, t.ends, t.notes, t.files, t.access,
                  (SELECT count(*) FROM idx_runs r WHERE r.host_id = h.id AND r.epoch = h.epoch) AS r,
                  (SELECT count(*) FROM idx_runs r WHERE r.host_id = h.id AND r.epoch = h.epoch AND r.end_idx IS NOT NULL) AS e,
                  (SELECT count(*) FROM idx_notes n WHERE n.host_id = h.id AND n.epoch = h.epoch) AS n,
                  (SELECT count(*) FROM idx_files f WHERE f.host_id = h.id AND f.epoch = h.epoch) AS f,
                  (SELECT count(*) FROM idx_access a WHERE a.host_id = h.id AND a.epoch = h.epoch) AS a,
                  EXISTS (SELECT 1 FROM mirror_entries m WHERE m.host_id = h.id AND m.epoch = h.epoch) AS m
             FROM hosts h LEFT JOIN idx_tally t ON t.host_id = h.id AND t.epoch = h.epoch
            WHERE h.id = ANY($1::bigint[]) ORDER BY h.id`,
          [stale.map((l) => l.id)],
        );
        if (recentIndexChecks.size + stale.length > 10_000) recentIndexChecks.clear();
        for (const l of stale) {
          const r = rows.find((x) => Number(x.id) === l.id);
          const problems: string[] = [];
          if (r && !r.t) {
            if (r.m) problems.push(`${l.origin}: its mirrored entries are not indexed`);
          } else if (r) {
            const check = (what: string, tally: number, n: number) => {
              if (Number(tally) !== Number(n)) problems.push(`${l.origin}: its entries gave ${Number(tally)} ${what}, the index holds ${Number(n)}`);
            };
            check('runs', r.runs, r.r);
            check('run ends', r.ends, r.e);
            check('custody notes', r.notes, r.n);
            check('file records', r.files, r.f);
            check('access records', r.access, r.a);
          }
          recentIndexChecks.set(keyOf(l), { tally: tallyOf.get(keyOf(l)) ?? 'none', at: now, problems });
        }
      }
      return logs.flatMap((l) => recentIndexChecks.get(keyOf(l))?.problems ?? []);
    });
  }
}

/**
 * The lineage of the content `file.sha256` across the logs in scope (lineage/walk.ts walkLineage). The trace's own
 * log is the origin of the run that produced the file (the oldest, if several did), else of the first run that read
 * it, else of the first custody note naming it, else the first log in scope: runs and notes of any other log carry
 * their `log`.
 */
export async function traceAcross(db: Db, scope: Scope, file: { path: string; sha256: string }): Promise<Lineage> {
  const lookup = new MirrorLookup(db, scope);
  const sha = file.sha256.toLowerCase();
  const first = (steps: Step[]) =>
    [...steps].sort((a, b) => (a.run.started_at < b.run.started_at ? -1 : a.run.started_at > b.run.started_at ? 1 : a.log < b.log ? -1 : a.log > b.log ? 1 : 0))[0]?.log;
  let home = first((await lookup.producersOf(sha)).filter((s) => s.run.entries[1] !== undefined && s.run.outputs.some((o) => o.sha256 === sha)));
  home ??= first((await lookup.readersOf(sha)).filter((s) => s.run.inputs.some((i) => i.sha256 === sha)));
  home ??= (await lookup.notesNaming(sha))[0]?.log;
  home ??= (await readOnly(db, (c) => logsInScope(c, scope)))[0]?.origin;
  if (home === undefined) throw new FfauditError('NOT_FOUND', 'no mirrored log is in scope');
  return walkLineage(lookup, home, { path: file.path, sha256: sha });
}
