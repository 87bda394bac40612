/**
 * Searching runs and custody notes across every mirrored log in scope. The indexes (ingest.ts) narrow the search;
 * each candidate is then rebuilt from its mirrored entries (read.ts: leaf hash, blobs, shape) and the whole filter
 * applied again to the rebuilt record (the semantics of ledger/runs.ts matchesFilter and ledger/notes.ts
 * matchesNote, with `pathPrefix` a prefix): a tampered index row can hide nothing it did not point at and show nothing
 * that does not match. Hits that cannot be rebuilt are returned as `unreadable`, never as items.
 *
 * Order: (time, host id, entry index), newest or oldest first; pages are keyset ranges on that key, so a page is
 * stable when runs are added meanwhile (a new run is newer than every cursor, or lands in an order slot no page has
 * passed yet). Every value reaches SQL as a bound parameter; every statement has a row limit and a timeout.
 */
import type { PoolClient } from 'pg';
import { FfauditError } from '../../core/errors.js';
import type { EntryBase, NoteRecord } from '../../core/entry.js';
import type { RunRecord } from '../../core/run.js';
import { parseTimeNs } from '../../time/time.js';
import type { Db } from '../db/pool.js';
import { indexKey, indexText } from './derive.js';
import { blobRefs, checkedEntry, fetchBlobs, logsInScope, noteFrom, oneLine, readOnly, runFrom, type LogInfo } from './read.js';
import type { Cursor, LoggedNote, LoggedRun, Page, PageRequest, Scope, SearchFilter, Unreadable } from './types.js';

/** `total` counts up to this many matches; beyond, it is null. */
export const MAX_TOTAL = 10_000;
/** Index rows a page may examine (rows that fail the filter once rebuilt cost one each) before it ends early. */
const MAX_EXAMINED = 5_000;
/** Rows fetched per query while filling a page, at most. */
const MAX_BATCH = 1_000;
/** Page size of the streams (exports). */
export const STREAM_PAGE = 500;

type Kind = 'run' | 'note';

/** The SQL of one kind: its index table, its order key's columns, how its files are joined. */
const SPEC = {
  run: { table: 'idx_runs', time: 'started_ns', index: 'start_idx', roles: "('input', 'output')" },
  note: { table: 'idx_notes', time: 'time_ns', index: 'idx', roles: "('note')" },
} as const;

/**
 * Which candidates a text filter takes: `either` (what a page reads), only rows whose words hold the text, or only
 * rows without words (a field in a blob: the rebuilt record decides).
 */
type Words = 'either' | 'text' | 'blob';

/** Bound parameters, numbered as they are added. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown, cast: string): string {
    this.values.push(v);
    return `$${this.values.length}::${cast}`;
  }
}

/** The condition that an idx_files row `f` at one of the candidate's entries has a path starting with `p`. */
function pathRange(p: Params, prefix: string): string {
  // Byte order ("C") so the range is exactly the strings starting with the prefix: indexText never leaves U+10FFFF
  // in a stored path, so no path starting with the prefix sorts at or after prefix || U+10FFFF.
  const x = p.add(indexKey(prefix), 'text');
  return `f.path COLLATE "C" >= ${x} AND f.path COLLATE "C" < (${x} || chr(1114111)) COLLATE "C"`;
}

/**
 * The FROM item and WHERE conditions of a search: the candidates in the index, not yet ordered. A hash drives the
 * search from idx_files (few rows); so does a path prefix when there is no hash.
 */
