/**
 * The embedded SQLite backend (better-sqlite3 12).
 *
 * Durability: WAL journal with synchronous=FULL, so a transaction that returned has its WAL frames fsync'ed:
 * an acknowledged entry survives a crash or power loss. Concurrency: every append runs in BEGIN IMMEDIATE, so
 * writers are serialised by SQLite's own lock and each gets the next index; a writer that finds the lock taken
 * waits (busy timeout) up to BUSY_TIMEOUT_MS, then fails with a clear error instead of waiting forever.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { FfauditError } from '../core/errors.js';
import type { AppendTx, Head, RunIndexRow, RunQuery, Store, StoredEntry } from './types.js';

export const BUSY_TIMEOUT_MS = 60_000;

const APPEND_ONLY = ['entries', 'nodes', 'checkpoints', 'meta', 'blobs'] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, codec TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS file_index (sha256 TEXT, path TEXT NOT NULL, idx INTEGER NOT NULL, role TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS file_index_sha ON file_index (sha256);
CREATE INDEX IF NOT EXISTS file_index_path ON file_index (path);
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, start_idx INTEGER NOT NULL, end_idx INTEGER, tool TEXT NOT NULL,
  user TEXT NOT NULL, time TEXT NOT NULL, status TEXT);
CREATE INDEX IF NOT EXISTS runs_start ON runs (start_idx);
CREATE INDEX IF NOT EXISTS runs_end ON runs (end_idx);
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
  if (err.code === 'SQLITE_CORRUPT' || err.code === 'SQLITE_NOTADB') {
    return new FfauditError('STORE', `the ledger database is damaged (${err.message ?? err.code})`, { cause: e });
  }
  return new FfauditError('STORE', `${what}: ${err.message ?? String(e)}`, { cause: e });
}

export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database;
  private readonly st: Record<string, Statement>;

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
      entries: p('SELECT idx, leaf, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx'),
      insertEntry: p('INSERT INTO entries (idx, leaf, data) VALUES (?, ?, ?)'),
      maxIdx: p('SELECT max(idx) AS m FROM entries'),
      count: p('SELECT count(*) AS c FROM entries'),
      node: p('SELECT hash FROM nodes WHERE level = ? AND idx = ?'),
      leaf: p('SELECT leaf FROM entries WHERE idx = ?'),
      nodesRange: p('SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? AND idx <= ?'),
      leavesRange: p('SELECT idx, leaf AS hash FROM entries WHERE idx >= ? AND idx <= ?'),
      insertNode: p('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      kept: p('SELECT size, note FROM checkpoints ORDER BY size'),
      blob: p('SELECT codec, data, size FROM blobs WHERE sha256 = ?'),
      blobHashes: p('SELECT sha256 FROM blobs ORDER BY sha256'),
      putBlob: p('INSERT OR IGNORE INTO blobs (sha256, codec, size, data) VALUES (?, ?, ?, ?)'),
      indexFile: p('INSERT INTO file_index (sha256, path, idx, role) VALUES (?, ?, ?, ?)'),
      byHash: p('SELECT DISTINCT idx FROM file_index WHERE sha256 = ? ORDER BY idx'),
      byHashRole: p('SELECT DISTINCT idx FROM file_index WHERE sha256 = ? AND role = ? ORDER BY idx'),
      byPath: p('SELECT DISTINCT idx FROM file_index WHERE path = ? ORDER BY idx'),
      indexRun: p(`INSERT INTO runs (id, start_idx, end_idx, tool, user, time, status) VALUES (@id, @startIndex, @endIndex, @tool, @user, @time, @status)
        ON CONFLICT (id) DO UPDATE SET end_idx = excluded.end_idx, status = excluded.status`),
      runs: p('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs ORDER BY start_idx'),
      runsBetween: p(`SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs
        WHERE (@from IS NULL OR time >= @from) AND (@to IS NULL OR time <= @to) ORDER BY start_idx`),
      runById: p('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs WHERE id = ?'),
      runByIndex: p('SELECT id, start_idx AS startIndex, end_idx AS endIndex, tool, user, time, status FROM runs WHERE start_idx = ? OR end_idx = ?'),
    };
  }

  /** Opens (or with `create`, creates) the database at `path`. */
  static open(path: string, opts: { create?: boolean; readonly?: boolean } = {}): SqliteStore {
    if (!opts.create && !existsSync(path)) throw new FfauditError('NO_LEDGER', `no ledger database at ${path}`);
    const Driver = loadDriver();
    let db: Database;
    try {
      db = new Driver(path, { timeout: BUSY_TIMEOUT_MS, fileMustExist: !opts.create });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
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
    const tx: AppendTx = {
      perfect: (l, i) => this.perfect(l, i),
      head: () => this.head(),
      insertEntry: (i, leaf, data) => void st.insertEntry!.run(i, leaf, data),
      insertNode: (l, i, h) => void st.insertNode!.run(l, i, h),
      setHead: (size, note, keep) => {
        st.insertHead!.run(size, note);
        if (keep) st.keep!.run(size, note);
      },
      putBlob: (sha, codec, data, size) => void st.putBlob!.run(sha, codec, size, data),
      indexFile: (sha, path, i, role) => void st.indexFile!.run(sha, path, i, role),
      indexRun: (row) => void st.indexRun!.run(row),
    };
    return this.run('appending to the ledger', () => this.db.transaction(() => fn(tx)).immediate());
  }

  entry(index: number): StoredEntry | undefined {
    const r = this.run('reading an entry', () => this.st.entry!.get(index) as { idx: number; leaf: Buffer; data: Buffer } | undefined);
    return r ? { index: r.idx, leaf: r.leaf, data: r.data } : undefined;
  }

  entries(from: number, to: number): StoredEntry[] {
    return this.run('reading entries', () =>
      (this.st.entries!.all(from, to) as { idx: number; leaf: Buffer; data: Buffer }[]).map((r) => ({ index: r.idx, leaf: r.leaf, data: r.data })),
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
      (level === 0 ? stmt.all(fromIndex, toIndex) : stmt.all(level, fromIndex, toIndex)) as { idx: number; hash: Buffer }[],
    );
    return new Map(rows.map((r) => [r.idx, r.hash]));
  }

  blob(sha256: string) {
    return this.run('reading a blob', () => this.st.blob!.get(sha256) as { codec: string; data: Buffer; size: number } | undefined);
  }

  blobHashes(): string[] {
    return this.run('reading blobs', () => (this.st.blobHashes!.all() as { sha256: string }[]).map((r) => r.sha256));
  }

  indicesByFileHash(sha256: string): number[] {
    return this.run('searching', () => (this.st.byHash!.all(sha256) as { idx: number }[]).map((r) => r.idx));
  }

  indicesByFileHashRole(sha256: string, role: string): number[] {
    return this.run('searching', () => (this.st.byHashRole!.all(sha256, role) as { idx: number }[]).map((r) => r.idx));
  }

  indicesByFilePath(path: string): number[] {
    return this.run('searching', () => (this.st.byPath!.all(path) as { idx: number }[]).map((r) => r.idx));
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
    const args: (string | number)[] = [];
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
    for (const [column, value] of [['sha256', q.fileSha256], ['path', q.filePath]] as const) {
      if (value === undefined) continue;
      where.push(`(start_idx IN (SELECT idx FROM file_index WHERE ${column} = ?) OR end_idx IN (SELECT idx FROM file_index WHERE ${column} = ?))`);
      args.push(value, value);
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
    const rows = this.db.pragma('quick_check') as { quick_check: string }[];
    const msgs = rows.map((r) => r.quick_check);
    return msgs.length === 1 && msgs[0] === 'ok' ? [] : msgs;
  }

  missingTriggers(): string[] {
    const have = new Set((this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as { name: string }[]).map((r) => r.name));
    return EXPECTED_TRIGGERS.filter((t) => !have.has(t));
  }

  close(): void {
    this.db.close();
  }
}
