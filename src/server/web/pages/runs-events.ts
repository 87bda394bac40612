/**
 * GET /runs/events: the runs a search finds after the newest one a page shows, as server-sent events (HTML Living
 * Standard §9.2), for live-runs.js. The query is the page's filter plus `after`: the cursor of the page's newest run,
 * or `start` when the page showed none. A reconnecting browser sends the id of the last event it got
 * (Last-Event-ID, the run's cursor), so nothing pushed while it was away is lost.
 *
 * Events: `run` (data: the row's view, run-row.ts, id: its cursor) and `unreadable` (data: the search's Unreadable).
 * A run sent while incomplete is sent again when its end arrives (the page replaces its row). A comment line every
 * 25 s keeps proxies from closing an idle stream; a stream ends after 15 minutes and the browser reconnects.
 *
 * A stream is a search: every connection (a reconnection too) is recorded in the access log before anything is
 * sent. Runs are read only as fast as the browser takes them (the stream's queue, not our memory, bounds a slow
 * reader), and the session is checked again before sending after a quiet while: a person signed out, disabled or
 * demoted stops receiving.
 */
import type { Context } from 'hono';
import { FfauditError } from '../../../core/errors.js';
import { parseRunsQuery } from '../../api/filters.js';
import type { Db } from '../../db/pool.js';
import type { AppEnv } from '../../deps.js';
import { decodeCursor, encodeCursor } from '../../search/cursor.js';
import { findRunAcross, runMatches, searchRuns } from '../../search/query.js';
import type { Cursor } from '../../search/types.js';
import { admitStream, releaseStream, watchRuns } from '../live.js';
import { queryText, recordAccess } from '../request.js';
import { stillSignedIn, webUser } from '../session.js';
import { runKey, runRowView } from './run-row.js';
import { ALL_LOGS, hostIds } from './scope.js';

const KEEP_ALIVE_MS = 25_000;
const LIFETIME_MS = 15 * 60_000;
/** Runs fetched per search; a wake reads at most PAGES_PER_WAKE of them before letting other streams run. */
const PAGE = 100;
const PAGES_PER_WAKE = 10;
/** Unreadable hits already reported, remembered so that one is not sent again on every wake. */
const MAX_REPORTED = 1000;
/** Runs sent while incomplete, followed until they end (the oldest forgotten past this). */
const MAX_PENDING = 200;
/** The session is checked again before sending when it was last checked longer ago than this. */
const RECHECK_MS = 30_000;

