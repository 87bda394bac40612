/**
 * The questions `ffaudit log|trace|bundle|report --server` ask the team server, answered in the shapes the local
 * commands print: runs and notes of every log the token may see (each with the origin of its log), lineages that
 * cross hosts, multi-log bundles and chain-of-custody reports.
 */
import { FfauditError } from '../core/errors.js';
import type { Lineage } from '../lineage/walk.js';
import { parseTimeNs } from '../time/time.js';
import { get, getJson, MAX_DOCUMENT_BYTES, type RemoteServer } from './client.js';
import { checkLineage, checkNote, checkPage, checkRun, type LoggedNote, type LoggedRun, type Unreadable } from './records.js';

/** The API's largest page. */
const PAGE = 1000;

export interface RemoteLogQuery {
  /** The API's filter parameters (user, actor, since, until, status, tool, sha256, path, q, log, host). */
  params: URLSearchParams;
  runs: boolean;
  notes: boolean;
  /** Keep only the `limit` most recent items. */
  limit?: number | undefined;
}

/** Every match of `path` (newest first, page by page), or the `limit` newest. */
async function newest<T>(server: RemoteServer, path: string, params: URLSearchParams, item: (v: unknown) => T, limit: number | undefined, unreadable: Unreadable[]): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  for (;;) {
    const p = new URLSearchParams(params);
    p.set('order', 'desc');
    p.set('limit', String(Math.min(PAGE, limit === undefined ? PAGE : limit - out.length)));
    if (cursor !== null) p.set('cursor', cursor);
    const page = checkPage(await getJson(server, path, p), item);
    out.push(...page.items);
    unreadable.push(...page.unreadable);
    if (page.next === null || (limit !== undefined && out.length >= limit)) return out;
    // A page may hold no item and still go on (its candidates were unreadable, or rejected by the rebuilt records),
    // but it must move: the same cursor again would loop for ever.
    if (page.next === cursor) throw new FfauditError('BAD_INPUT', `the server's ${path} answered the same cursor again`);
    cursor = page.next;
  }
}

const timeOf = (x: LoggedRun | LoggedNote): bigint => parseTimeNs('index' in x ? x.time : x.started_at) ?? 0n;
const indexOf = (x: LoggedRun | LoggedNote): number => ('index' in x ? x.index : x.entries[0]!);

/** Runs and custody notes across the server's logs, oldest first (by time, then log and entry index). */
export async function remoteLog(server: RemoteServer, q: RemoteLogQuery): Promise<{ items: (LoggedRun | LoggedNote)[]; unreadable: Unreadable[] }> {
  const unreadable: Unreadable[] = [];
  const runs = q.runs ? await newest(server, '/runs', q.params, (v) => checkRun(v), q.limit, unreadable) : [];
  const notes = q.notes ? await newest(server, '/notes', q.params, checkNote, q.limit, unreadable) : [];
  let items: (LoggedRun | LoggedNote)[] = [...runs, ...notes].sort((a, b) => {
    const t = timeOf(a) - timeOf(b);
    if (t !== 0n) return t < 0n ? -1 : 1;
    if (a.log !== b.log) return a.log < b.log ? -1 : 1;
    return indexOf(a) - indexOf(b);
  });
  if (q.limit !== undefined) items = items.slice(-q.limit);
  return { items, unreadable };
}

/** The lineage of these bytes across every log the token may see. */
export async function remoteTrace(server: RemoteServer, file: { path: string; sha256: string }): Promise<Lineage> {
  const l = checkLineage(await getJson(server, '/lineage', new URLSearchParams({ sha256: file.sha256, path: file.path })));
  // The server answers for the bytes asked about, or its answer is about something else.
  if (l.file.sha256 !== file.sha256) throw new FfauditError('BAD_INPUT', `the server answered the lineage of ${l.file.sha256}, not of ${file.sha256}`);
  return l;
}

function fileParams(files: readonly { path: string; sha256: string }[], extra: Record<string, string> = {}): URLSearchParams {
  const p = new URLSearchParams();
  // sha256 and path are paired by position.
  for (const f of files) {
    p.append('sha256', f.sha256);
    p.append('path', f.path);
  }
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

/** A bundle (ffaudit-bundle/v1 for one log, v2 across logs) of the lineages of `files`: its text, unparsed. */
export async function remoteBundle(server: RemoteServer, files: readonly { path: string; sha256: string }[], withReports: boolean): Promise<Buffer> {
  return (await get(server, '/bundle', fileParams(files, withReports ? { with_reports: 'true' } : {}), MAX_DOCUMENT_BYTES)).body;
}

/** The chain-of-custody report (HTML) of `file`, and whether the server found every log's evidence verified. */
export async function remoteReport(server: RemoteServer, file: { path: string; sha256: string }): Promise<{ html: Buffer; verified: boolean | null }> {
  const a = await get(server, '/report', fileParams([file]), MAX_DOCUMENT_BYTES);
  const v = a.headers.get('x-ffaudit-verified');
  return { html: a.body, verified: v === 'true' ? true : v === 'false' ? false : null };
}
