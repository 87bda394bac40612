/**
 * The embedded SQLite backend (better-sqlite3 12).
 *
 * Durability: WAL journal with synchronous=FULL, so a transaction that returned has its WAL frames fsync'ed:
 * an acknowledged entry survives a crash or power loss. Concurrency: every append runs in BEGIN IMMEDIATE, so
 * writers are serialised by SQLite's own lock and each gets the next index; a writer that finds the lock taken
 * waits (busy timeout) up to BUSY_TIMEOUT_MS, then fails with a clear error instead of waiting forever.
 */
import * as crypto from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { SHA256_HEX } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { AppendTx, CosignatureRow, DerivedRows, Head, IndexTx, RunIndexRow, RunQuery, Store, StoredEntry, TimestampRow } from './types.js';

export const BUSY_TIMEOUT_MS = 60_000;

const APPEND_ONLY = ['entries', 'nodes', 'checkpoints', 'meta', 'blobs', 'cosignatures', 'timestamps'] as const;

/**
 * The layout this code writes (meta 'schema'). Layout 3 added the cosignatures table, layout 4 the timestamps table.
 * A database of layout 2 or 3 is read as it is (it holds no cosignatures or no timestamps) and migrated to 4 by its
 * first write (migrate); any other is refused.
 */
export const SCHEMA_VERSION = '4';
/** The layouts this code reads: its own, and the ones it migrates from. */
const READABLE_LAYOUTS = new Set([SCHEMA_VERSION, '3', '2']);

/**
 * The file indexes are split into segments of this many entries, the segment leading the key: rows for new
 * entries then land in the newest segment's small B-tree instead of pages all over one tree keyed by hash, which
 * is what made filling them slow on a large log. A lookup seeks once per segment.
 */
export const INDEX_SEGMENT = 65_536;
const segmentOf = (index: number) => Math.floor(index / INDEX_SEGMENT);
/**
 * The segments 0…max, for a lookup to join with (CROSS JOIN keeps it the outer loop: one seek per segment). The
 * count is bounded by the segments the indexed log can have (the bound parameter), not only by what the table
 * holds: a forged row in segment 2^40 must not make every lookup count to it.
 */
const SEGMENTS = (table: string, name = 'segment') =>
  `${name}(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM ${name} WHERE n < min((SELECT max(seg) FROM ${table}), ?))`;

// Derived indexes (conveniences, never evidence), filled after the fact up to index_state.size; whoever fills them
// creates any that are missing, so dropping them only costs a rebuild.
const DERIVED_SCHEMA = `
-- Files by content (32-byte SHA-256) and by path (the first 48 bits of SHA-256(path), confirmed by readers against
-- the entry), each within its segment of the log (INDEX_SEGMENT).
CREATE TABLE IF NOT EXISTS file_by_hash (seg INTEGER NOT NULL, sha256 BLOB NOT NULL, idx INTEGER NOT NULL, role TEXT NOT NULL,
  PRIMARY KEY (seg, sha256, idx, role)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_by_path (seg INTEGER NOT NULL, path_key INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (seg, path_key, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, start_idx INTEGER NOT NULL, end_idx INTEGER, tool TEXT NOT NULL,
  user TEXT NOT NULL, time TEXT NOT NULL, status TEXT);
CREATE INDEX IF NOT EXISTS runs_start ON runs (start_idx);
CREATE INDEX IF NOT EXISTS runs_end ON runs (end_idx);
CREATE TABLE IF NOT EXISTS index_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
`;

const TEMP_DERIVED_SCHEMA = DERIVED_SCHEMA.replace(/CREATE TABLE IF NOT EXISTS/g, 'CREATE TEMP TABLE IF NOT EXISTS').replace(
  /CREATE INDEX IF NOT EXISTS (\w+)/g,
  'CREATE INDEX IF NOT EXISTS temp.$1',
);

/**
 * Cosignatures returned for this log's checkpoints (types.ts CosignatureRow), one row per cosigner and checkpoint:
 * two roots cosigned at one size by one key (a misbehaving server) are both kept, as evidence.
 */
const COSIGNATURES_TABLE = `
CREATE TABLE IF NOT EXISTS cosignatures (size INTEGER NOT NULL, root BLOB NOT NULL, name TEXT NOT NULL, key_id BLOB NOT NULL,
  timestamp INTEGER NOT NULL, line TEXT NOT NULL, checkpoint TEXT NOT NULL, server TEXT NOT NULL, PRIMARY KEY (size, root, name, key_id)) WITHOUT ROWID;
`;

/**
 * RFC 3161 time-stamp tokens over this log's checkpoints (types.ts TimestampRow), one row per token, keyed by the
 * token's SHA-256: a token over a checkpoint's note body, or (renews set) an archive timestamp over an earlier token
 * (RFC 4998 §5.2: the later token covers the hash of the earlier one), which carries its checkpoint along.
 */
const TIMESTAMPS_TABLE = `
CREATE TABLE IF NOT EXISTS timestamps (token_hash BLOB PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, checkpoint TEXT NOT NULL,
  renews BLOB, tsa TEXT NOT NULL, gen_time TEXT NOT NULL, signer_not_after TEXT NOT NULL, token BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timestamps_size ON timestamps (size);
`;

