/**
 * The query parameters of the read API, parsed strictly into a SearchFilter and a PageRequest (search/types.ts).
 * Everything here comes from a client: an unknown parameter, a parameter given twice where once is allowed, a value
 * out of its bounds or holding a NUL is refused with a one-line reason (USAGE → 400), never passed on or guessed at.
 * The values that pass reach SQL only as bound parameters (search/query.ts).
 */
import { FfauditError } from '../../core/errors.js';
import type { RunStatus, Tool } from '../../core/run.js';
import { parseTimeNs } from '../../time/time.js';
import { decodeCursor } from '../search/cursor.js';
import type { PageRequest, SearchFilter } from '../search/types.js';

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
const MAX_Q = 200;
const MAX_PATH = 4096;
/** Origins are at most 1024 bytes at enrolment (join.ts); host names at most 63 characters (hosts.ts). */
const MAX_ORIGIN = 1024;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MAX_NAME = 256;
const MAX_REPEAT = 100;
const MAX_CURSOR = 512;
const SHA256 = /^[0-9a-fA-F]{64}$/;
const STATUSES: readonly RunStatus[] = ['ok', 'failed', 'incomplete', 'terminated'];
const TOOLS: readonly Tool[] = ['ffmpeg', 'ffprobe'];

const bad = (message: string) => new FfauditError('USAGE', message);

/** A value quoted for an error line: bounded, control characters escaped (it is echoed to the client). */
function shown(v: string): string {
  const cut = v.length > 40 ? `${v.slice(0, 40)}…` : v;
  return JSON.stringify(cut);
}

/**
 * RFC 3339 §5.6 date-time, and nothing looser: a `T` (or `t`) between date and time, a `Z` or a numeric offset, each
 * field in its range (February 30th and 24:00 are refused, which Date.parse would roll over). A leap second (60)
 * cannot be represented by the times entries carry, so it is refused by name rather than moved.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

export function parseRfc3339(name: string, v: string): bigint {
  const m = DATE_TIME.exec(v);
  const refuse = () => bad(`${name}: not an RFC 3339 date-time such as 2026-12-05T18:58:00Z: ${shown(v)}`);
  if (!m) throw refuse();
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = mo >= 1 && mo <= 12 ? new Date(Date.UTC(y, mo, 0)).getUTCDate() : 0;
  if (d < 1 || d > daysInMonth || h > 23 || mi > 59) throw refuse();
  if (s === 60) throw bad(`${name}: a leap second (:60) cannot be searched for: ${shown(v)}`);
  if (s > 59) throw refuse();
  if (m[9] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) throw refuse();
  const ns = parseTimeNs(v);
  if (ns === null) throw refuse();
  // Times are stored as nanoseconds in a PostgreSQL bigint: 1677-09-21 to 2262-04-11.
  if (ns < -(2n ** 63n) || ns > 2n ** 63n - 1n) throw bad(`${name}: outside the times a run can carry (years 1678 to 2261): ${shown(v)}`);
  return ns;
}

/** A host name as `serve hosts add` takes it (a path parameter is checked like a query one). */
export function parseHostName(v: string): string {
  if (!HOST_NAME.test(v)) throw bad(`host: not a host name (letters, digits, '.', '_', '-'): ${shown(v)}`);
  return v;
}

/** The parameters of a request, each name with every value it was given, in order. */
type Params = Map<string, string[]>;

function paramsOf(search: URLSearchParams): Params {
  const p: Params = new Map();
  for (const [k, v] of search) {
    const l = p.get(k);
    if (l) l.push(v);
    else p.set(k, [v]);
  }
  return p;
}

