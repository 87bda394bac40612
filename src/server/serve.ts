/**
 * Runs the server: opens the database (migrating it), loads the keys, opens its access log, listens (HTTP, or HTTPS
 * with --tls-cert and --tls-key), and stops cleanly: `close()` stops accepting, lets in-flight requests finish,
 * pushes the last access events, then closes the pool.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';
import { createApp, type ServerDeps } from './app.js';
import { DEFAULT_SILENT_AFTER_MS } from './deps.js';
import { displayUrl, migrate, openDb } from './db/pool.js';
import { loadServerKeys, serverVkeys } from './keys.js';
import { checkPublished } from './published.js';
import { backfillIndexes, needsBackfill } from './search/ingest.js';
import { reverifyAll } from './search/reverify.js';
import type { MirrorTsa } from './mirror-stamps.js';
import { LedgerAccessLog } from './web/access-log.js';
import { endStreams } from './web/live.js';
import type { OidcConfig } from './web/oidc-config.js';

export interface ServeOptions {
  db: string;
  keys: string;
  /** host:port; port 0 picks a free one. */
  listen: string;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** published.ts: the directory of the latest cosigned checkpoints, outside the database's backups. */
  published?: string | undefined;
  /** A host silent for longer than this is flagged (search/state.ts); default 24 h. */
  silentAfterMs?: number | undefined;
  /** Re-verify every mirror this often (search/reverify.ts); 0 never; default 24 h. */
  reverifyEveryMs?: number | undefined;
  /** The directory of this process's access log (web/access-log.ts); default `access-log` under the keys directory. */
  accessLog?: string | undefined;
  /** The access log's origin when it is created (default `<hostname>/ffaudit-serve/access/<random>`). */
  accessOrigin?: string | undefined;
  /** OpenID Connect sign-in for the web interface (web/oidc.ts), when configured. */
  oidc?: OidcConfig | undefined;
  /** Timestamp the mirror checkpoints with this RFC 3161 TSA (mirror-stamps.ts), when configured. */
  tsa?: MirrorTsa | undefined;
  log: (line: string) => void;
}

export const DEFAULT_REVERIFY_EVERY_MS = 24 * 3_600_000;
const MAX_TIMER_MS = 24 * 86_400_000;

export interface RunningServer {
  url: string;
  deps: ServerDeps;
  close(): Promise<void>;
}