export async function runsEvents(c: Context<AppEnv>, db: Db): Promise<Response> {
  const search = new URL(c.req.url).searchParams;
  const afterText = c.req.header('last-event-id') || search.get('after') || undefined;
  search.delete('after');
  for (const k of ['cursor', 'limit', 'order']) if (search.has(k)) throw new FfauditError('USAGE', `${k}: the live stream follows the newest runs of a filter; it takes no ${k}`);
  const { filter } = parseRunsQuery(search);
  await recordAccess(c, { action: 'search', query: queryText(search) });
  let after: Cursor | undefined;
  if (afterText !== undefined && afterText !== 'start') {
    try {
      after = decodeCursor(afterText);
    } catch {
      throw new FfauditError('USAGE', 'after: the cursor of a run (as a page gives it) or start');
    }
  } else if (afterText === undefined) {
    // No page to follow: from the newest run that matches now.
    const newest = await searchRuns(db, ALL_LOGS, filter, { limit: 1, order: 'desc' });
    const ids = await hostIds(db);
    after = newest.items[0] ? runKey(newest.items[0], ids) : undefined;
  }
  const ids = await hostIds(db);

  const enc = new TextEncoder();
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  let due = true;
  let busy = false;
  const reported = new Set<string>();
  const pending = new Map<string, { start: number; log: string }>();
  let checkedAt = Date.now();
  const timers: NodeJS.Timeout[] = [];
  let unwatch: () => void = () => undefined;

  const send = (text: string) => {
    if (!ended) ctl.enqueue(enc.encode(text));
  };
  const end = () => {
    if (ended) return;
    ended = true;
    unwatch();
    for (const t of timers) clearTimeout(t);
    releaseStream(db, end);
    try {
      ctl.close();
    } catch {
      // Already closed by the client going away.
    }
  };

  /** The rows of runs that were incomplete when sent and have ended since (and still match the filter). */
  const sendEnded = async () => {
    for (const [k, p] of pending) {
      // By its start entry in its log: exactly this run, whatever else shares its id.
      const r = await findRunAcross(db, ALL_LOGS, String(p.start), p.log).catch(() => undefined);
      if (!r || r.status === 'incomplete') continue;
      pending.delete(k);
      if (runMatches(r, filter)) send(`event: run\ndata: ${JSON.stringify(runRowView(r))}\n\n`);
    }
  };

  const drain = async () => {
    if (busy || ended) return;
    busy = true;
    try {
      if (Date.now() - checkedAt > RECHECK_MS) {
        if (!(await stillSignedIn(c))) {
          send('event: signedout\ndata: ""\n\n');
          end();
          return;
        }
        checkedAt = Date.now();
      }
      while (due && !ended) {
        due = false;
        await sendEnded();
        for (let n = 0; n < PAGES_PER_WAKE && !ended; n++) {
          // Backpressure: a browser that does not read leaves the rest for pull() to fetch when it does.
          if ((ctl.desiredSize ?? 1) <= 0) {
            due = true;
            return;
          }
          const page = await searchRuns(db, ALL_LOGS, filter, { limit: PAGE, order: 'asc', ...(after ? { after } : {}) });
          for (const u of page.unreadable) {
            const k = `${u.log}\n${u.index}`;
            if (reported.has(k)) continue;
            if (reported.size < MAX_REPORTED) reported.add(k);
            send(`event: unreadable\ndata: ${JSON.stringify(u)}\n\n`);
          }
          for (const r of page.items) {
            // A run of a log the process did not know at the start (a host enrolled since) still has its order key.
            if (!ids.has(r.log)) for (const [o, id] of await hostIds(db)) ids.set(o, id);
            const key = runKey(r, ids);
            if (key) after = key;
            if (r.status === 'incomplete') {
              if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
              pending.set(`${r.log}\n${r.entries[0]}`, { start: r.entries[0]!, log: r.log });
            }
            send(`${key ? `id: ${encodeCursor(key)}\n` : ''}event: run\ndata: ${JSON.stringify(runRowView(r))}\n\n`);
          }
          if (page.next === null) break;
          after = page.next;
          if (n === PAGES_PER_WAKE - 1) due = true;
        }
      }
    } catch (e) {
      send(`event: failed\ndata: ${JSON.stringify(e instanceof FfauditError ? e.message.split('\n')[0] : 'the search failed')}\n\n`);
      end();
    } finally {
      busy = false;
    }
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        ctl = controller;
      },
      pull() {
        if (due) void drain();
      },
      cancel() {
        end();
      },
    },
    // Up to 64 events queued ahead of the reader; past it drain() waits for pull().
    { highWaterMark: 64 },
  );
  if (!admitStream(db, webUser(c).userId, end)) throw new FfauditError('BUSY', 'too many live views are open (on this server, or for you): reload the page to see new runs');
  // retry: how long a browser waits before reconnecting after the stream ends.
  send(': ffaudit live runs\nretry: 3000\n\n');
  unwatch = watchRuns(db, () => {
    due = true;
    void drain();
  });
  timers.push(setInterval(() => send(': keep-alive\n\n'), KEEP_ALIVE_MS));
  timers.push(setTimeout(end, LIFETIME_MS));
  for (const t of timers) t.unref();
  void drain();
  return c.body(body, 200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    // Proxies that buffer (nginx) pass it through at once.
    'X-Accel-Buffering': 'no',
    // A stream's connection is never reused: closed with the stream, so a closing server is not held by it.
    Connection: 'close',
  });
}