/** Reads the parameters a route allows; the rest are refused, as are NULs and empty values anywhere. */
class Reader {
  private readonly p: Params;
  constructor(search: URLSearchParams, allowed: readonly string[]) {
    this.p = paramsOf(search);
    for (const [k, vs] of this.p) {
      if (!allowed.includes(k)) throw bad(`unknown query parameter ${shown(k)} (this route takes: ${allowed.join(', ') || 'none'})`);
      if (vs.length > MAX_REPEAT) throw bad(`${k}: given more than ${MAX_REPEAT} times`);
      for (const v of vs) {
        if (v.includes('\u0000')) throw bad(`${k}: a value must not contain NUL`);
        if (v.length === 0) throw bad(`${k}: empty value`);
      }
    }
  }
  one(name: string, max: number): string | undefined {
    const vs = this.p.get(name);
    if (!vs) return undefined;
    if (vs.length > 1) throw bad(`${name}: given ${vs.length} times, allowed once`);
    const v = vs[0]!;
    if (v.length > max) throw bad(`${name}: longer than ${max} characters`);
    return v;
  }
  many(name: string, max: number): string[] | undefined {
    const vs = this.p.get(name);
    if (!vs) return undefined;
    for (const v of vs) if (v.length > max) throw bad(`${name}: longer than ${max} characters`);
    return vs;
  }
}

function sha256Of(name: string, v: string): string {
  if (!SHA256.test(v)) throw bad(`${name}: not a SHA-256 (64 hexadecimal digits): ${shown(v)}`);
  return v.toLowerCase();
}

const FILTER_PARAMS = ['log', 'host', 'user', 'actor', 'since', 'until', 'sha256', 'path', 'q'] as const;
const RUN_ONLY = ['status', 'tool'] as const;
const PAGE_PARAMS = ['limit', 'cursor', 'order'] as const;

function readFilter(r: Reader, runs: boolean): SearchFilter {
  const f: SearchFilter = {};
  const logs = r.many('log', MAX_ORIGIN);
  if (logs) f.logs = [...new Set(logs)];
  const hosts = r.many('host', 63);
  if (hosts) {
    for (const h of hosts) if (!HOST_NAME.test(h)) throw bad(`host: not a host name (letters, digits, '.', '_', '-'): ${shown(h)}`);
    f.hosts = [...new Set(hosts)];
  }
  const user = r.one('user', MAX_NAME);
  if (user !== undefined) f.user = user;
  const actor = r.one('actor', MAX_NAME);
  if (actor !== undefined) f.actor = actor;
  const since = r.one('since', 64);
  if (since !== undefined) f.sinceNs = parseRfc3339('since', since);
  const until = r.one('until', 64);
  if (until !== undefined) f.untilNs = parseRfc3339('until', until);
  if (f.sinceNs !== undefined && f.untilNs !== undefined && f.sinceNs > f.untilNs) throw bad('since is after until');
  const sha = r.one('sha256', 64);
  if (sha !== undefined) f.sha256 = sha256Of('sha256', sha);
  const path = r.one('path', MAX_PATH);
  if (path !== undefined) f.pathPrefix = path;
  const q = r.one('q', MAX_Q);
  if (q !== undefined) f.grep = q;
  if (runs) {
    const status = r.one('status', 64);
    if (status !== undefined) {
      const list = status.split(',');
      for (const s of list) if (!(STATUSES as readonly string[]).includes(s)) throw bad(`status: ${shown(s)} is not one of ${STATUSES.join(', ')}`);
      f.statuses = [...new Set(list as RunStatus[])];
    }
    const tool = r.one('tool', 16);
    if (tool !== undefined) {
      if (!(TOOLS as readonly string[]).includes(tool)) throw bad(`tool: one of ${TOOLS.join(', ')}`);
      f.tool = tool as Tool;
    }
  }
  return f;
}

function readPage(r: Reader): PageRequest {
  const limitText = r.one('limit', 8);
  let limit = DEFAULT_LIMIT;
  if (limitText !== undefined) {
    if (!/^[0-9]+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT) throw bad(`limit: an integer from 1 to ${MAX_LIMIT}`);
    limit = Number(limitText);
  }
  const order = r.one('order', 8) ?? 'desc';
  if (order !== 'desc' && order !== 'asc') throw bad('order: desc or asc');
  const page: PageRequest = { limit, order };
  const cursor = r.one('cursor', MAX_CURSOR);
  if (cursor !== undefined) {
    try {
      page.after = decodeCursor(cursor);
    } catch (e) {
      if (e instanceof FfauditError) throw bad(`cursor: not a cursor this server gave (use a page's "next" as it is)`);
      throw e;
    }
  }
  return page;
}

