/**
 * How every search reads: in a READ ONLY transaction whose statements time out (a client's filter cannot hold a
 * connection or a snapshot for long), and how each hit is rebuilt from the mirrored entry bytes. The indexes only
 * said where to look: the entry must hash to its stored leaf (RFC 6962 §2.1 leaf hash), its blobs to their names,
 * and it must have the shape of what it claims to be, or the hit is reported as unreadable, never returned.
 */
import type { PoolClient } from 'pg';
import { isBlobRef, noteRecord, parseEntry, resolveBlobs, sha256Hex, type CustodyNote, type EntryBase, type NoteRecord } from '../../core/entry.js';
import { FfauditError, isFfauditError } from '../../core/errors.js';
import { hashLeaf } from '../../core/merkle.js';
import { checkCustodyNote, checkRunEnd, checkRunStart } from '../../core/run-shape.js';
import { runFromEntries, type RunRecord } from '../../core/run.js';
import type { Db } from '../db/pool.js';
import { isDatabaseUnavailable } from '../http.js';
import type { Scope } from './types.js';

let statementTimeoutMs = 10_000;

/** Every search statement's timeout (default 10 s): a statement cut short is a BUSY error (the API answers 503). */
export function setSearchStatementTimeout(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 1) throw new FfauditError('USAGE', 'the statement timeout is a positive number of milliseconds');
  statementTimeoutMs = ms;
}

export function searchStatementTimeout(): number {
  return statementTimeoutMs;
}

/** PostgreSQL's query_canceled: a statement timeout here (nothing else cancels a search). */
const QUERY_CANCELED = '57014';