/** Bounds on every request: headers within 10 s, the whole request within 5 minutes (a large add-entries). */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 300_000;

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new FfauditError('USAGE', `--listen ${JSON.stringify(listen)}: expected HOST:PORT, e.g. 127.0.0.1:8080`);
  return { host: (m[1] ?? m[2])!, port };
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const { host, port } = parseListen(o.listen);
  // setInterval takes a 32-bit signed delay: a longer one would fire at once, again and again.
  if (o.reverifyEveryMs !== undefined && !(Number.isSafeInteger(o.reverifyEveryMs) && o.reverifyEveryMs >= 0 && o.reverifyEveryMs <= MAX_TIMER_MS)) {
    throw new FfauditError('USAGE', '--reverify-every: at most 24 days (0: never)');
  }
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new FfauditError('USAGE', '--tls-cert and --tls-key go together');
  const tls = o.tlsCert && o.tlsKey ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined;
  // The TSA module (and pkijs with it) is loaded only by a server that has one.
  const stamps = o.tsa ? await import('./mirror-stamps.js') : undefined;
  if (o.tsa && stamps) {
    if (!(Number.isSafeInteger(o.tsa.everyMs) && o.tsa.everyMs >= 1000 && o.tsa.everyMs <= MAX_TIMER_MS)) throw new FfauditError('USAGE', '--tsa-every: between 1s and 24 days');
    stamps.checkMirrorTsa(o.tsa);
  }
  const keys = loadServerKeys(o.keys);
  const db = await openDb(o.db);
  try {
    const { from, to } = await migrate(db);
    if (from !== to) o.log(`database ${displayUrl(o.db)}: schema migrated from version ${from} to ${to}`);
    // A mirror stored before the search indexes existed is indexed once, before the first search can miss it.
    if (await needsBackfill(db, from)) o.log(`search index: ${await backfillIndexes(db, o.log)} mirrored entries indexed`);
    // Before the first request: a host whose database state is behind what was published is held (published.ts).
    if (o.published) await checkPublished(db, o.published, keys.witness, o.log);
  } catch (e) {
    await db.close();
    throw e;
  }
  const deps: ServerDeps = {
    db,
    keys,
    log: o.log,
    published: o.published,
    silentAfterMs: o.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS,
    tls: tls !== undefined,
    oidc: o.oidc,
    tsaCa: o.tsa?.caPem,
  };
  const app = createApp(deps);
  // Before the first request: an answer that cannot be recorded is not given. Its enrolment and pushes are requests
  // to this very app, through the hosts' own join and push code.
  const inProcess = ((input: string | URL | Request, init?: RequestInit) => app.fetch(new Request(input, init))) as typeof fetch;
  try {
    deps.access = await LedgerAccessLog.open({ dir: o.accessLog ?? join(o.keys, 'access-log'), origin: o.accessOrigin, db, keys, fetch: inProcess, log: o.log });
  } catch (e) {
    await db.close();
    throw e;
  }
  const { serve } = await import('@hono/node-server');
  const https = tls ? await import('node:https') : undefined;
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port,
        ...(https ? { createServer: https.createServer, serverOptions: { ...tls, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS } } : { serverOptions: { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS } }),
      },
      () => resolve(s),
    );
    s.once('error', (e: NodeJS.ErrnoException) => reject(new FfauditError('IO', `cannot listen on ${o.listen}: ${e.code ?? e.message}`)));
  }).catch(async (e) => {
    await deps.access?.close();
    await db.close();
    throw e;
  });
  const addr = server.address() as AddressInfo;
  const url = `${tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const v = serverVkeys(keys);
  // The ML-DSA-44 vkey is 1.7 kB of base64: its key ID says which it is (`serve key` prints it whole).
  const pq = keys.witnessMlDsa44 ? `witness ML-DSA-44 key ID ${keys.witnessMlDsa44.keyId.toString('hex')}` : 'no ML-DSA-44 witness key (serve key --add-ml-dsa)';
  o.log(`listening on ${url}; witness ${v.witness}; mirror ${v.mirror}; ${pq}`);
  // The scheduled re-verification: unref'd, so it never keeps the process alive, and stopped before the pool closes.
  const every = o.reverifyEveryMs ?? DEFAULT_REVERIFY_EVERY_MS;
  let checking: Promise<void> | undefined;
  const timer =
    every > 0
      ? setInterval(() => {
          checking ??= reverifyAll(db, o.log, { tsaCa: o.tsa?.caPem }).finally(() => {
            checking = undefined;
          });
        }, every)
      : undefined;
  timer?.unref();
  // The timestamps: a round at most every minute (each log is asked at most once per --tsa-every), never two at once.
  let stamping: Promise<void> | undefined;
  const stopStamping = new AbortController();
  const tsa = o.tsa;
  const stampTimer =
    tsa && stamps
      ? setInterval(() => {
          stamping ??= stamps.stampMirrors(db, tsa, o.log, stopStamping.signal).finally(() => {
            stamping = undefined;
          });
        }, Math.min(tsa.everyMs, stamps.MAX_TICK_MS))
      : undefined;
  stampTimer?.unref();
  let closing: Promise<void> | undefined;
  return {
    url,
    deps,
    close() {
      closing ??= (async () => {
        if (timer) clearInterval(timer);
        if (stampTimer) clearInterval(stampTimer);
        stopStamping.abort();
        // Live event streams never finish on their own: ended first, or server.close() would wait for them forever.
        endStreams(db);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive connections would hold close() open; requests in flight still finish.
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await checking?.catch(() => undefined);
        await stamping?.catch(() => undefined);
        await deps.access?.close();
        await db.close();
      })();
      return closing;
    },
  };
}
