/**
 * Live runs for the Runs page: one LISTEN connection per process and database wakes every open event stream when
 * a transaction that indexed runs commits (search/ingest.ts sends `NOTIFY ffaudit_runs` in it; PostgreSQL delivers
 * a notification only at commit, so a woken stream always finds what woke it). Each stream then asks the search
 * functions for the runs after the newest it sent, as any search would: what it sends is rebuilt from the mirrored
 * entries like every page.
 *
 * The connection is opened with the first stream and closed with the last. When it drops it is opened again; meanwhile
 * (and always, as a safety net for a lost notification) a cheap poll of the index tally every few seconds wakes the
 * streams when anything was indexed.
 */
import type { Client } from 'pg';
import type { Db } from '../db/pool.js';

/** The channel ingest.ts notifies on. */
export const RUNS_CHANNEL = 'ffaudit_runs';
/** How often the tally is polled, whatever the LISTEN connection does. */
const POLL_MS = 5_000;
/** How long to wait before opening a dropped LISTEN connection again. */
const RECONNECT_MS = 2_000;

type Wake = () => void;

interface Feed {
  db: Db;
  wakers: Set<Wake>;
  client: Client | undefined;
  timer: NodeJS.Timeout | undefined;
  reconnect: NodeJS.Timeout | undefined;
  tally: string | undefined;
  closed: boolean;
}

const feeds = new Map<Db, Feed>();

function wakeAll(f: Feed): void {
  for (const w of f.wakers) w();
}

async function listen(f: Feed): Promise<void> {
  if (f.closed || f.client) return;
  const { default: pg } = await import('pg');
  const client = new pg.Client(f.db.pool.options);
  f.client = client;
  const dropped = () => {
    if (f.client !== client) return;
    f.client = undefined;
    client.end().catch(() => undefined);
    if (!f.closed) f.reconnect = setTimeout(() => void listen(f), RECONNECT_MS).unref();
  };
  client.on('error', dropped);
  client.on('end', dropped);
  client.on('notification', (n) => {
    if (n.channel === RUNS_CHANNEL) wakeAll(f);
  });
  try {
    await client.connect();
    await client.query(`LISTEN ${RUNS_CHANNEL}`);
    // What was indexed while no connection listened is found by the streams' next search.
    wakeAll(f);
  } catch {
    dropped();
  }
}

/** The sum of the tally's runs and ends: it changes whenever a run is indexed or ends. */
async function poll(f: Feed): Promise<void> {
  try {
    const { rows } = await f.db.pool.query<{ n: string | null }>('SELECT (sum(runs) + sum(ends))::text AS n FROM idx_tally');
    const n = rows[0]?.n ?? '0';
    if (f.tally !== undefined && n !== f.tally) wakeAll(f);
    f.tally = n;
  } catch {
    // The database is away: the streams' own searches will say so when they run.
  }
}

function stop(f: Feed): void {
  f.closed = true;
  feeds.delete(f.db);
  if (f.timer) clearInterval(f.timer);
  if (f.reconnect) clearTimeout(f.reconnect);
  const c = f.client;
  f.client = undefined;
  c?.end().catch(() => undefined);
}

/**
 * Calls `wake` whenever runs may have been indexed in `db`, until the returned function is called. `wake` must be
 * cheap and must not throw: it only marks its stream as due.
 */
export function watchRuns(db: Db, wake: Wake): () => void {
  let f = feeds.get(db);
  if (!f) {
    f = { db, wakers: new Set(), client: undefined, timer: undefined, reconnect: undefined, tally: undefined, closed: false };
    feeds.set(db, f);
    const feed = f;
    feed.timer = setInterval(() => void poll(feed), POLL_MS).unref();
    void poll(feed);
    void listen(feed);
  }
  const feed = f;
  feed.wakers.add(wake);
  return () => {
    feed.wakers.delete(wake);
    if (feed.wakers.size === 0) stop(feed);
  };
}

/** The open event streams on each database (one per server), each with the function that ends it and its person. */
interface Streams {
  open: Map<() => void, number>;
  /** The server is closing: no stream is admitted any more (one would hold its close() for its whole lifetime). */
  closing: boolean;
}
const streamsOf = new Map<Db, Streams>();

/** At most this many event streams per process, and per person: past either a new one is refused (503); the page still works. */
export const MAX_STREAMS = 200;
export const MAX_STREAMS_PER_PERSON = 4;

/** Registers an open stream of person `userId`; false when the server is closing or a bound is reached. */
export function admitStream(db: Db, userId: number, end: () => void): boolean {
  let s = streamsOf.get(db);
  if (!s) streamsOf.set(db, (s = { open: new Map(), closing: false }));
  if (s.closing || s.open.size >= MAX_STREAMS) return false;
  let mine = 0;
  for (const u of s.open.values()) if (u === userId) mine++;
  if (mine >= MAX_STREAMS_PER_PERSON) return false;
  s.open.set(end, userId);
  return true;
}

export function releaseStream(db: Db, end: () => void): void {
  streamsOf.get(db)?.open.delete(end);
}

/** Ends every open event stream on `db` and admits no more (the server is closing). */
export function endStreams(db: Db): void {
  const s: Streams = streamsOf.get(db) ?? { open: new Map(), closing: true };
  s.closing = true;
  streamsOf.set(db, s);
  for (const end of [...s.open.keys()]) end();
}