function candidates(kind: Kind, logs: readonly LogInfo[], all: boolean, f: SearchFilter, p: Params, words: Words = 'either'): { from: string; where: string[] } {
  const s = SPEC[kind];
  const where: string[] = [];
  // Scope and the log/host filters, resolved to host ids by the caller; the epoch is each host's current one.
  if (!all) where.push(`r.host_id = ANY(${p.add(logs.map((l) => l.id), 'bigint[]')})`);
  where.push('EXISTS (SELECT 1 FROM hosts h WHERE h.id = r.host_id AND h.epoch = r.epoch)');
  if (f.user !== undefined) where.push(`r.usr = ${p.add(indexKey(f.user), 'text')}`);
  if (f.actor !== undefined) where.push(`r.actor = ${p.add(indexKey(f.actor), 'text')}`);
  if (kind === 'run' && f.tool !== undefined) where.push(`r.tool = ${p.add(f.tool, 'text')}`);
  if (kind === 'run' && f.statuses !== undefined) where.push(`r.status = ANY(${p.add(f.statuses, 'text[]')})`);
  if (f.sinceNs !== undefined) where.push(`r.${s.time} >= ${p.add(f.sinceNs.toString(), 'bigint')}`);
  if (f.untilNs !== undefined) where.push(`r.${s.time} <= ${p.add(f.untilNs.toString(), 'bigint')}`);
  if (f.grep !== undefined && f.grep !== '') {
    // A parameter is added only where it is used (PostgreSQL must infer every parameter's type).
    const needle = () => `position(${p.add(indexText(f.grep!.toLowerCase()), 'text')} in r.words) > 0`;
    where.push(words === 'either' ? `(r.words IS NULL OR ${needle()})` : words === 'text' ? `r.words IS NOT NULL AND ${needle()}` : 'r.words IS NULL');
  } else if (words !== 'either') {
    where.push(words === 'text' ? 'r.words IS NOT NULL' : 'r.words IS NULL');
  }
  // The entries of a candidate whose files count: a run's start and end, a note's own entry.
  const at = kind === 'run' ? '(f.idx = r.start_idx OR f.idx = r.end_idx)' : 'f.idx = r.idx';
  let from = `${s.table} r`;
  let fileCond: string | undefined;
  if (f.sha256 !== undefined) fileCond = `f.sha256 = ${p.add(Buffer.from(f.sha256, 'hex'), 'bytea')}`;
  else if (f.pathPrefix !== undefined) fileCond = pathRange(p, f.pathPrefix);
  if (fileCond !== undefined) {
    const files = `SELECT f.host_id, f.epoch, f.idx FROM idx_files f WHERE ${fileCond} AND f.role IN ${s.roles}`;
    // A file list moved into a blob ({"$blob": …}: an entry over 64 KiB, such as a run writing thousands of segments)
    // has no file rows; its run or note (words NULL, derive.ts) is a candidate whatever the file asked for, and the
    // rebuilt record decides, as for text.
    const blobbed = words === 'text' ? '' : ` UNION SELECT r.* FROM ${s.table} r WHERE r.words IS NULL`;
    from =
      kind === 'run'
        ? `(SELECT r.* FROM idx_runs r JOIN (${files}) f ON r.host_id = f.host_id AND r.epoch = f.epoch AND r.start_idx = f.idx
            UNION SELECT r.* FROM idx_runs r JOIN (${files}) f ON r.host_id = f.host_id AND r.epoch = f.epoch AND r.end_idx = f.idx${blobbed}) r`
        : `(SELECT DISTINCT r.* FROM idx_notes r JOIN (${files}) f ON r.host_id = f.host_id AND r.epoch = f.epoch AND r.idx = f.idx${blobbed}) r`;
  }
  if (f.sha256 !== undefined && f.pathPrefix !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM idx_files f WHERE f.host_id = r.host_id AND f.epoch = r.epoch AND ${at} AND f.role IN ${s.roles} AND ${pathRange(p, f.pathPrefix)})`);
  }
  return { from, where };
}

interface Row {
  host_id: number;
  idx: number;
  end_idx: number | null;
  ns: string;
  sdata: Buffer | null;
  sleaf: Buffer | null;
  edata: Buffer | null;
  eleaf: Buffer | null;
}

/** One batch of candidates after `after`, in order, with their entry bytes. */
async function fetchBatch(
  c: PoolClient,
  kind: Kind,
  logs: readonly LogInfo[],
  all: boolean,
  f: SearchFilter,
  order: 'asc' | 'desc',
  after: Cursor | undefined,
  limit: number,
  words: Words = 'either',
): Promise<Row[]> {
  const s = SPEC[kind];
  const p = new Params();
  const { from, where } = candidates(kind, logs, all, f, p, words);
  const dir = order === 'desc' ? 'DESC' : 'ASC';
  if (after) {
    where.push(
      `(r.${s.time}, r.host_id, r.${s.index}) ${order === 'desc' ? '<' : '>'} (${p.add(after.timeNs.toString(), 'bigint')}, ${p.add(after.hostId, 'bigint')}, ${p.add(after.index, 'bigint')})`,
    );
  }
  const end = kind === 'run' ? 'r.end_idx' : 'NULL::bigint';
  const sql = `
WITH k AS MATERIALIZED (
  SELECT r.host_id, r.epoch, r.${s.index} AS idx, ${end} AS end_idx, r.${s.time} AS t
    FROM ${from}
   WHERE ${where.join(' AND ')}
   ORDER BY r.${s.time} ${dir}, r.host_id ${dir}, r.${s.index} ${dir}
   LIMIT ${p.add(limit, 'int')})
SELECT k.host_id, k.idx, k.end_idx, k.t::text AS ns, s.data AS sdata, s.leaf AS sleaf, e.data AS edata, e.leaf AS eleaf
  FROM k
  LEFT JOIN mirror_entries s ON s.host_id = k.host_id AND s.epoch = k.epoch AND s.idx = k.idx
  LEFT JOIN mirror_entries e ON e.host_id = k.host_id AND e.epoch = k.epoch AND e.idx = k.end_idx
 ORDER BY k.t ${dir}, k.host_id ${dir}, k.idx ${dir}`;
  const { rows } = await c.query<Row>(sql, p.values);
  return rows.map((r) => ({ ...r, host_id: Number(r.host_id), idx: Number(r.idx), end_idx: r.end_idx === null ? null : Number(r.end_idx) }));
}

/** Rows without words that a count rebuilds to decide a text filter; beyond, the total is unknown (null). */
const MAX_COUNT_REBUILDS = 100;

/**
 * The number of matches, up to MAX_TOTAL, as the index counts them. With a text, hash or path filter, the rows whose
 * fields are in a blob (no words) are rebuilt and counted only if they match, so the count is what the pages return.
 */
async function countMatches(c: PoolClient, kind: Kind, logs: readonly LogInfo[], all: boolean, f: SearchFilter, origins: ReadonlyMap<number, string>): Promise<number | null> {
  // Text, a hash or a path: rows whose fields are in a blob are candidates the index cannot decide.
  const undecided = (f.grep !== undefined && f.grep !== '') || f.sha256 !== undefined || f.pathPrefix !== undefined;
  const p = new Params();
  const { from, where } = candidates(kind, logs, all, f, p, undecided ? 'text' : 'either');
  const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${from} WHERE ${where.join(' AND ')} LIMIT ${MAX_TOTAL + 1}) x`, p.values);
  let n = rows[0]!.n;
  if (undecided && n <= MAX_TOTAL) {
    const blobbed = await fetchBatch(c, kind, logs, all, f, 'asc', undefined, MAX_COUNT_REBUILDS + 1, 'blob');
    if (blobbed.length > MAX_COUNT_REBUILDS) return null;
    n += (await rebuild(c, kind, blobbed, origins, f)).filter((h) => 'item' in h && h.item !== null).length;
  }
  return n > MAX_TOTAL ? null : n;
}

