/**
 * Runs the server: opens the database (migrating it), loads the keys, listens (HTTP, or HTTPS with --tls-cert and
 * --tls-key), and stops cleanly: `close()` stops accepting, lets in-flight requests finish, then closes the pool.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { FfauditError } from '../core/errors.js';
import { createApp, type ServerDeps } from './app.js';
import { displayUrl, migrate, openDb } from './db/pool.js';
import { loadServerKeys, serverVkeys } from './keys.js';

export interface ServeOptions {
  db: string;
  keys: string;
  /** host:port; port 0 picks a free one. */
  listen: string;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  log: (line: string) => void;
}

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
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new FfauditError('USAGE', '--tls-cert and --tls-key go together');
  const tls = o.tlsCert && o.tlsKey ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined;
  const keys = loadServerKeys(o.keys);
  const db = await openDb(o.db);
  try {
    const { from, to } = await migrate(db);
    if (from !== to) o.log(`database ${displayUrl(o.db)}: schema migrated from version ${from} to ${to}`);
  } catch (e) {
    await db.close();
    throw e;
  }
  const deps: ServerDeps = { db, keys, log: o.log };
  const app = createApp(deps);
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
    await db.close();
    throw e;
  });
  const addr = server.address() as AddressInfo;
  const url = `${tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const v = serverVkeys(keys);
  o.log(`listening on ${url}; witness ${v.witness}; mirror ${v.mirror}`);
  let closing: Promise<void> | undefined;
  return {
    url,
    deps,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive connections would hold close() open; requests in flight still finish.
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await db.close();
      })();
      return closing;
    },
  };
}
