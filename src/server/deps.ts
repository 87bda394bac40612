/** What every route module is given: the database, the server's keys, the request log and the clock. */
import type { Hono } from 'hono';
import type { Db } from './db/pool.js';
import type { ServerKeys } from './keys.js';

export interface ServerDeps {
  db: Db;
  keys: ServerKeys;
  /** One line per request and per server event; never bodies, tokens or query strings. */
  log: (line: string) => void;
  /** The clock, for cosignature timestamps (seconds since the epoch); tests pass their own. */
  now?: () => number;
  /**
   * Where the witness publishes the latest checkpoint it cosigned for each log, outside the database (published.ts),
   * so that a server whose database was restored from an older backup is not led to cosign a fork.
   */
  published?: string | undefined;
  /** A host silent for longer than this (milliseconds) is flagged in the log states (search/state.ts); default 24 h. */
  silentAfterMs?: number;
}

/** Who an API request's bearer token names (api/auth.ts): set by the token check, never the token itself. */
export interface ApiCallerVar {
  tokenId: number;
  name: string;
  role: 'viewer' | 'auditor' | 'admin';
}

export type AppEnv = { Variables: { deps: ServerDeps; apiCaller?: ApiCallerVar } };

/** A route module registers its routes on the app (app.ts lists them). */
export type RouteModule = (app: Hono<AppEnv>, deps: ServerDeps) => void;

/** How long a host may stay silent before its log is flagged (`serve --silent-after`, default 24 hours). */
export const DEFAULT_SILENT_AFTER_MS = 24 * 3_600_000;