function inRange(time: string, f: SearchFilter): boolean {
  if (f.sinceNs === undefined && f.untilNs === undefined) return true;
  const t = parseTimeNs(time);
  if (t === null) return false;
  return !((f.sinceNs !== undefined && t < f.sinceNs) || (f.untilNs !== undefined && t > f.untilNs));
}

function filesMatch(files: readonly { path: string; sha256: string | null }[], f: SearchFilter): boolean {
  if (f.sha256 !== undefined && !files.some((x) => x.sha256 === f.sha256)) return false;
  if (f.pathPrefix !== undefined && !files.some((x) => x.path.startsWith(f.pathPrefix!))) return false;
  return true;
}

function grepMatch(hay: readonly string[], f: SearchFilter): boolean {
  if (f.grep === undefined) return true;
  const needle = f.grep.toLowerCase();
  return hay.some((h) => h.toLowerCase().includes(needle));
}

/** ledger/runs.ts matchesFilter, with a path prefix. */
export function runMatches(r: RunRecord, f: SearchFilter): boolean {
  if (f.user !== undefined && r.user !== f.user) return false;
  if (f.actor !== undefined && r.asserted_actor !== f.actor) return false;
  if (f.tool !== undefined && r.tool !== f.tool) return false;
  if (f.statuses !== undefined && !f.statuses.includes(r.status)) return false;
  if (!inRange(r.started_at, f)) return false;
  const files = [...r.inputs, ...r.outputs];
  if (!filesMatch(files, f)) return false;
  return grepMatch([...r.argv, r.cwd, r.reason ?? '', r.asserted_actor ?? '', ...files.map((x) => x.path)], f);
}

