/**
 * The embedded SQLite backend (better-sqlite3 12).
 *
 * Durability: WAL journal with synchronous=FULL, so a transaction that returned has its WAL frames fsync'ed:
 * an acknowledged entry survives a crash or power loss. Concurrency: every append runs in BEGIN IMMEDIATE, so
 * writers are serialised by SQLite's own lock and each gets the next index; a writer that finds the lock taken
 * waits (busy timeout) up to BUSY_TIMEOUT_MS, then fails with a clear error instead of waiting forever.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { FfauditError } from '../core/errors.js';
import type { AppendTx, Head, IndexTx, RunIndexRow, RunQuery, Store, StoredEntry } from './types.js';

export const BUSY_TIMEOUT_MS = 60_000;

const APPEND_ONLY = ['entries', 'nodes', 'checkpoints', 'meta', 'blobs'] as const;

// How much of the log the derived indexes cover. Created on demand too, for ledgers made before it existed.
const INDEX_STATE = 'CREATE TABLE IF NOT EXISTS index_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, codec TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
-- Derived indexes (conveniences, never evidence). One B-tree each, keyed for the lookup it serves: by content
-- (32-byte SHA-256) and by path (the first 48 bits of SHA-256(path), confirmed by readers against the entry).
CREATE TABLE IF NOT EXISTS file_by_hash (sha256 BLOB NOT NULL, idx INTEGER NOT NULL, role TEXT NOT NULL, PRIMARY KEY (sha256, idx, role)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_by_path (path_key INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (path_key, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, start_idx INTEGER NOT NULL, end_idx INTEGER, tool TEXT NOT NULL,
  user TEXT NOT NULL, time TEXT NOT NULL, status TEXT);
CREATE INDEX IF NOT EXISTS runs_start ON runs (start_idx);
CREATE INDEX IF NOT EXISTS runs_end ON runs (end_idx);
${INDEX_STATE}
${APPEND_ONLY.map(
  (t) => `
CREATE TRIGGER IF NOT EXISTS ${t}_no_update BEFORE UPDATE ON ${t} BEGIN SELECT RAISE(ABORT, 'ffaudit: ${t} are append-only'); END;
CREATE TRIGGER IF NOT EXISTS ${t}_no_delete BEFORE DELETE ON ${t} BEGIN SELECT RAISE(ABORT, 'ffaudit: ${t} are append-only'); END;`,
).join('')}
CREATE TRIGGER IF NOT EXISTS head_no_delete BEFORE DELETE ON head BEGIN SELECT RAISE(ABORT, 'ffaudit: the head is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS head_no_shrink BEFORE UPDATE ON head WHEN NEW.size < OLD.size
  BEGIN SELECT RAISE(ABORT, 'ffaudit: the log never shrinks'); END;
`;

export const EXPECTED_TRIGGERS = [...APPEND_ONLY.flatMap((t) => [`${t}_no_update`, `${t}_no_delete`]), 'head_no_delete', 'head_no_shrink'];

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

function loadDriver(): typeof BetterSqlite3 {
  const require = createRequire(import.meta.url);
  return require('better-sqlite3') as typeof BetterSqlite3;
}

function wrap(e: unknown, what: string): FfauditError {
  if (e instanceof FfauditError) return e;
  const err = e as { code?: string; message?: string };
  if (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED') {
    return new FfauditError('BUSY', `the ledger database stayed locked for ${BUSY_TIMEOUT_MS / 1000} s while ${what}`, { cause: e });
  }
  if (err.code === 'SQLITE_FULL') return new FfauditError('IO', `disk full while ${what}`, { cause: e });
  // Extended result codes (SQLITE_CORRUPT_INDEX, …) name the same failure.
  if (err.code?.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB') {
    return new FfauditError('STORE', `the ledger database is damaged (${err.message ?? err.code})`, { cause: e });
  }
  return new FfauditError('STORE', `${what}: ${err.message ?? String(e)}`, { cause: e });
}

const ROWS_PER_INSERT = 128;
const multiInsertCache = new WeakMap<Database, Map<string, Statement>>();

/**
 * Rows for one table, written with multi-row INSERT statements (prepared once per connection and row count).
 * With `sorted`, rows are held until the end of the transaction and inserted in key order (the first column):
 * index rows keyed by a hash land on random B-tree pages, and sorting a batch's rows turns that into one ordered
 * sweep.
 */
class RowBuffer {
  private rows: unknown[][] = [];
  constructor(
    private readonly db: Database,
    private readonly prefix: string,
    private readonly width: number,
    private readonly sorted = false,
  ) {}

  add(...row: unknown[]): void {
    this.rows.push(row);
    if (!this.sorted && this.rows.length >= ROWS_PER_INSERT) this.flush();
  }

