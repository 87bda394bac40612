/** What every route module is given: the database, the server's keys, the request log and the clock. */
import type { Hono } from 'hono';
import type { Db } from './db/pool.js';
import type { ServerKeys } from './keys.js';
import type { OidcConfig } from './web/oidc-config.js';

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
  /**
   * The server process's own access log (web/access.ts): every sign-in, search, view and download of evidence is
   * appended to it before the answer is sent. Absent only in tests of routes that record nothing.
   */
  access?: AccessLog | undefined;
  /** Whether the server is reached over TLS (serve --tls-cert): session cookies are then Secure and __Host- prefixed. */
  tls?: boolean;
  /** Sign-in through an OpenID Provider as well (serve --oidc-*, web/oidc.ts); password sign-in only without it. */
  oidc?: OidcConfig | undefined;
  /** PEM text of the TSA's CA certificate(s) (serve --tsa-ca): a mirror check verifies the timestamps' tokens with it. */
  tsaCa?: string | undefined;
}

/** What a request did with the evidence, as the access log records it (web/access.ts writes the entry). */
export interface AccessEvent {
  /**
   * signin, signin.failed, signout, search, view.run, view.file, view.report (FFmpeg's report of a run),
   * download.receipt, download.bundle, download.report, download.export, alert.ack, admin.<what>.
   */
  action: string;
  /** The account (web) or token name (API) that did it; the name tried, for a failed sign-in. */
  user: string;
  via: 'web' | 'api';
  /** The runs (ids) and files (SHA-256) it concerns; the search's query for a search or an export. */
  runs?: string[];
  files?: string[];
  query?: string;
  /** The client's address as the socket saw it. */
  client?: string | undefined;
}

/**
 * The access log's contract: `record` MUST NOT resolve before the event is durably in the ledger (a page that cannot
 * be recorded is not served: 503), and MUST reject rather than drop it.
 */
export interface AccessLog {
  record(event: AccessEvent): Promise<void>;
  /** Stops mirroring (called by close()); events recorded before are in the ledger whatever happens. */
  close(): Promise<void>;
}

/** A signed-in person (web/session.ts), set on the context by the session middleware; never the cookie itself. */
export interface WebSessionVar {
  userId: number;
  user: string;
  role: 'viewer' | 'auditor' | 'admin';
  /** This session's CSRF token, embedded in every form and checked on every POST. */
  csrf: string;
}

/** Who an API request's bearer token names (api/auth.ts): set by the token check, never the token itself. */
export interface ApiCallerVar {
  tokenId: number;
  name: string;
  role: 'viewer' | 'auditor' | 'admin';
}

export type AppEnv = { Variables: { deps: ServerDeps; apiCaller?: ApiCallerVar; web?: WebSessionVar } };

/** A route module registers its routes on the app (app.ts lists them). */
export type RouteModule = (app: Hono<AppEnv>, deps: ServerDeps) => void;

/** How long a host may stay silent before its log is flagged (`serve --silent-after`, default 24 hours). */
export const DEFAULT_SILENT_AFTER_MS = 24 * 3_600_000;