/** ledger/notes.ts matchesNote, with a path prefix. */
export function noteMatches(n: NoteRecord, f: SearchFilter): boolean {
  if (f.user !== undefined && n.user !== f.user) return false;
  if (f.actor !== undefined && n.asserted_actor !== f.actor) return false;
  if (!inRange(n.time, f)) return false;
  if (!filesMatch(n.files, f)) return false;
  return grepMatch([n.text, n.asserted_actor ?? '', ...n.files.map((x) => x.path)], f);
}

type Hit<T> = { key: Cursor; item: T } | { key: Cursor; unreadable: Unreadable };

/** Rebuilds a batch of candidates, in order: an item (matching or not: null), or unreadable. */
async function rebuild(c: PoolClient, kind: Kind, rows: readonly Row[], origins: ReadonlyMap<number, string>, f: SearchFilter): Promise<Hit<LoggedRun | LoggedNote | null>[]> {
  const parsed = rows.map((row) => {
    let start: EntryBase | undefined;
    try {
      start = checkedEntry({ index: row.idx, data: row.sdata, leaf: row.sleaf });
      const end = row.end_idx === null ? undefined : checkedEntry({ index: row.end_idx, data: row.edata, leaf: row.eleaf });
      return { row, start, end };
    } catch (e) {
      // The run's id, when its start could be read: an unreadable end still names the run it belongs to.
      return { row, error: e, id: start !== undefined && typeof start.run === 'string' ? start.run : null };
    }
  });
  const names: string[] = [];
  for (const x of parsed) if (!('error' in x)) names.push(...blobRefs(x.start), ...(x.end ? blobRefs(x.end) : []));
  const blobs = await fetchBlobs(c, names);
  return parsed.map((x): Hit<LoggedRun | LoggedNote | null> => {
    const key: Cursor = { timeNs: BigInt(x.row.ns), hostId: x.row.host_id, index: x.row.idx };
    const log = origins.get(x.row.host_id) ?? '';
    const idOf = (): string | null => {
      if ('error' in x) return x.id ?? null;
      return typeof x.start.run === 'string' ? x.start.run : null;
    };
    try {
      if ('error' in x) throw x.error;
      if (kind === 'run') {
        const run = runFrom(x.row.idx, x.start, blobs, x.row.end_idx ?? undefined, x.end);
        return { key, item: runMatches(run, f) ? { ...run, log } : null };
      }
      const { record } = noteFrom(x.row.idx, x.start, blobs);
      return { key, item: noteMatches(record, f) ? { ...record, log } : null };
    } catch (e) {
      if (!(e instanceof FfauditError)) throw e;
      return { key, unreadable: { log, index: x.row.idx, id: kind === 'run' ? idOf() : null, error: oneLine(e) } };
    }
  });
}

/** The logs a filter reaches within a scope; `all` when no host condition is needed. */
async function resolveLogs(c: PoolClient, scope: Scope, f: SearchFilter): Promise<{ logs: LogInfo[]; all: boolean; origins: Map<number, string> }> {
  const logs = await logsInScope(c, scope, f.logs, f.hosts);
  const all = scope.hostIds === null && f.logs === undefined && f.hosts === undefined;
  return { logs, all, origins: new Map(logs.map((l) => [l.id, l.origin])) };
}