const appendOnly = (t: string) => `
CREATE TRIGGER IF NOT EXISTS ${t}_no_update BEFORE UPDATE ON ${t} BEGIN SELECT RAISE(ABORT, 'ffaudit: ${t} are append-only'); END;
CREATE TRIGGER IF NOT EXISTS ${t}_no_delete BEFORE DELETE ON ${t} BEGIN SELECT RAISE(ABORT, 'ffaudit: ${t} are append-only'); END;`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, codec TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
${COSIGNATURES_TABLE}
${TIMESTAMPS_TABLE}
${DERIVED_SCHEMA}
${APPEND_ONLY.map(appendOnly).join('')}
CREATE TRIGGER IF NOT EXISTS head_no_delete BEFORE DELETE ON head BEGIN SELECT RAISE(ABORT, 'ffaudit: the head is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS head_no_shrink BEFORE UPDATE ON head WHEN NEW.size < OLD.size
  BEGIN SELECT RAISE(ABORT, 'ffaudit: the log never shrinks'); END;
`;

export const EXPECTED_TRIGGERS = [...APPEND_ONLY.flatMap((t) => [`${t}_no_update`, `${t}_no_delete`]), 'head_no_delete', 'head_no_shrink'];
/** What a database of an earlier layout has: layout 3 lacks the timestamps table's triggers, layout 2 also the cosignatures table's. */
const LAYOUT_TRIGGERS = new Map([
  ['3', EXPECTED_TRIGGERS.filter((t) => !t.startsWith('timestamps_'))],
  ['2', EXPECTED_TRIGGERS.filter((t) => !t.startsWith('timestamps_') && !t.startsWith('cosignatures_'))],
]);

const RUN_COLUMNS = 'id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status';
const COSIGNATURE_COLUMNS = 'size, root, name, key_id AS keyId, timestamp, line, checkpoint, server';
const TIMESTAMP_COLUMNS = 'token_hash AS tokenHash, size, root, checkpoint, renews, tsa, gen_time AS genTime, signer_not_after AS signerNotAfter, token';

/** Every statement the store runs, with how its rows come back. */
const SQL = {
  meta: ['SELECT value FROM meta WHERE key = ?'],
  setMeta: ['INSERT INTO meta (key, value) VALUES (?, ?)'],
  head: ['SELECT size, note FROM head WHERE id = 1'],
  // The head row is updated in place; inserted only by the first append (an upsert costs more on every append).
  updateHead: ['UPDATE head SET size = ?, note = ? WHERE id = 1'],
  insertHead: ['INSERT INTO head (id, size, note) VALUES (1, ?, ?)'],
  keep: ['INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?, ?)'],
  entry: ['SELECT idx, leaf, data FROM entries WHERE idx = ?'],
  entries: ['SELECT idx, leaf, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx', 'raw'],
  entryData: ['SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx', 'raw'],
  // instr() on two BLOBs compares bytes (SQLite core functions: "the arguments are both BLOBs").
  indicesContaining: ["SELECT idx FROM entries WHERE idx >= ? AND idx < ? AND typeof(data) = 'blob' AND instr(data, ?) > 0 ORDER BY idx", 'pluck'],
  leafAndData: [
    `SELECT idx, CASE WHEN typeof(leaf) = 'blob' AND length(leaf) = 32 AND typeof(data) = 'blob' THEN CAST(leaf || X'00' || data AS BLOB) END
     FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`,
    'raw',
  ],
  entriesOutside: ['SELECT idx, leaf, data FROM entries WHERE idx < 0 OR idx >= ? ORDER BY idx LIMIT ?'],
  maxIdx: ['SELECT max(idx) AS m FROM entries'],
  count: ['SELECT count(*) AS c FROM entries'],
  node: ['SELECT hash FROM nodes WHERE level = ? AND idx = ?'],
  leaf: ['SELECT leaf FROM entries WHERE idx = ?'],
  nodesRange: ['SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? AND idx <= ?', 'raw'],
  packedNodes: [
    "SELECT CAST(group_concat(hash, '' ORDER BY idx) AS BLOB), count(*), min(idx), max(idx), total(length(hash) <> 32) FROM nodes WHERE level = ? AND idx >= ? AND idx <= ?",
    'raw',
  ],
  kept: ['SELECT size, note FROM checkpoints ORDER BY size'],
  blob: ['SELECT codec, data, size FROM blobs WHERE sha256 = ?'],
  blobHashes: ['SELECT sha256 FROM blobs ORDER BY sha256'],
  putBlob: ['INSERT OR IGNORE INTO blobs (sha256, codec, size, data) VALUES (?, ?, ?, ?)'],
  triggers: ["SELECT name FROM sqlite_master WHERE type = 'trigger'", 'pluck'],
  layout: ["SELECT value FROM meta WHERE key = 'schema'", 'pluck'],
  addCosignature: [
    `INSERT OR IGNORE INTO cosignatures (size, root, name, key_id, timestamp, line, checkpoint, server)
     VALUES (@size, @root, @name, @keyId, @timestamp, @line, @checkpoint, @server)`,
  ],
  cosignatures: [`SELECT ${COSIGNATURE_COLUMNS} FROM cosignatures ORDER BY size, name, key_id, root`],
  cosignaturesAt: [`SELECT ${COSIGNATURE_COLUMNS} FROM cosignatures WHERE size = ? ORDER BY name, key_id, root`],
  lastCosigned: [
    `SELECT ${COSIGNATURE_COLUMNS} FROM cosignatures WHERE (@server IS NULL OR server = @server) AND (@name IS NULL OR name = @name)
     ORDER BY size DESC, timestamp DESC LIMIT 1`,
  ],
  addTimestamp: [
    `INSERT OR IGNORE INTO timestamps (token_hash, size, root, checkpoint, renews, tsa, gen_time, signer_not_after, token)
     VALUES (@tokenHash, @size, @root, @checkpoint, @renews, @tsa, @genTime, @signerNotAfter, @token)`,
  ],
  timestamps: [`SELECT ${TIMESTAMP_COLUMNS} FROM timestamps ORDER BY size, gen_time, token_hash`],
  timestampsAt: [`SELECT ${TIMESTAMP_COLUMNS} FROM timestamps WHERE size = ? ORDER BY gen_time, token_hash`],
  // Derived indexes.
  byHashRole: [
    `WITH RECURSIVE ${SEGMENTS('file_by_hash')}
     SELECT f.idx FROM segment CROSS JOIN file_by_hash f ON f.seg = segment.n AND f.sha256 = ? WHERE f.role = ? ORDER BY f.idx`,
    'pluck',
  ],
  indexedSize: ['SELECT size FROM index_state WHERE id = 1', 'pluck'],
  storedIndexedSize: ['SELECT size FROM main.index_state WHERE id = 1', 'pluck'],
  setIndexedSize: ['INSERT INTO index_state (id, size) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size'],
  indexRun: [
    `INSERT INTO runs (id, start_idx, end_idx, tool, user, time, status) VALUES (@id, @startIndex, @endIndex, @tool, @user, @time, @status)
     ON CONFLICT (id) DO UPDATE SET end_idx = excluded.end_idx, status = excluded.status`,
  ],
  runs: [`SELECT ${RUN_COLUMNS} FROM runs ORDER BY start_idx`],
  runsBetween: [`SELECT ${RUN_COLUMNS} FROM runs WHERE (@from IS NULL OR time >= @from) AND (@to IS NULL OR time <= @to) ORDER BY start_idx`],
  runById: [`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`],
  runByIndex: [`SELECT ${RUN_COLUMNS} FROM runs WHERE start_idx = ? OR end_idx = ?`],
  runsByIdPrefix: [`SELECT ${RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?) = ? ORDER BY start_idx LIMIT ?`],
  // The rows of a range of entries, for checking them against the entries (each row rendered as one string).
  hashRowsIn: ["SELECT idx, role || ' ' || lower(hex(sha256)) FROM file_by_hash WHERE seg >= ? AND seg <= ? AND idx >= ? AND idx < ? ORDER BY idx", 'raw'],
  runsIn: [`SELECT ${RUN_COLUMNS} FROM runs WHERE (start_idx >= @from AND start_idx < @to) OR (end_idx >= @from AND end_idx < @to)`],
} as const;

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

let driver: { Database: typeof BetterSqlite3; nativeBinding?: string } | undefined;

function loadDriver(): { Database: typeof BetterSqlite3; nativeBinding?: string } {
  if (!driver) {
    const require = createRequire(import.meta.url);
    // Naming the addon's file spares the `bindings` package's search of a dozen candidate paths on every start, a
    // visible part of an audited run's start-up (BENCHMARKS.md). With it found, and the installed package the version the build
    // bundled into one file (scripts/bundle-capture.mjs), that file is loaded instead of the package's fourteen.
    // An install laid out otherwise gets the package as it is, with its own search for the addon.
    let nativeBinding: string | undefined;
    let Database: typeof BetterSqlite3 | undefined;
    try {
      nativeBinding = require.resolve('better-sqlite3/build/Release/better_sqlite3.node');
      const { version } = require('better-sqlite3/package.json') as { version: string };
      Database = require(`../bundle/better-sqlite3-${version}.cjs`) as typeof BetterSqlite3;
    } catch {
      // keep what was found
    }
    driver = { Database: Database ?? (require('better-sqlite3') as typeof BetterSqlite3), ...(nativeBinding ? { nativeBinding } : {}) };
  }
  return driver;
}

/** Failures of opening for writing that a read-only open may get past: no write permission, read-only media. */
function isReadOnlyFailure(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH';
}

/**
 * Whether the file system holding `path` has no room left. SQLite reports a full disk while writing the WAL or
 * the database as an I/O error (SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC…), not SQLITE_FULL, so the space is asked.
 */
function diskFull(path: string | undefined): boolean {
  if (path === undefined) return false;
  try {
    const st = statfsSync(dirname(path));
    return st.bavail * st.bsize < 64 * 1024;
  } catch {
    return false;
  }
}

function wrap(e: unknown, what: string, path?: string): FfauditError {
  if (e instanceof FfauditError) return e;
  const err = e as { code?: string; message?: string };
  if (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED') {
    return new FfauditError('BUSY', `the ledger database stayed locked for ${BUSY_TIMEOUT_MS / 1000} s while ${what}`, { cause: e });
  }
  if (err.code === 'SQLITE_FULL' || (err.code?.startsWith('SQLITE_IOERR') && diskFull(path))) {
    return new FfauditError('IO', `the disk is full: no room left ${path !== undefined ? `on the file system holding ${dirname(path)} ` : ''}while ${what}`, { cause: e });
  }
  if (err.code?.startsWith('SQLITE_READONLY')) {
    return new FfauditError('STORE', `${path !== undefined ? `the ledger database ${path}` : 'the ledger database'} is read-only (read-only media, or no write permission to it or its folder): ${what} needs to write it`, { cause: e });
  }
  // Extended result codes (SQLITE_CORRUPT_INDEX, …) name the same failure.
  if (err.code?.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB') {
    return new FfauditError('STORE', `the ledger database is damaged (${err.message ?? err.code})`, { cause: e });
  }
  return new FfauditError('STORE', `${what}: ${err.message ?? String(e)}`, { cause: e });
}

const ROWS_PER_INSERT = 128;
const multiInsertCache = new WeakMap<Database, Map<string, Statement>>();

/**
 * Rows for one table, written with multi-row INSERT statements (prepared once per connection and row count): one
 * statement per 128 rows instead of one per row, which is most of the cost of a batched append.
 */
class RowBuffer {
  private values: unknown[] = [];
  constructor(
    private readonly db: Database,
    private readonly prefix: string,
    private readonly width: number,
  ) {}

  add(...row: unknown[]): void {
    for (const v of row) this.values.push(v);
    if (this.values.length >= ROWS_PER_INSERT * this.width) this.flush();
  }

  flush(): void {
    if (this.values.length === 0) return;
    this.statement(this.values.length / this.width).run(this.values);
    this.values = [];
  }

  private statement(rows: number): Statement {
    let cache = multiInsertCache.get(this.db);
    if (!cache) multiInsertCache.set(this.db, (cache = new Map<string, Statement>()));
    const key = `${this.prefix}/${rows}`;
    let stmt = cache.get(key);
    if (!stmt) {
      const tuple = `(${Array(this.width).fill('?').join(', ')})`;
      stmt = this.db.prepare(`${this.prefix} ${Array(rows).fill(tuple).join(', ')}`);
      cache.set(key, stmt);
    }
    return stmt;
  }
}

/** Refuses a database laid out by another version of ffaudit. Unreadable metadata is left to verify to report. */
function checkLayout(db: Database, path: string): void {
  let v: unknown;
  try {
    v = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get();
  } catch {
    return;
  }
  if (v !== undefined && !READABLE_LAYOUTS.has(v as string)) {
    throw new FfauditError('STORE', `the ledger database ${path} has layout ${JSON.stringify(v)}; this ffaudit reads layouts ${new Intl.ListFormat('en', { type: 'conjunction' }).format([...READABLE_LAYOUTS].sort())}`);
  }
}

/**
 * Layout 2 or 3 → 4, inside the first write transaction of a process (so it happens once, atomically with that
 * write, and a second process racing to do the same finds it done under the write lock). The tables a layout lacks
 * (cosignatures, timestamps) and their triggers are added, and meta 'schema' rewritten: the one change ever made to
 * a meta row, so its trigger is set aside for it, and put back only if it was there (a trigger an attacker dropped
 * stays missing for verify to report). A database that records no layout (made before layouts were recorded) gets
 * the tables only.
 */
function migrate(db: Database): void {
  const layout = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get();
  if (layout === SCHEMA_VERSION) return;
  if (layout !== '3') db.exec(`${COSIGNATURES_TABLE}${appendOnly('cosignatures')}`);
  db.exec(`${TIMESTAMPS_TABLE}${appendOnly('timestamps')}`);
  if (layout !== '2' && layout !== '3') return;
  const guard = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'meta_no_update'").pluck().get() as string | undefined;
  if (guard !== undefined) db.exec('DROP TRIGGER meta_no_update');
  db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(SCHEMA_VERSION);
  if (guard !== undefined) db.exec(guard);
}

// crypto.hash (Node ≥ 20.12) hashes in one call, without a Hash object per message.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'buffer') => Buffer }).hash;
const sha256 = (s: string): Buffer => (oneShot ? oneShot('sha256', s, 'buffer') : crypto.createHash('sha256').update(s).digest());

/** The path index key: the first 48 bits of SHA-256(path), an exact JavaScript integer. Collisions are harmless. */
function pathKey(path: string): number {
  return sha256(path).readUIntBE(0, 6);
}

export class SqliteStore implements Store {
  readonly path: string;
  /** The database's own path, for messages. */
  private readonly shownPath: string;
  private readonly db: Database;
  private readonly prepared = new Map<string, Statement>();
  // Made once: better-sqlite3 builds a new wrapper function on every db.transaction() call.
  private readonly transaction: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>;

  /** Opened read-only: the file could not be written (see open). */
  readonly readOnly: boolean;
  /** The private copy read instead of the file (see openReadOnly), removed on close. */
  private readonly copy: string | undefined;
  /** Whether this connection has made sure of the current layout (migrate), which its first write does. */
  private migrated = false;

  private constructor(path: string, db: Database, readOnly: boolean, copy?: string) {
    // What other connections to the same bytes open (verify's workers): the copy, when there is one.
    this.path = copy !== undefined ? join(copy, 'ledger.db') : path;
    this.shownPath = path;
    this.db = db;
    this.readOnly = readOnly;
    this.copy = copy;
    this.transaction = db.transaction((fn: () => unknown) => fn());
  }

  /**
   * A statement, prepared on first use: a command prepares only what it runs (start-up time), and a damaged or
   * partly dropped schema fails the query that needs it rather than every open.
   */
  private q(name: keyof typeof SQL): Statement {
    let st = this.prepared.get(name);
    if (!st) {
      const [sql, mode] = SQL[name] as readonly [string, ('raw' | 'pluck')?];
      st = this.db.prepare(sql);
      if (mode === 'raw') st.raw();
      if (mode === 'pluck') st.pluck();
      this.prepared.set(name, st);
    }
    return st;
  }

  /**
   * Opens (or with `create`, creates) the database at `path`. A database this process may read but not write (an
   * evidence copy, read-only media, another user's ledger) is opened read-only: reading and verifying work, and
   * any write fails with a clear error.
   */
  static open(path: string, opts: { create?: boolean; readonly?: boolean } = {}): SqliteStore {
    if (!opts.create && !existsSync(path)) throw new FfauditError('NO_LEDGER', `no ledger database at ${path}`);
    if (opts.readonly) return SqliteStore.openReadOnly(path);
    const { Database: Driver, nativeBinding } = loadDriver();
    let db: Database | undefined;
    try {
      db = new Driver(path, { timeout: BUSY_TIMEOUT_MS, fileMustExist: !opts.create, ...(nativeBinding ? { nativeBinding } : {}) });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // A larger page cache keeps the derived indexes' B-trees in memory while appending (default: 2 MB); 16 MB keeps verify's memory well under its bound.
      db.pragma('cache_size = -16384');
      if (opts.create) db.exec(SCHEMA);
      else checkLayout(db, path);
      const store = new SqliteStore(path, db, false);
      // A new database has the current layout (init records it in its first transaction).
      store.migrated = opts.create === true;
      return store;
    } catch (e) {
      db?.close();
      if (!opts.create && isReadOnlyFailure(e)) return SqliteStore.openReadOnly(path);
      throw wrap(e, `opening ${path}`, path);
    }
  }

  /**
   * Read-only. SQLite reads a WAL database read-only when its -shm file exists or can be made beside it
   * (https://sqlite.org/wal.html#readonly); where neither holds (a read-only folder, read-only media) the database
   * and its -wal file are read from a private temporary copy of the same bytes, removed on close (the driver opens
   * no URI filenames, so SQLite's "immutable" parameter is out of reach).
   */
  private static openReadOnly(path: string): SqliteStore {
    const { Database: Driver, nativeBinding } = loadDriver();
    const base = { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS, ...(nativeBinding ? { nativeBinding } : {}) };
    const firstRead = (db: Database) => db.prepare('SELECT count(*) FROM sqlite_master').get(); // opens the -shm file
    let db: Database | undefined;
    let copy: string | undefined;
    try {
      db = new Driver(path, base);
      firstRead(db);
    } catch (e) {
      db?.close();
      db = undefined;
      if (!isReadOnlyFailure(e)) throw wrap(e, `opening ${path}`, path);
      copy = readOnlyCopy(path);
      try {
        db = new Driver(join(copy, 'ledger.db'), base);
        firstRead(db);
      } catch (e2) {
        db?.close();
        rmSync(copy, { recursive: true, force: true });
        throw wrap(e2, `opening ${path}`, path);
      }
    }
    try {
      checkLayout(db, path);
      // Reads see the file's own derived indexes until an update is needed: only then are they rebuilt in memory
      // (indexTransaction). verify's worker threads open the file read-only and must check the stored indexes.
      return new SqliteStore(path, db, true, copy);
    } catch (e) {
      db.close();
      if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
      throw wrap(e, `opening ${path}`, path);
    }
  }

  private run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw wrap(e, what, this.shownPath);
    }
  }

  meta(key: string): string | undefined {
    return this.run('reading metadata', () => (this.q('meta').get(key) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): void {
    this.run('writing metadata', () => this.q('setMeta').run(key, value));
  }

  head(): Head | undefined {
    const r = this.run('reading the head', () => this.q('head').get() as { size: number; note: string } | undefined);
    return r ? { size: r.size, checkpoint: r.note } : undefined;
  }

  perfect(level: number, index: number): Buffer {
    const r = (level === 0 ? this.q('leaf').get(index) : this.q('node').get(level, index)) as { hash?: Buffer; leaf?: Buffer } | undefined;
    const h = r?.hash ?? r?.leaf;
    if (!h) throw new FfauditError('STORE', `tree node ${level}/${index} is missing from the store`);
    return h;
  }

  appendTransaction<T>(fn: (tx: AppendTx) => T): T {
    const entries = new RowBuffer(this.db, 'INSERT INTO entries (idx, leaf, data) VALUES', 3);
    const nodes = new RowBuffer(this.db, 'INSERT INTO nodes (level, idx, hash) VALUES', 3);
    const tx: AppendTx = {
      perfect: (l, i) => this.perfect(l, i),
      head: () => this.head(),
      insertEntry: (i, leaf, data) => entries.add(i, leaf, data),
      insertNode: (l, i, h) => nodes.add(l, i, h),
      setHead: (size, note, keep) => {
        if (this.q('updateHead').run(size, note).changes === 0) this.q('insertHead').run(size, note);
        if (keep) this.q('keep').run(size, note);
      },
      putBlob: (sha, codec, data, size) => void this.q('putBlob').run(sha, codec, size, data),
    };
    return this.run('appending to the ledger', () =>
      this.transaction.immediate(() => {
        this.migrateOnce();
        const r = fn(tx);
        entries.flush();
        nodes.flush();
        return r;
      }) as T,
    );
  }

  /** Inside a write transaction: brings an older layout up to date (migrate), once per connection. */
  private migrateOnce(): void {
    if (this.migrated || this.readOnly) return;
    migrate(this.db);
    this.migrated = true;
  }

  addCosignatures(rows: readonly CosignatureRow[]): number {
    if (this.readOnly) throw new FfauditError('STORE', `the ledger database ${this.shownPath} is read-only (read-only media, or no write permission to it or its folder): storing cosignatures needs to write it`);
    return this.run('storing cosignatures', () =>
      this.transaction.immediate(() => {
        this.migrateOnce();
        let added = 0;
        for (const r of rows) {
          added += this.q('addCosignature').run({ size: r.size, root: r.root, name: r.name, keyId: r.keyId, timestamp: r.timestamp, line: r.line, checkpoint: r.checkpoint, server: r.server }).changes;
        }
        return added;
      }) as number,
    );
  }

  cosignatures(size?: number): CosignatureRow[] {
    return this.cosignatureRows(() => (size === undefined ? this.q('cosignatures').all() : this.q('cosignaturesAt').all(size)) as CosignatureRow[]);
  }

  lastCosigned(filter: { server?: string | undefined; name?: string | undefined } = {}): CosignatureRow | undefined {
    return this.cosignatureRows(() => [this.q('lastCosigned').get({ server: filter.server ?? null, name: filter.name ?? null }) as CosignatureRow | undefined])[0];
  }

  addTimestamps(rows: readonly TimestampRow[]): number {
    if (this.readOnly) throw new FfauditError('STORE', `the ledger database ${this.shownPath} is read-only (read-only media, or no write permission to it or its folder): storing timestamps needs to write it`);
    return this.run('storing timestamps', () =>
      this.transaction.immediate(() => {
        this.migrateOnce();
        let added = 0;
        for (const r of rows) added += this.q('addTimestamp').run({ ...r }).changes;
        return added;
      }) as number,
    );
  }

  timestamps(size?: number): TimestampRow[] {
    try {
      return this.run('reading timestamps', () => (size === undefined ? this.q('timestamps').all() : this.q('timestampsAt').all(size)) as TimestampRow[]);
    } catch (e) {
      // A layout 2 or 3 database, read as it is, has no timestamps table.
      if (/no such table: timestamps/.test((e as Error).message)) return [];
      throw e;
    }
  }

  /** Rows of the cosignatures table; none where it does not exist (layout 2, read as it is). */
  private cosignatureRows(fn: () => (CosignatureRow | undefined)[]): CosignatureRow[] {
    try {
      return this.run('reading cosignatures', fn).filter((r): r is CosignatureRow => r !== undefined);
    } catch (e) {
      if (/no such table: cosignatures/.test((e as Error).message)) return [];
      throw e;
    }
  }

  /** The last segment the indexed part of the log can hold rows in: what lookups bind into SEGMENTS. */
  private lastSegment(): number {
    const size = this.indexedSize();
    return Number.isSafeInteger(size) && size > 0 ? segmentOf(size - 1) : 0;
  }

  indexedSize(): number {
    return this.watermark('indexedSize');
  }

  storedIndexedSize(): number {
    return this.watermark('storedIndexedSize');
  }

  private watermark(query: 'indexedSize' | 'storedIndexedSize'): number {
    try {
      return (this.q(query).get() as number | undefined) ?? 0;
    } catch (e) {
      if (/no such table/.test((e as Error).message)) return 0; // dropped: the next update rebuilds it
      throw wrap(e, 'reading the search index');
    }
  }

  indexTransaction(fn: (tx: IndexTx) => void): void {
    // Rows are collected, then inserted in key order: one sweep over the segment's B-tree pages instead of a
    // random page per row (the entries read meanwhile push those pages out of the cache). Hex text sorts as the
    // bytes it spells.
    const hashRows: { seg: number; sha: string; idx: number; role: string }[] = [];
    const pathRows: { seg: number; key: number; idx: number }[] = [];
    const tx: IndexTx = {
      indexedSize: () => this.indexedSize(),
      indexFile: (sha, path, idx, role) => {
        const seg = segmentOf(idx);
        if (sha && SHA256_HEX.test(sha)) hashRows.push({ seg, sha, idx, role });
        pathRows.push({ seg, key: pathKey(path), idx });
      },
      indexRun: (row) => void this.q('indexRun').run(row),
      setIndexedSize: (size) => void this.q('setIndexedSize').run(size),
      clear: () => this.db.exec('DELETE FROM file_by_hash; DELETE FROM file_by_path; DELETE FROM runs; DELETE FROM index_state;'),
    };
    const insertRows = () => {
      const byHash = new RowBuffer(this.db, 'INSERT OR IGNORE INTO file_by_hash (seg, sha256, idx, role) VALUES', 4);
      hashRows.sort((a, b) => a.seg - b.seg || (a.sha < b.sha ? -1 : a.sha > b.sha ? 1 : a.idx - b.idx));
      for (const r of hashRows) byHash.add(r.seg, Buffer.from(r.sha, 'hex'), r.idx, r.role);
      byHash.flush();
      const byPath = new RowBuffer(this.db, 'INSERT OR IGNORE INTO file_by_path (seg, path_key, idx) VALUES', 3);
      pathRows.sort((a, b) => a.seg - b.seg || a.key - b.key || a.idx - b.idx);
      for (const r of pathRows) byPath.add(r.seg, r.key, r.idx);
      byPath.flush();
    };
    // The indexes can always be rebuilt from the entries, so their commit need not wait for the disk: NORMAL in WAL
    // mode keeps the file consistent and may only lose the latest update on power loss, which the next one redoes.
    if (this.readOnly) {
      // In memory: TEMP tables of the same names, which SQLite resolves before those of the file
      // (https://sqlite.org/lang_naming.html), rebuilt from the entries; no write lock on the file to take.
      this.run('updating the search index', () =>
        this.transaction.deferred(() => {
          this.db.exec(TEMP_DERIVED_SCHEMA);
          fn(tx);
          insertRows();
        }),
      );
      return;
    }
    this.db.pragma('synchronous = NORMAL');
    try {
      this.run('updating the search index', () =>
        this.transaction.immediate(() => {
          this.db.exec(DERIVED_SCHEMA);
          fn(tx);
          insertRows();
        }),
      );
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  entry(index: number): StoredEntry | undefined {
    const r = this.run('reading an entry', () => this.q('entry').get(index) as { idx: number; leaf: Buffer; data: Buffer } | undefined);
    return r ? { index: r.idx, leaf: r.leaf, data: r.data } : undefined;
  }

  entries(from: number, to: number): StoredEntry[] {
    return this.run('reading entries', () =>
      (this.q('entries').all(from, to) as [number, Buffer, Buffer][]).map((r) => ({ index: r[0], leaf: r[1], data: r[2] })),
    );
  }

  entryData(from: number, to: number): { index: number; data: Buffer }[] {
    return this.run('reading entries', () => (this.q('entryData').all(from, to) as [number, Buffer][]).map((r) => ({ index: r[0], data: r[1] })));
  }

  indicesContaining(bytes: Buffer, from: number, to: number): number[] {
    return this.run('reading entries', () => this.q('indicesContaining').all(from, to, bytes) as number[]);
  }

  leafAndData(from: number, to: number): [number, Buffer | null][] {
    return this.run('reading entries', () => this.q('leafAndData').all(from, to) as [number, Buffer | null][]);
  }

  entriesOutside(size: number, limit: number): StoredEntry[] {
    return this.run('reading entries', () =>
      (this.q('entriesOutside').all(size, limit) as { idx: number; leaf: Buffer; data: Buffer }[]).map((r) => ({ index: r.idx, leaf: r.leaf, data: r.data })),
    );
  }

  maxEntryIndex(): number {
    return this.run('reading entries', () => (this.q('maxIdx').get() as { m: number | null }).m ?? -1);
  }

  entryCount(): number {
    return this.run('reading entries', () => (this.q('count').get() as { c: number }).c);
  }

  keptCheckpoints(): { size: number; checkpoint: string }[] {
    return this.run('reading checkpoints', () => (this.q('kept').all() as { size: number; note: string }[]).map((r) => ({ size: r.size, checkpoint: r.note })));
  }

  nodesInRange(level: number, fromIndex: number, toIndex: number): Map<number, Buffer> {
    return new Map(this.run('reading tree nodes', () => this.q('nodesRange').all(level, fromIndex, toIndex) as [number, Buffer][]));
  }

  packedHashes(level: number, fromIndex: number, toIndex: number): Buffer | undefined {
    const r = this.run('reading tree nodes', () => this.q('packedNodes').get(level, fromIndex, toIndex) as [Buffer | null, number, number | null, number | null, number]);
    const [data, count, min, max, bad] = r;
    const n = toIndex - fromIndex + 1;
    if (!data || count !== n || min !== fromIndex || max !== toIndex || bad !== 0 || data.length !== 32 * n) return undefined;
    return data;
  }

  blob(sha256: string) {
    return this.run('reading a blob', () => this.q('blob').get(sha256) as { codec: string; data: Buffer; size: number } | undefined);
  }

  blobHashes(): string[] {
    return this.run('reading blobs', () => (this.q('blobHashes').all() as { sha256: string }[]).map((r) => r.sha256));
  }

  indicesByFileHashRole(sha256: string, role: string): number[] {
    if (!SHA256_HEX.test(sha256)) return [];
    return this.run('searching', () => this.q('byHashRole').all(this.lastSegment(), Buffer.from(sha256, 'hex'), role) as number[]);
  }

  runs(): RunIndexRow[] {
    return this.run('reading runs', () => this.q('runs').all() as RunIndexRow[]);
  }

  derivedRows(from: number, to: number): DerivedRows {
    // A dropped table holds no rows: the check then reports every row it should hold.
    const rows = <T>(what: string, fn: () => T[]): T[] => {
      try {
        return this.run(what, fn);
      } catch (e) {
        if (/no such table/.test((e as Error).message)) return [];
        throw e;
      }
    };
    const seg = [segmentOf(from), segmentOf(Math.max(from, to - 1)), from, to] as const;
    return {
      files: rows('reading the search index', () => this.q('hashRowsIn').all(...seg) as [number, string][]),
      runs: rows('reading runs', () => this.q('runsIn').all({ from, to }) as RunIndexRow[]),
    };
  }

  runsBetween(from: string | null, to: string | null): RunIndexRow[] {
    return this.run('reading runs', () => this.q('runsBetween').all({ from, to }) as RunIndexRow[]);
  }

  runById(id: string): RunIndexRow | undefined {
    return this.run('reading runs', () => this.q('runById').get(id) as RunIndexRow | undefined);
  }

  runByIndex(index: number): RunIndexRow | undefined {
    return this.run('reading runs', () => this.q('runByIndex').get(index, index) as RunIndexRow | undefined);
  }

  runsWhere(q: RunQuery): RunIndexRow[] {
    const where: string[] = [];
    const args: (string | number | Buffer)[] = [];
    if (q.user !== undefined) {
      where.push('user = ?');
      args.push(q.user);
    }
    if (q.tool !== undefined) {
      where.push('tool = ?');
      args.push(q.tool);
    }
    if (q.statuses !== undefined) {
      const named = q.statuses.filter((s): s is string => s !== null);
      const parts = named.length ? [`status IN (${named.map(() => '?').join(', ')})`] : [];
      args.push(...named);
      if (q.statuses.includes(null)) parts.push('end_idx IS NULL');
      where.push(parts.length ? `(${parts.join(' OR ')})` : '0');
    }
    if (q.since !== undefined) {
      where.push('time >= ?');
      args.push(q.since);
    }
    if (q.until !== undefined) {
      where.push('time <= ?');
      args.push(q.until);
    }
    const ctes: string[] = [];
    const cteArgs: unknown[] = [];
    const files: [string, string, unknown][] = [];
    if (q.fileSha256 !== undefined) files.push(['file_by_hash', 'sha256', Buffer.from(q.fileSha256, 'hex')]);
    if (q.filePath !== undefined) files.push(['file_by_path', 'path_key', pathKey(q.filePath)]);
    for (const [table, column, value] of files) {
      ctes.push(SEGMENTS(table, `${table}_segment`));
      cteArgs.push(this.lastSegment());
      ctes.push(`${table}_hits(idx) AS (SELECT f.idx FROM ${table}_segment s CROSS JOIN ${table} f ON f.seg = s.n AND f.${column} = ?)`);
      cteArgs.push(value);
      where.push(`(start_idx IN (SELECT idx FROM ${table}_hits) OR end_idx IN (SELECT idx FROM ${table}_hits))`);
    }
    if (q.beforeStart !== undefined) {
      where.push('start_idx < ?');
      args.push(q.beforeStart);
    }
    const sql = `${ctes.length ? `WITH RECURSIVE ${ctes.join(', ')}` : ''}
      SELECT ${RUN_COLUMNS} FROM runs
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start_idx DESC LIMIT ?`;
    return this.run('searching runs', () => this.db.prepare(sql).all(...cteArgs, ...args, q.limit) as RunIndexRow[]);
  }

  runsByIdPrefix(prefix: string, limit: number): RunIndexRow[] {
    // substr rather than LIKE: the prefix is user input and may hold '%' or '_'.
    return this.run('searching runs', () => this.q('runsByIdPrefix').all(prefix.length, prefix, limit) as RunIndexRow[]);
  }

  /** SQLite's own check of the file's structure: an empty list when sound. */
  integrityCheck(): string[] {
    let rows: { quick_check: string }[];
    try {
      rows = this.db.pragma('quick_check') as { quick_check: string }[];
    } catch (e) {
      // Damage bad enough to stop the check itself is its own finding, not a reason to stop verifying.
      const err = wrap(e, 'checking the database');
      if (err.code === 'STORE') return [err.message];
      throw err;
    }
    const msgs = rows.map((r) => r.quick_check);
    return msgs.length === 1 && msgs[0] === 'ok' ? [] : msgs;
  }

  missingTriggers(): string[] {
    const have = new Set(
      this.run('reading the schema', () => this.q('triggers').all() as string[]),
    );
    // A database of an earlier layout (read as it is) lacks the later tables, and their triggers.
    let layout: unknown;
    try {
      layout = this.q('layout').get();
    } catch {
      layout = undefined; // unreadable metadata is verify's finding; expect the full set
    }
    return (LAYOUT_TRIGGERS.get(layout as string) ?? EXPECTED_TRIGGERS).filter((t) => !have.has(t));
  }

  close(): void {
    try {
      this.db.close();
    } finally {
      if (this.copy !== undefined) rmSync(this.copy, { recursive: true, force: true });
    }
  }
}

/** A private copy of the database and its -wal file (mkdtemp: mode 0700), for reading read-only media. */
function readOnlyCopy(path: string): string {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'ffaudit-ro-'));
    copyFileSync(path, join(dir, 'ledger.db'));
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, join(dir, 'ledger.db-wal'));
    return dir;
  } catch (e) {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new FfauditError('IO', `cannot read ${path}: it is read-only without a shared-memory file beside it, and copying it to ${tmpdir()} to read it failed (${code === 'ENOSPC' ? 'the disk is full' : code ?? String(e)})`);
  }
}