/** GET /api/v1/runs. */
export function parseRunsQuery(search: URLSearchParams): { filter: SearchFilter; page: PageRequest } {
  const r = new Reader(search, [...FILTER_PARAMS, ...RUN_ONLY, ...PAGE_PARAMS]);
  return { filter: readFilter(r, true), page: readPage(r) };
}

/** GET /api/v1/notes: the filters of runs but status and tool, which a custody note does not have. */
export function parseNotesQuery(search: URLSearchParams): { filter: SearchFilter; page: PageRequest } {
  const r = new Reader(search, [...FILTER_PARAMS, ...PAGE_PARAMS]);
  return { filter: readFilter(r, false), page: readPage(r) };
}

export interface ExportQuery {
  format: 'ecs' | 'csv';
  type: 'run' | 'note';
  filter: SearchFilter;
}

/**
 * GET /api/v1/export: `format` (required), `type` (run, the default, or note) and the filters. An export streams every
 * match, oldest first, so it takes no limit, cursor or order: those are refused as unknown.
 */
export function parseExportQuery(search: URLSearchParams): ExportQuery {
  const r = new Reader(search, ['format', 'type', ...FILTER_PARAMS, ...RUN_ONLY]);
  const format = r.one('format', 8);
  if (format !== 'ecs' && format !== 'csv') throw bad('format: ecs or csv (required)');
  const type = r.one('type', 8) ?? 'run';
  if (type !== 'run' && type !== 'note') throw bad('type: run or note');
  if (type === 'note' && (search.has('status') || search.has('tool'))) throw bad('status and tool filter runs, not custody notes');
  return { format, type, filter: readFilter(r, type === 'run') };
}

/** GET /api/v1/runs/{ref}: at most `log`, the origin to look in. */
export function parseRunQuery(search: URLSearchParams): { log?: string } {
  const r = new Reader(search, ['log']);
  const log = r.one('log', MAX_ORIGIN);
  return log === undefined ? {} : { log };
}

/** A run reference in a path: an id, or an id prefix of at least 6 hexadecimal digits. */
export function parseRunRef(ref: string): string {
  if (!/^[0-9a-fA-F]{6,32}$/.test(ref)) throw bad(`not a run id or a prefix of one (6 to 32 hexadecimal digits): ${shown(ref)}`);
  return ref.toLowerCase();
}

export interface FileQuery {
  sha256: string;
  path: string;
}

/** GET /api/v1/lineage and /report: one `sha256` (required) and its `path` (a label; default the hash itself). */
export function parseFileQuery(search: URLSearchParams): FileQuery {
  const r = new Reader(search, ['sha256', 'path']);
  const sha = r.one('sha256', 64);
  if (sha === undefined) throw bad('sha256: required');
  const sha256 = sha256Of('sha256', sha);
  return { sha256, path: r.one('path', MAX_PATH) ?? sha256 };
}

export const MAX_BUNDLE_FILES = 100;

/**
 * GET /api/v1/bundle: `sha256` once per file (1 to 100), `path` either absent or once per sha256, paired in order,
 * and `with_reports` true or false.
 */
export function parseBundleQuery(search: URLSearchParams): { files: FileQuery[]; withReports: boolean } {
  const r = new Reader(search, ['sha256', 'path', 'with_reports']);
  const shas = r.many('sha256', 64);
  if (!shas) throw bad('sha256: required (once per file)');
  if (shas.length > MAX_BUNDLE_FILES) throw bad(`sha256: at most ${MAX_BUNDLE_FILES} files in one bundle`);
  const paths = r.many('path', MAX_PATH);
  if (paths && paths.length !== shas.length) throw bad('path: give none, or one per sha256 in the same order');
  const wr = r.one('with_reports', 5) ?? 'false';
  if (wr !== 'true' && wr !== 'false') throw bad('with_reports: true or false');
  const files = shas.map((s, i) => {
    const sha256 = sha256Of('sha256', s);
    return { sha256, path: paths?.[i] ?? sha256 };
  });
  return { files, withReports: wr === 'true' };
}

/** Routes without parameters refuse any. */
export function parseNoQuery(search: URLSearchParams): void {
  new Reader(search, []);
}