/** A page: the hits in order, and where to go on (null: no match is left). */
async function pageOf<T>(c: PoolClient, kind: Kind, scope: Scope, f: SearchFilter, page: PageRequest): Promise<{ hits: Hit<T>[]; next: Cursor | null; logs: LogInfo[]; all: boolean }> {
  const { logs, all, origins } = await resolveLogs(c, scope, f);
  const hits: Hit<T>[] = [];
  if (logs.length === 0) return { hits, next: null, logs, all };
  // A page holds at most `limit` hits, items and unreadable hits alike (so a damaged log cannot make one page
  // unbounded); it ends at the last hit it holds.
  let examined = 0;
  let after = page.after;
  let last: Cursor | undefined;
  for (;;) {
    // The first batch is exactly a page and one more; after rejections, twice what is still missing.
    const want = Math.min(MAX_BATCH, examined === 0 ? page.limit + 1 : 2 * (page.limit + 1 - hits.length) + 10);
    const rows = await fetchBatch(c, kind, logs, all, f, page.order, after, want);
    for (const h of await rebuild(c, kind, rows, origins, f)) {
      examined++;
      after = h.key;
      if ('item' in h && h.item === null) continue;
      if (hits.length === page.limit) return { hits, next: last!, logs, all }; // one more hit: there is a next page
      hits.push(h as Hit<T>);
      last = h.key;
    }
    if (rows.length < want) return { hits, next: null, logs, all };
    // Many candidates that the rebuilt records rejected (a tampered index, or a broad text filter): end the page early,
    // with a cursor at the last candidate examined, rather than run on without bound.
    if (examined >= MAX_EXAMINED) return { hits, next: hits.length === page.limit ? last! : (after ?? null), logs, all };
  }
}

async function search<T>(db: Db, kind: Kind, scope: Scope, f: SearchFilter, page: PageRequest): Promise<Page<T>> {
  if (!Number.isSafeInteger(page.limit) || page.limit < 1 || page.limit > 1000) throw new FfauditError('USAGE', 'limit: 1 to 1000');
  return readOnly(db, async (c) => {
    const { hits, next, logs, all } = await pageOf<T>(c, kind, scope, f, page);
    const total = logs.length === 0 ? 0 : await countMatches(c, kind, logs, all, f, new Map(logs.map((l) => [l.id, l.origin])));
    return {
      items: hits.flatMap((h) => ('item' in h ? [h.item] : [])),
      next,
      total,
      unreadable: hits.flatMap((h) => ('unreadable' in h ? [h.unreadable] : [])),
    };
  });
}

export function searchRuns(db: Db, scope: Scope, f: SearchFilter, page: PageRequest): Promise<Page<LoggedRun>> {
  return search<LoggedRun>(db, 'run', scope, f, page);
}

export function searchNotes(db: Db, scope: Scope, f: SearchFilter, page: PageRequest): Promise<Page<LoggedNote>> {
  return search<LoggedNote>(db, 'note', scope, f, page);
}

/**
 * Every match, oldest first, page by page (each page its own short transaction), unreadable hits in their place.
 * The next page is read while this one is handed out, so the database's time and ours overlap; at most two pages
 * are held, however slowly the consumer reads.
 */
async function* stream<T>(db: Db, kind: Kind, scope: Scope, f: SearchFilter): AsyncGenerator<T | { unreadable: Unreadable }> {
  const read = (after: Cursor | undefined) => readOnly(db, (c) => pageOf<T>(c, kind, scope, f, { limit: STREAM_PAGE, order: 'asc', ...(after ? { after } : {}) }));
  let ahead: ReturnType<typeof read> | undefined;
  try {
    let page = await read(undefined);
    for (;;) {
      ahead = page.next === null ? undefined : read(page.next);
      for (const h of page.hits) yield 'item' in h ? h.item : { unreadable: h.unreadable };
      if (ahead === undefined) return;
      page = await ahead;
      ahead = undefined;
    }
  } finally {
    // A consumer that stops early leaves a page being read: its failure, if any, is nobody's to report.
    ahead?.catch(() => undefined);
  }
}

export function streamRuns(db: Db, scope: Scope, f: SearchFilter): AsyncGenerator<LoggedRun | { unreadable: Unreadable }> {
  return stream<LoggedRun>(db, 'run', scope, f);
}

export function streamNotes(db: Db, scope: Scope, f: SearchFilter): AsyncGenerator<LoggedNote | { unreadable: Unreadable }> {
  return stream<LoggedNote>(db, 'note', scope, f);
}

/** The shortest id prefix findRunAcross accepts (ledger/runs.ts MIN_ID_PREFIX). */
export const MIN_ID_PREFIX = 6;