/** Runs fn in a READ ONLY, REPEATABLE READ transaction (one snapshot for a page and its count) with the timeout set. */
export async function readOnly<T>(db: Db, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  let c: PoolClient;
  try {
    c = await db.pool.connect();
  } catch (e) {
    throw new FfauditError('STORE', `the database cannot be reached: ${(e as Error).message}`, { cause: e });
  }
  let failure: Error | undefined;
  const onError = (e: Error) => {
    failure ??= e;
  };
  c.on('error', onError);
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await c.query("SELECT set_config('statement_timeout', $1, true)", [`${statementTimeoutMs}ms`]);
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    if (isFfauditError(e)) throw e;
    if ((e as { code?: string }).code === QUERY_CANCELED) {
      throw new FfauditError('BUSY', `the search took longer than ${statementTimeoutMs} ms and was stopped; narrow the filter`, { cause: e });
    }
    // What the database said (an error with a SQLSTATE) or its being away is a store failure; anything else is a
    // fault of ours and stays one (the app answers 500 without details), not a database to try again.
    const sqlState = typeof (e as { code?: unknown }).code === 'string' && /^[0-9A-Z]{5}$/.test((e as { code: string }).code);
    if (!sqlState && !isDatabaseUnavailable(e)) throw e;
    throw new FfauditError('STORE', `the search failed in the database: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  } finally {
    c.off('error', onError);
    c.release(failure);
  }
}

/** A mirrored log a search reads: a host with an origin, at its current epoch (a reset's history is set aside). */
export interface LogInfo {
  id: number;
  epoch: number;
  origin: string;
  name: string;
}

/** The logs in scope, narrowed to the given origins and host names, by host id. */
export async function logsInScope(c: PoolClient, scope: Scope, origins?: readonly string[], names?: readonly string[]): Promise<LogInfo[]> {
  const where = ['origin IS NOT NULL'];
  const params: unknown[] = [];
  if (scope.hostIds !== null) where.push(`id = ANY($${params.push(scope.hostIds)}::bigint[])`);
  // PostgreSQL text holds no NUL: a value with one names no log (and would make the statement fail).
  const storable = (v: readonly string[]) => v.filter((x) => !x.includes('\u0000'));
  if (origins !== undefined) where.push(`origin = ANY($${params.push(storable(origins))}::text[])`);
  if (names !== undefined) where.push(`name = ANY($${params.push(storable(names))}::text[])`);
  const { rows } = await c.query<{ id: number; epoch: number; origin: string; name: string }>(`SELECT id, epoch, origin, name FROM hosts WHERE ${where.join(' AND ')} ORDER BY id`, params);
  return rows.map((r) => ({ id: Number(r.id), epoch: r.epoch, origin: r.origin, name: r.name }));
}

/** One stored entry as read for a rebuild: its index, bytes and leaf hash (undefined: not mirrored). */
export interface StoredEntry {
  index: number;
  data: Buffer | null;
  leaf: Buffer | null;
}

/** Entry bytes checked against their stored leaf hash, parsed. INTEGRITY when they are missing or do not hash. */
export function checkedEntry(e: StoredEntry): EntryBase {
  if (e.data === null || e.leaf === null) throw new FfauditError('INTEGRITY', `entry ${e.index} is indexed but not mirrored`);
  if (!hashLeaf(e.data).equals(e.leaf)) throw new FfauditError('INTEGRITY', `entry ${e.index} does not hash to its stored leaf`);
  try {
    return parseEntry(e.data);
  } catch (err) {
    throw new FfauditError('INTEGRITY', `entry ${e.index}: ${(err as Error).message}`);
  }
}

/** The blob names (SHA-256 hex) an entry refers to with {"$blob": …}. */
export function blobRefs(e: EntryBase): string[] {
  const out: string[] = [];
  for (const v of Object.values(e)) if (isBlobRef(v)) out.push(v.$blob);
  return out;
}

/** Blobs by name from the `blobs` table, checked against their names by resolveBlobs. */
export async function fetchBlobs(c: PoolClient, names: Iterable<string>): Promise<Map<string, Buffer>> {
  const want = [...new Set(names)];
  const out = new Map<string, Buffer>();
  if (want.length === 0) return out;
  const { rows } = await c.query<{ sha256: Buffer; data: Buffer }>('SELECT sha256, data FROM blobs WHERE sha256 = ANY($1::bytea[])', [want.map((h) => Buffer.from(h, 'hex'))]);
  for (const r of rows) out.set(r.sha256.toString('hex'), r.data);
  return out;
}

/** A blob's bytes when they hash to its name; undefined otherwise (resolveBlobs then reports it). */
export function checkedBlob(blobs: ReadonlyMap<string, Buffer>, sha: string): Buffer | undefined {
  const b = blobs.get(sha);
  if (b === undefined) return undefined;
  if (sha256Hex(b) !== sha) throw new FfauditError('INTEGRITY', `blob ${sha} does not match its hash`);
  return b;
}

/**
 * A run from its start (and end) entries, already checked and parsed: the end must name this start and run id, both
 * must have a run's shape once their blobs are resolved. Throws INTEGRITY, with the entry index, otherwise.
 */
export function runFrom(startIndex: number, start: EntryBase, blobs: ReadonlyMap<string, Buffer>, endIndex?: number, end?: EntryBase): RunRecord {
  if (start.type !== 'run.start') throw new FfauditError('INTEGRITY', `the index points a run at entry ${startIndex}, which is not a run start`);
  const s = checkRunStart(resolveBlobs(start, (sha) => checkedBlob(blobs, sha)));
  if (typeof s === 'string') throw new FfauditError('INTEGRITY', `entry ${startIndex} is a malformed run start: ${s}`);
  if (end === undefined || endIndex === undefined) return runFromEntries(startIndex, s);
  if (end.type !== 'run.end' || end.run !== s.run || end.start !== startIndex) {
    throw new FfauditError('INTEGRITY', `the index points run ${s.run} at entry ${endIndex}, which is not its end`);
  }
  const en = checkRunEnd(resolveBlobs(end, (sha) => checkedBlob(blobs, sha)));
  if (typeof en === 'string') throw new FfauditError('INTEGRITY', `entry ${endIndex} is a malformed run end: ${en}`);
  return runFromEntries(startIndex, s, endIndex, en);
}

/** A custody note as `log --json` prints it (ledger/notes.ts scanNotes), from its checked, parsed entry. */
export function noteFrom(index: number, e: EntryBase, blobs: ReadonlyMap<string, Buffer>): { record: NoteRecord; note: CustodyNote } {
  if (e.type !== 'custody.note') throw new FfauditError('INTEGRITY', `the index points a note at entry ${index}, which is not a custody note`);
  const n = checkCustodyNote(resolveBlobs(e, (sha) => checkedBlob(blobs, sha)));
  if (typeof n === 'string') throw new FfauditError('INTEGRITY', `entry ${index} is a malformed custody note: ${n}`);
  return { note: n, record: noteRecord(index, n) };
}

/** An error's one line for an Unreadable (never a stack). */
export function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}