  flush(): void {
    if (this.sorted) this.rows.sort((a, b) => compareKeys(a[0], b[0]));
    for (let at = 0; at < this.rows.length; at += ROWS_PER_INSERT) {
      const chunk = this.rows.slice(at, at + ROWS_PER_INSERT);
      this.statement(chunk.length).run(chunk.flat());
    }
    this.rows = [];
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

function compareKeys(a: unknown, b: unknown): number {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return Buffer.compare(a, b);
  return (a as number) - (b as number);
}

/** The path index key: the first 48 bits of SHA-256(path), an exact JavaScript integer. Collisions are harmless. */
function pathKey(path: string): number {
  return createHash('sha256').update(path).digest().readUIntBE(0, 6);
}

export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database;
  private readonly st: Record<string, Statement>;
  // Made once: better-sqlite3 builds a new wrapper function on every db.transaction() call.
  private readonly transaction: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.db = db;
    const p = (sql: string) => db.prepare(sql);
    this.st = {
      meta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?)'),
      head: p('SELECT size, note FROM head WHERE id = 1'),
      insertHead: p('INSERT INTO head (id, size, note) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size, note = excluded.note'),
      keep: p('INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?, ?)'),
      entry: p('SELECT idx, leaf, data FROM entries WHERE idx = ?'),
      entries: p('SELECT idx, leaf, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').raw(),
      entryData: p('SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').raw(),
      entriesOutside: p('SELECT idx, leaf, data FROM entries WHERE idx < 0 OR idx >= ? ORDER BY idx LIMIT ?'),
      insertEntry: p('INSERT INTO entries (idx, leaf, data) VALUES (?, ?, ?)'),
      maxIdx: p('SELECT max(idx) AS m FROM entries'),
      count: p('SELECT count(*) AS c FROM entries'),
      node: p('SELECT hash FROM nodes WHERE level = ? AND idx = ?'),
      leaf: p('SELECT leaf FROM entries WHERE idx = ?'),
      nodesRange: p('SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? AND idx <= ?').raw(),
      leavesRange: p('SELECT idx, leaf AS hash FROM entries WHERE idx >= ? AND idx <= ?').raw(),
      packedNodes: p(
        "SELECT CAST(group_concat(hash, '' ORDER BY idx) AS BLOB), count(*), min(idx), max(idx), total(length(hash) <> 32) FROM nodes WHERE level = ? AND idx >= ? AND idx <= ?",
      ).raw(),
      packedLeaves: p(
        "SELECT CAST(group_concat(leaf, '' ORDER BY idx) AS BLOB), count(*), min(idx), max(idx), total(length(leaf) <> 32) FROM entries WHERE idx >= ? AND idx <= ?",
      ).raw(),
      insertNode: p('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      kept: p('SELECT size, note FROM checkpoints ORDER BY size'),
      blob: p('SELECT codec, data, size FROM blobs WHERE sha256 = ?'),
      blobHashes: p('SELECT sha256 FROM blobs ORDER BY sha256'),
      putBlob: p('INSERT OR IGNORE INTO blobs (sha256, codec, size, data) VALUES (?, ?, ?, ?)'),
      byHash: p('SELECT DISTINCT idx FROM file_by_hash WHERE sha256 = ? ORDER BY idx').pluck(),
      byHashRole: p('SELECT idx FROM file_by_hash WHERE sha256 = ? AND role = ? ORDER BY idx').pluck(),
      indexRun: p(`INSERT INTO runs (id, start_idx, end_idx, tool, user, time, status) VALUES (@id, @startIndex, @endIndex, @tool, @user, @time, @status)
        ON CONFLICT (id) DO UPDATE SET end_idx = excluded.end_idx, status = excluded.status`),
      runs: p('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs ORDER BY start_idx'),
      runsBetween: p(`SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs
        WHERE (@from IS NULL OR time >= @from) AND (@to IS NULL OR time <= @to) ORDER BY start_idx`),
      runById: p('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs WHERE id = ?'),
      runByIndex: p('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs WHERE start_idx = ? OR end_idx = ?'),
    };
    this.transaction = db.transaction((fn: () => unknown) => fn());
  }