/**
 * A run by id, or by a unique prefix of at least 6 characters of its id, across the logs in scope (only `log`, an
 * origin, when given; then also by the index of either of its entries, as `ffaudit log RUN` takes locally).
 * NOT_FOUND when none; USAGE when the prefix names several runs; INTEGRITY when the run's entries cannot be read back.
 */
export async function findRunAcross(db: Db, scope: Scope, ref: string, log?: string): Promise<LoggedRun> {
  return readOnly(db, async (c) => {
    const logs = await logsInScope(c, scope, log === undefined ? undefined : [log]);
    const where = 'r.host_id = ANY($1::bigint[]) AND EXISTS (SELECT 1 FROM hosts h WHERE h.id = r.host_id AND h.epoch = r.epoch)';
    const ids = logs.map((l) => l.id);
    const lookup = async (cond: string, params: unknown[]): Promise<Row[]> => {
      const { rows } = await c.query<{ host_id: number; epoch: number; idx: number; end_idx: number | null; ns: string }>(
        `SELECT r.host_id, r.epoch, r.start_idx AS idx, r.end_idx, r.started_ns::text AS ns FROM idx_runs r WHERE ${where} AND ${cond} ORDER BY r.started_ns, r.host_id, r.start_idx LIMIT 10`,
        [ids, ...params],
      );
      const out: Row[] = [];
      for (const r of rows) {
        const e = await c.query<{ idx: number; data: Buffer; leaf: Buffer }>('SELECT idx, data, leaf FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx = ANY($3::bigint[])', [
          r.host_id,
          r.epoch,
          r.end_idx === null ? [r.idx] : [r.idx, r.end_idx],
        ]);
        const at = (i: number | null) => e.rows.find((x) => Number(x.idx) === i);
        out.push({ host_id: Number(r.host_id), idx: Number(r.idx), end_idx: r.end_idx === null ? null : Number(r.end_idx), ns: r.ns, sdata: at(Number(r.idx))?.data ?? null, sleaf: at(Number(r.idx))?.leaf ?? null, edata: at(r.end_idx)?.data ?? null, eleaf: at(r.end_idx)?.leaf ?? null });
      }
      return out;
    };
    const origins = new Map(logs.map((l) => [l.id, l.origin]));
    const resolve = async (rows: Row[], keep: (r: LoggedRun) => boolean): Promise<LoggedRun[]> => {
      const out: LoggedRun[] = [];
      for (const h of await rebuild(c, 'run', rows, origins, {})) {
        if ('unreadable' in h) throw new FfauditError('INTEGRITY', `run ${JSON.stringify(ref)} in ${h.unreadable.log}: ${h.unreadable.error}`);
        if (h.item !== null && keep(h.item as LoggedRun)) out.push(h.item as LoggedRun);
      }
      return out;
    };
    if (ids.length === 0) throw new FfauditError('NOT_FOUND', `no run ${JSON.stringify(ref)} on the server`);
    let found: LoggedRun[] = [];
    if (log !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(ref) && Number.isSafeInteger(Number(ref))) {
      found = await resolve(await lookup('(r.start_idx = $2::bigint OR r.end_idx = $2::bigint)', [ref]), (r) => r.entries.includes(Number(ref)));
    }
    if (found.length === 0) found = await resolve(await lookup('r.run_id = $2::text', [indexKey(ref)]), (r) => r.id === ref);
    if (found.length === 0 && ref.length >= MIN_ID_PREFIX) {
      const k = indexKey(ref);
      found = await resolve(await lookup('r.run_id COLLATE "C" >= $2::text AND r.run_id COLLATE "C" < ($2::text || chr(1114111)) COLLATE "C"', [k]), (r) => r.id.startsWith(ref));
      if (new Set(found.map((r) => `${r.log}\n${r.id}`)).size > 1) throw new FfauditError('USAGE', `${ref} names more than one run; give more of the id`);
    }
    if (found.length > 1 && new Set(found.map((r) => r.log)).size > 1) {
      throw new FfauditError('USAGE', `${ref} names runs in more than one log (${[...new Set(found.map((r) => r.log))].join(', ')}); give the log`);
    }
    if (found.length === 0) throw new FfauditError('NOT_FOUND', `no run ${JSON.stringify(ref)} on the server`);
    return found[0]!;
  });
}
