/**
 * Reading runs back. The runs and file indexes only say where to look (docs/design.md invariant 5): every run
 * returned is rebuilt from its entries, read through the ledger's checked reads (Ledger.scanEntries).
 */
import { parseEntry, resolveBlobs, type EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { Redaction } from '../core/entry.js';
import { runFromEntries, type RunEndEntry, type RunRecord, type RunStartEntry, type RunStatus, type Tool } from '../core/run.js';
import { formatTimeNs, parseTimeNs } from '../time/time.js';
import type { RunIndexRow, RunQuery } from '../store/types.js';
import type { Ledger } from './ledger.js';

/** Entry n, checked (Ledger.entry), parsed and with its blobs resolved (checked against their hashes). */
export function readEntry(ledger: Ledger, index: number): EntryBase {
  return resolveBlobs(parseEntry(ledger.entry(index)), (sha) => ledger.blob(sha));
}

export function runFromIndexRow(ledger: Ledger, row: RunIndexRow): RunRecord {
  const start = readEntry(ledger, row.startIndex);
  if (start.type !== 'run.start' || start.run !== row.id) throw new FfauditError('INTEGRITY', `the run index points run ${row.id} at entry ${row.startIndex}, which is not its start`);
  let end: EntryBase | undefined;
  if (row.endIndex !== null) {
    end = readEntry(ledger, row.endIndex);
    if (end.type !== 'run.end' || end.run !== row.id || end.start !== row.startIndex) {
      throw new FfauditError('INTEGRITY', `the run index points run ${row.id} at entry ${row.endIndex}, which is not its end`);
    }
  }
  return runFromEntries(row.startIndex, start as RunStartEntry, row.endIndex ?? undefined, end as RunEndEntry | undefined);
}

/** The shortest id prefix `findRun` accepts. */
export const MIN_ID_PREFIX = 6;

/** A run by id, by a unique prefix of its id, or by the index of either of its entries. */
export function findRun(ledger: Ledger, ref: string): RunRecord {
  const index = ledger.searchIndex();
  let row: RunIndexRow | undefined;
  if (/^(0|[1-9][0-9]*)$/.test(ref) && Number.isSafeInteger(Number(ref))) row = index.runByIndex(Number(ref));
  row ??= index.runById(ref);
  if (!row && ref.length >= MIN_ID_PREFIX) {
    const hits = index.runsByIdPrefix(ref, 2);
    if (hits.length > 1) throw new FfauditError('USAGE', `${ref} names more than one run; give more of the id`);
    row = hits[0];
  }
  if (!row) throw new FfauditError('NOT_FOUND', `no run ${JSON.stringify(ref)} in the ledger`);
  return runFromIndexRow(ledger, row);
}

/** Every run, oldest first. */
export function* listRuns(ledger: Ledger): Generator<RunRecord> {
  for (const row of ledger.searchIndex().runs()) yield runFromIndexRow(ledger, row);
}

/** What `ffaudit log` filters on. Every condition is re-checked on the run rebuilt from its entries. */
export interface RunFilter {
  user?: string;
  actor?: string;
  tool?: Tool;
  statuses?: RunStatus[];
  /** Nanoseconds since the epoch, bounds on the start time (inclusive). */
  sinceNs?: bigint;
  untilNs?: bigint;
  /** Runs that read or wrote a file with this content (SHA-256 hex, lower case). */
  sha256?: string;
  /** Runs that read or wrote this path (absolute, as recorded). */
  path?: string;
  /** Case-insensitive text searched in the argv, cwd, reason, actor and file paths. */
  grep?: string;
  /** Keep only the most recent `limit` matches. */
  limit?: number;
}

/** A run whose entries could not be read back as recorded; reported, not hidden. */
export interface UnreadableRun {
  /** The run id, or null when the entry could not be read far enough to know it. */
  id: string | null;
  startIndex: number;
  error: FfauditError;
}

function matchesFilter(r: RunRecord, f: RunFilter): boolean {
  if (f.user !== undefined && r.user !== f.user) return false;
  if (f.actor !== undefined && r.asserted_actor !== f.actor) return false;
  if (f.tool !== undefined && r.tool !== f.tool) return false;
  if (f.statuses !== undefined && !f.statuses.includes(r.status)) return false;
  if (f.sinceNs !== undefined || f.untilNs !== undefined) {
    const t = parseTimeNs(r.started_at);
    if (t === null) return false;
    if (f.sinceNs !== undefined && t < f.sinceNs) return false;
    if (f.untilNs !== undefined && t > f.untilNs) return false;
  }
  const files = [...r.inputs, ...r.outputs];
  if (f.sha256 !== undefined && !files.some((x) => x.sha256 === f.sha256)) return false;
  if (f.path !== undefined && !files.some((x) => x.path === f.path)) return false;
  if (f.grep !== undefined) {
    const needle = f.grep.toLowerCase();
    const hay = [...r.argv, r.cwd, r.reason ?? '', r.asserted_actor ?? '', ...files.map((x) => x.path)];
    if (!hay.some((h) => h.toLowerCase().includes(needle))) return false;
  }
  return true;
}

const PAGE = 512;

/**
 * Runs matching `f`, oldest first. The runs and file indexes narrow the search (fast on large ledgers); each
 * candidate is then rebuilt from its entries, whose leaf hashes are checked, and the filter applied again, so a
 * tampered index cannot make a run appear that does not match. Runs that cannot be rebuilt go to `unreadable`.
 */
export function queryRuns(ledger: Ledger, f: RunFilter): { runs: RunRecord[]; unreadable: UnreadableRun[] } {
  const q: RunQuery = { limit: PAGE };
  if (f.user !== undefined) q.user = f.user;
  if (f.tool !== undefined) q.tool = f.tool;
  if (f.statuses !== undefined) q.statuses = f.statuses.map((s) => (s === 'incomplete' ? null : s));
  // The index holds the start time as text; widen by a second on each side, the exact bound is applied after.
  if (f.sinceNs !== undefined) q.since = formatTimeNs(f.sinceNs - 1_000_000_000n);
  if (f.untilNs !== undefined) q.until = formatTimeNs(f.untilNs + 1_000_000_000n);
  if (f.sha256 !== undefined) q.fileSha256 = f.sha256;
  if (f.path !== undefined) q.filePath = f.path;
  const runs: RunRecord[] = [];
  const unreadable: UnreadableRun[] = [];
  const limit = f.limit ?? Infinity;
  const index = ledger.searchIndex();
  for (;;) {
    const rows = index.runsWhere(q);
    for (const row of rows) {
      let r: RunRecord;
      try {
        r = runFromIndexRow(ledger, row);
      } catch (e) {
        if (!(e instanceof FfauditError)) throw e;
        unreadable.push({ id: row.id, startIndex: row.startIndex, error: e });
        continue;
      }
      if (matchesFilter(r, f)) runs.push(r);
      if (runs.length >= limit) break;
    }
    if (rows.length < PAGE || runs.length >= limit) break;
    q.beforeStart = rows[rows.length - 1]!.startIndex;
  }
  return { runs: runs.reverse(), unreadable: unreadable.reverse() };
}

/** Everything recorded about one run: the joined record, plus what only its entries say. */
export interface RunDetails {
  record: RunRecord;
  redactions: Redaction[];
  notes: string[];
  policy: string | null;
}

export function runDetails(ledger: Ledger, ref: string): RunDetails {
  const record = findRun(ledger, ref);
  const start = readEntry(ledger, record.entries[0]!) as RunStartEntry;
  const end = record.entries[1] !== undefined ? (readEntry(ledger, record.entries[1]) as RunEndEntry) : undefined;
  const list = (v: unknown): Redaction[] => (Array.isArray(v) ? (v as Redaction[]) : []);
  // A run's end repeats the redactions of its start (each entry stands on its own in a bundle): one secret in one
  // place is listed once.
  const seen = new Set<string>();
  const redactions = [...list(start.redactions), ...list(end?.redactions)].filter((x) => {
    const key = JSON.stringify([x.where, x.kind, x.hmac]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return {
    record,
    redactions,
    notes: Array.isArray(end?.notes) ? end.notes.filter((n): n is string => typeof n === 'string') : [],
    policy: typeof start.policy === 'string' ? start.policy : null,
  };
}

const SCAN_CHUNK = 4096;

/**
 * Every run, oldest first, rebuilt from the log itself without the runs index: each entry is read in order through
 * the checked reads, and each `run.end` joined to the `run.start` it names. Slower than the
 * index, but an index row deleted or edited by someone with write access to the database cannot hide a run.
 * Entries that fail the check are reported in `unreadable` (by index), and an end that names no start is
 * reported too.
 */
export function scanRuns(ledger: Ledger, f: RunFilter): { runs: RunRecord[]; unreadable: UnreadableRun[] } {
  const starts = new Map<string, { index: number; entry: RunStartEntry }>();
  const ends = new Map<string, { index: number; entry: RunEndEntry }>();
  const order: string[] = [];
  const unreadable: UnreadableRun[] = [];
  const damaged = new Set<number>();
  const size = ledger.size();
  for (let from = 0; from < size; from += SCAN_CHUNK) {
    for (const e of ledger.scanEntries(from, Math.min(from + SCAN_CHUNK, size))) {
      if ('error' in e) {
        damaged.add(e.index);
        unreadable.push({ id: null, startIndex: e.index, error: e.error });
        continue;
      }
      let entry: EntryBase;
      try {
        entry = parseEntry(e.data);
      } catch {
        continue; // not a run entry we can read; verify reports malformed entries
      }
      if (entry.type === 'run.start' && typeof entry.run === 'string' && !starts.has(entry.run)) {
        starts.set(entry.run, { index: e.index, entry: entry as RunStartEntry });
        order.push(entry.run);
      } else if (entry.type === 'run.end' && typeof entry.run === 'string') {
        const start = starts.get(entry.run);
        if (typeof entry.start === 'number' && damaged.has(entry.start)) continue; // its start is already reported
        if (!start || start.index !== entry.start || ends.has(entry.run)) {
          unreadable.push({ id: entry.run, startIndex: e.index, error: new FfauditError('INTEGRITY', `entry ${e.index} ends run ${entry.run}, whose start is not entry ${String(entry.start)}`) });
          continue;
        }
        ends.set(entry.run, { index: e.index, entry: entry as RunEndEntry });
      }
    }
  }
  const runs: RunRecord[] = [];
  for (const id of order) {
    const s = starts.get(id)!;
    const end = ends.get(id);
    try {
      const start = resolveBlobs(s.entry, (sha) => ledger.blob(sha));
      const resolvedEnd = end ? resolveBlobs(end.entry, (sha) => ledger.blob(sha)) : undefined;
      const r = runFromEntries(s.index, start, end?.index, resolvedEnd);
      if (matchesFilter(r, f)) runs.push(r);
    } catch (e) {
      if (!(e instanceof FfauditError)) throw e;
      unreadable.push({ id, startIndex: s.index, error: e });
    }
  }
  return { runs: f.limit !== undefined ? runs.slice(-f.limit) : runs, unreadable };
}