  /** Opens (or with `create`, creates) the database at `path`. */
  static open(path: string, opts: { create?: boolean; readonly?: boolean } = {}): SqliteStore {
    if (!opts.create && !existsSync(path)) throw new FfauditError('NO_LEDGER', `no ledger database at ${path}`);
    const Driver = loadDriver();
    let db: Database;
    try {
      db = new Driver(path, { timeout: BUSY_TIMEOUT_MS, fileMustExist: !opts.create, readonly: opts.readonly === true });
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        // A larger page cache keeps the derived indexes' B-trees in memory while appending (default: 2 MB); 16 MB keeps verify's memory well under its bound.
        db.pragma('cache_size = -16384');
      }
      if (opts.create) db.exec(SCHEMA);
      return new SqliteStore(path, db);
    } catch (e) {
      throw wrap(e, `opening ${path}`);
    }
  }

  private run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw wrap(e, what);
    }
  }

  meta(key: string): string | undefined {
    return this.run('reading metadata', () => (this.st.meta!.get(key) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): void {
    this.run('writing metadata', () => this.st.setMeta!.run(key, value));
  }

  head(): Head | undefined {
    const r = this.run('reading the head', () => this.st.head!.get() as { size: number; note: string } | undefined);
    return r ? { size: r.size, checkpoint: r.note } : undefined;
  }

  perfect(level: number, index: number): Buffer {
    const r = (level === 0 ? this.st.leaf!.get(index) : this.st.node!.get(level, index)) as { hash?: Buffer; leaf?: Buffer } | undefined;
    const h = r?.hash ?? r?.leaf;
    if (!h) throw new FfauditError('STORE', `tree node ${level}/${index} is missing from the store`);
    return h;
  }

  appendTransaction<T>(fn: (tx: AppendTx) => T): T {
    const st = this.st;
    // Rows are buffered and written with multi-row INSERTs when the transaction's work is done: one statement per
    // 128 rows instead of one per row, which is most of the cost of a batched append.
    const entries = new RowBuffer(this.db, 'INSERT INTO entries (idx, leaf, data) VALUES', 3);
    const nodes = new RowBuffer(this.db, 'INSERT INTO nodes (level, idx, hash) VALUES', 3);
    const tx: AppendTx = {
      perfect: (l, i) => this.perfect(l, i),
      head: () => this.head(),
      insertEntry: (i, leaf, data) => entries.add(i, leaf, data),
      insertNode: (l, i, h) => nodes.add(l, i, h),
      setHead: (size, note, keep) => {
        st.insertHead!.run(size, note);
        if (keep) st.keep!.run(size, note);
      },
      putBlob: (sha, codec, data, size) => void st.putBlob!.run(sha, codec, size, data),
    };
    return this.run('appending to the ledger', () =>
      this.transaction.immediate(() => {
        const r = fn(tx);
        entries.flush();
        nodes.flush();
        return r;
      }) as T,
    );
  }

  indexedSize(): number {
    try {
      return (this.db.prepare('SELECT size FROM index_state WHERE id = 1').pluck().get() as number | undefined) ?? 0;
    } catch (e) {
      if (/no such table/.test((e as Error).message)) return 0; // a ledger from before the table existed
      throw wrap(e, 'reading the search index');
    }
  }

  indexTransaction(fn: (tx: IndexTx) => void): void {
    const byHash = new RowBuffer(this.db, 'INSERT OR IGNORE INTO file_by_hash (sha256, idx, role) VALUES', 3, true);
    const byPath = new RowBuffer(this.db, 'INSERT OR IGNORE INTO file_by_path (path_key, idx) VALUES', 2, true);
    const tx: IndexTx = {
      indexedSize: () => this.indexedSize(),
      indexFile: (sha, path, i, role) => {
        if (sha && /^[0-9a-f]{64}$/.test(sha)) byHash.add(Buffer.from(sha, 'hex'), i, role);
        byPath.add(pathKey(path), i);
      },
      indexRun: (row) => void this.st.indexRun!.run(row),
      setIndexedSize: (size) => void this.db.prepare('INSERT INTO index_state (id, size) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size').run(size),
    };
    // The indexes can always be rebuilt from the entries, so their commit need not wait for the disk: NORMAL in WAL
    // mode keeps the file consistent and may only lose the latest update on power loss, which the next one redoes.
    this.db.pragma('synchronous = NORMAL');
    try {
      this.run('updating the search index', () =>
        this.transaction.immediate(() => {
          this.db.exec(INDEX_STATE);
          fn(tx);
          byHash.flush();
          byPath.flush();
        }),
      );
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  entry(index: number): StoredEntry | undefined {
    const r = this.run('reading an entry', () => this.st.entry!.get(index) as { idx: number; leaf: Buffer; data: Buffer } | undefined);
    return r ? { index: r.idx, leaf: r.leaf, data: r.data } : undefined;
  }

  entries(from: number, to: number): StoredEntry[] {
    return this.run('reading entries', () =>
      (this.st.entries!.all(from, to) as [number, Buffer, Buffer][]).map((r) => ({ index: r[0], leaf: r[1], data: r[2] })),
    );
  }

  entryData(from: number, to: number): { index: number; data: Buffer }[] {
    return this.run('reading entries', () => (this.st.entryData!.all(from, to) as [number, Buffer][]).map((r) => ({ index: r[0], data: r[1] })));
  }

  entriesOutside(size: number, limit: number): StoredEntry[] {
    return this.run('reading entries', () =>
      (this.st.entriesOutside!.all(size, limit) as { idx: number; leaf: Buffer; data: Buffer }[]).map((r) => ({ index: r.idx, leaf: r.leaf, data: r.data })),
    );
  }

  maxEntryIndex(): number {
    return this.run('reading entries', () => (this.st.maxIdx!.get() as { m: number | null }).m ?? -1);
  }

  entryCount(): number {
    return this.run('reading entries', () => (this.st.count!.get() as { c: number }).c);
  }

  keptCheckpoints(): { size: number; checkpoint: string }[] {
    return this.run('reading checkpoints', () => (this.st.kept!.all() as { size: number; note: string }[]).map((r) => ({ size: r.size, checkpoint: r.note })));
  }

  nodesInRange(level: number, fromIndex: number, toIndex: number): Map<number, Buffer> {
    const stmt = level === 0 ? this.st.leavesRange! : this.st.nodesRange!;
    const rows = this.run('reading tree nodes', () =>
      (level === 0 ? stmt.all(fromIndex, toIndex) : stmt.all(level, fromIndex, toIndex)) as [number, Buffer][],
    );
    return new Map(rows);
  }

  packedHashes(level: number, fromIndex: number, toIndex: number): Buffer | undefined {
    const r = this.run('reading tree nodes', () =>
      (level === 0 ? this.st.packedLeaves!.get(fromIndex, toIndex) : this.st.packedNodes!.get(level, fromIndex, toIndex)) as [Buffer | null, number, number | null, number | null, number],
    );
    const [data, count, min, max, bad] = r;
    const n = toIndex - fromIndex + 1;
    if (!data || count !== n || min !== fromIndex || max !== toIndex || bad !== 0 || data.length !== 32 * n) return undefined;
    return data;
  }

  blob(sha256: string) {
    return this.run('reading a blob', () => this.st.blob!.get(sha256) as { codec: string; data: Buffer; size: number } | undefined);
  }

  blobHashes(): string[] {
    return this.run('reading blobs', () => (this.st.blobHashes!.all() as { sha256: string }[]).map((r) => r.sha256));
  }

  indicesByFileHash(sha256: string): number[] {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return [];
    return this.run('searching', () => this.st.byHash!.all(Buffer.from(sha256, 'hex')) as number[]);
  }

  indicesByFileHashRole(sha256: string, role: string): number[] {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return [];
    return this.run('searching', () => this.st.byHashRole!.all(Buffer.from(sha256, 'hex'), role) as number[]);
  }

  runs(): RunIndexRow[] {
    return this.run('reading runs', () => this.st.runs!.all() as RunIndexRow[]);
  }

  runsBetween(from: string | null, to: string | null): RunIndexRow[] {
    return this.run('reading runs', () => this.st.runsBetween!.all({ from, to }) as RunIndexRow[]);
  }

  runById(id: string): RunIndexRow | undefined {
    return this.run('reading runs', () => this.st.runById!.get(id) as RunIndexRow | undefined);
  }

  runByIndex(index: number): RunIndexRow | undefined {
    return this.run('reading runs', () => this.st.runByIndex!.get(index, index) as RunIndexRow | undefined);
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
    const files: [string, unknown][] = [];
    if (q.fileSha256 !== undefined) files.push(['SELECT idx FROM file_by_hash WHERE sha256 = ?', Buffer.from(q.fileSha256, 'hex')]);
    if (q.filePath !== undefined) files.push(['SELECT idx FROM file_by_path WHERE path_key = ?', pathKey(q.filePath)]);
    for (const [sub, value] of files) {
      where.push(`(start_idx IN (${sub}) OR end_idx IN (${sub}))`);
      args.push(value as Buffer, value as Buffer);
    }
    if (q.beforeStart !== undefined) {
      where.push('start_idx < ?');
      args.push(q.beforeStart);
    }
    const sql = `SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start_idx DESC LIMIT ?`;
    return this.run('searching runs', () => this.db.prepare(sql).all(...args, q.limit) as RunIndexRow[]);
  }

  runsByIdPrefix(prefix: string, limit: number): RunIndexRow[] {
    // substr rather than LIKE: the prefix is user input and may hold '%' or '_'.
    return this.run('searching runs', () =>
      this.db
        .prepare('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs WHERE substr(id, 1, ?) = ? ORDER BY start_idx LIMIT ?')
        .all(prefix.length, prefix, limit) as RunIndexRow[],
    );
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
      this.run('reading the schema', () => this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").pluck().all() as string[]),
    );
    return EXPECTED_TRIGGERS.filter((t) => !have.has(t));
  }

  close(): void {
    this.db.close();
  }
}
