/**
 * The server's PostgreSQL: one pool per process, the schema migrated at start. The connection string never carries
 * a password (libpq's PGPASSWORD, ~/.pgpass or PGPASSFILE do), so it can appear in a process list and a log line.
 */
import type { Pool, PoolClient } from 'pg';
import { FfauditError } from '../../core/errors.js';
import { MIGRATIONS } from './migrations.js';

/** Refuses a connection string with a password in it: one line, before anything connects. */
export function checkDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FfauditError('USAGE', '--db: not a connection string (postgres://user@host:port/database)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new FfauditError('USAGE', '--db: the connection string must start with postgres://');
  if (u.password !== '' || u.searchParams.has('password')) {
    throw new FfauditError('USAGE', '--db: the connection string carries a password; give it through PGPASSWORD or ~/.pgpass instead');
  }
  return u;
}

/** The URL with no user information, for log lines and messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(unparsable connection string)';
  }
}

export interface Db {
  pool: Pool;
  /** Runs fn in one transaction (the isolation level given), retrying on serialization failures and deadlocks. */
  tx<T>(fn: (c: PoolClient) => Promise<T>, isolation?: 'read committed' | 'repeatable read' | 'serializable'): Promise<T>;
  close(): Promise<void>;
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

export async function openDb(url: string, opts: { max?: number } = {}): Promise<Db> {
  checkDatabaseUrl(url);
  const { default: pg } = await import('pg');
  // int8 (bigint) columns come back as strings by default; every size and index here is below 2^53.
  pg.types.setTypeParser(20, (v: string) => Number(v));
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (PostgreSQL restarted) must not crash the process: the pool drops it.
  pool.on('error', () => undefined);
  try {
    const c = await pool.connect();
    c.release();
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new FfauditError('STORE', `cannot connect to PostgreSQL at ${displayUrl(url)}: ${(e as Error).message}`, { cause: e });
  }
  const db: Db = {
    pool,
    async tx(fn, isolation = 'read committed') {
      for (let attempt = 0; ; attempt++) {
        const c = await pool.connect();
        const broken = watchClient(c);
        try {
          await c.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`);
          const r = await fn(c);
          await c.query('COMMIT');
          return r;
        } catch (e) {
          await c.query('ROLLBACK').catch(() => undefined);
          const code = (e as { code?: string }).code;
          if (code && RETRYABLE.has(code) && attempt < 20) continue;
          throw e;
        } finally {
          broken.release();
        }
      }
    },
    close: () => pool.end(),
  };
  return db;
}

/**
 * Keeps a checked-out client's connection errors from crashing the process: pg emits 'error' on a client whose
 * connection drops (PostgreSQL stopped or killed) and an 'error' event nobody listens to is an uncaught exception.
 * The failure reaches the caller through its query anyway; `release` hands the client back, or destroys it when its
 * connection broke, so the pool never lends it again.
 */
function watchClient(c: PoolClient): { release: () => void } {
  let failure: Error | undefined;
  const onError = (e: Error) => {
    failure ??= e;
  };
  c.on('error', onError);
  return {
    release() {
      c.off('error', onError);
      c.release(failure);
    },
  };
}

/** Runs fn with a client of the pool, outside any transaction (reads that need one connection). */
export async function withClient<T>(db: Db, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await db.pool.connect();
  const broken = watchClient(c);
  try {
    return await fn(c);
  } finally {
    broken.release();
  }
}

/** A fixed advisory-lock key, so two processes starting at once migrate one after the other. */
const MIGRATION_LOCK = 0x66666175; // "ffau"

/**
 * Brings the schema to the newest version this code knows, in one transaction. A database at a newer version (a
 * newer ffaudit migrated it) is refused: this code would misread its tables.
 */
export async function migrate(db: Db): Promise<{ from: number; to: number }> {
  return db.tx(async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS ffaudit_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM ffaudit_schema');
    const from = rows[0]?.v ?? 0;
    const newest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (from > newest) {
      throw new FfauditError('STORE', `the database's schema is version ${from}, newer than this ffaudit knows (${newest}): upgrade ffaudit`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await c.query(m.sql);
      await c.query('INSERT INTO ffaudit_schema (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    return { from, to: newest };
  });
}
