/**
 * The read API, /api/v1 (described by openapi.ts, served at /api/v1/openapi.json): search, lineage, evidence and the
 * state of every mirrored log, behind bearer tokens with roles (auth.ts). Every answer comes from the search
 * functions (server/search/), which rebuild each run and note from the mirrored entry bytes: the indexes only say
 * where to look.
 *
 * Errors are one line of text/plain with the status of http.ts (app.ts onError), as everywhere on this server.
 */
import type { Context, Hono } from 'hono';
import { FfauditError } from '../../core/errors.js';
import { lineageToJson } from '../../lineage/walk.js';
import { DEFAULT_SILENT_AFTER_MS, type AppEnv, type ServerDeps } from '../deps.js';
import { listHosts } from '../hosts.js';
import { readBody } from '../http.js';
import { encodeCursor } from '../search/cursor.js';
import { fileBundle, fileReport, hostIdOf, reportHeaders } from '../search/file-evidence.js';
import { traceAcross } from '../search/lookup.js';
import { findRunAcross, searchNotes, searchRuns } from '../search/query.js';
import { reverifyMirror } from '../search/reverify.js';
import { logStates } from '../search/state.js';
import type { LoggedNote, Page, Scope } from '../search/types.js';
import { queryText, recordApiAccess } from '../web/request.js';
import { addToken, isRole, listTokens, requireRole, revokeToken, ROLES } from './auth.js';
import { exportResponse } from './export.js';
import { parseBundleQuery, parseExportQuery, parseFileQuery, parseHostName, parseNoQuery, parseNotesQuery, parseRunQuery, parseRunRef, parseRunsQuery } from './filters.js';
import { OPENAPI } from './openapi.js';

/** Every token sees every log today (api_tokens has no scope of its own); the search functions take a scope anyway. */
const ALL_LOGS: Scope = { hostIds: null };

const MAX_TOKEN_BODY = 4096;

const query = (c: Context<AppEnv>) => new URL(c.req.url).searchParams;

function pageJson<T>(page: Page<T>, item: (t: T) => unknown): unknown {
  return { items: page.items.map(item), next: page.next === null ? null : encodeCursor(page.next), total: page.total, unreadable: page.unreadable };
}

/** A note as `ffaudit log --json` prints it: `type` first, then the record, then the log. */
function noteJson(n: LoggedNote): unknown {
  const { log, ...note } = n;
  return { type: 'custody.note', ...note, log };
}

export function apiRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  const { db } = deps;
  // Answers about evidence are never cached by anything between the server and the client.
  app.use('/api/v1/*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
    c.header('X-Content-Type-Options', 'nosniff');
  });

  app.get('/api/v1/openapi.json', (c) => {
    parseNoQuery(query(c));
    return c.json(OPENAPI);
  });

  // viewer: runs, notes, lineage, the state of every log.
  // Searches and views are recorded in the access log as the web interface's are (web/request.ts), before the answer.
  app.get('/api/v1/runs', requireRole('viewer'), async (c) => {
    const { filter, page } = parseRunsQuery(query(c));
    const found = await searchRuns(db, ALL_LOGS, filter, page);
    await recordApiAccess(c, { action: 'search', query: queryText(query(c)) });
    return c.json(pageJson(found, (r) => r));
  });
  app.get('/api/v1/runs/:ref', requireRole('viewer'), async (c) => {
    const ref = parseRunRef(c.req.param('ref'));
    const { log } = parseRunQuery(query(c));
    const run = await findRunAcross(db, ALL_LOGS, ref, log);
    await recordApiAccess(c, { action: 'view.run', runs: [run.id] });
    return c.json(run);
  });
  app.get('/api/v1/notes', requireRole('viewer'), async (c) => {
    const { filter, page } = parseNotesQuery(query(c));
    const found = await searchNotes(db, ALL_LOGS, filter, page);
    await recordApiAccess(c, { action: 'search', query: `/notes${queryText(query(c))}` });
    return c.json(pageJson(found, noteJson));
  });
  app.get('/api/v1/lineage', requireRole('viewer'), async (c) => {
    const file = parseFileQuery(query(c));
    const lineage = await traceAcross(db, ALL_LOGS, file);
    await recordApiAccess(c, { action: 'view.file', files: [file.sha256] });
    return c.json(lineageToJson(lineage));
  });
  app.get('/api/v1/logs', requireRole('viewer'), async (c) => {
    parseNoQuery(query(c));
    return c.json({ items: await logStates(db, ALL_LOGS, { silentAfterMs: deps.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS }) });
  });

  // auditor: evidence (bundles, reports, exports) and re-verification on demand. Each download is appended to the
  // server's access log (web/access-log.ts) once it is ready and before it is sent: no record, no answer (503).
  app.get('/api/v1/bundle', requireRole('auditor'), async (c) => {
    const { files, withReports } = parseBundleQuery(query(c));
    const bundle = await fileBundle(db, ALL_LOGS, files, { withReports });
    await recordApiAccess(c, { action: 'download.bundle', files: files.map((f) => f.sha256) });
    return c.body(bundle, 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });
  app.get('/api/v1/report', requireRole('auditor'), async (c) => {
    const file = parseFileQuery(query(c));
    const { html, verified } = await fileReport(db, ALL_LOGS, file);
    await recordApiAccess(c, { action: 'download.report', files: [file.sha256] });
    return c.body(html, 200, reportHeaders(verified));
  });
  app.get('/api/v1/export', requireRole('auditor'), async (c) => {
    const q = parseExportQuery(query(c));
    await recordApiAccess(c, { action: 'download.export', query: queryText(query(c)) });
    return exportResponse(c, db, ALL_LOGS, q);
  });
  app.post('/api/v1/logs/:host/verify', requireRole('auditor'), async (c) => {
    parseNoQuery(query(c));
    const host = parseHostName(c.req.param('host'));
    const r = await reverifyMirror(db, await hostIdOf(db, { name: host }), { tsaCa: deps.tsaCa });
    return c.json({ host, ok: r.ok, size: r.size, problems: r.problems });
  });

  // admin: hosts and tokens.
  app.get('/api/v1/hosts', requireRole('admin'), async (c) => {
    parseNoQuery(query(c));
    return c.json({ items: await listHosts(db) });
  });
  app.get('/api/v1/tokens', requireRole('admin'), async (c) => {
    parseNoQuery(query(c));
    return c.json({ items: await listTokens(db) });
  });
  app.post('/api/v1/tokens', requireRole('admin'), async (c) => {
    parseNoQuery(query(c));
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new FfauditError('BAD_INPUT', 'the body must be application/json: {"name", "role"}');
    let req: unknown;
    try {
      req = JSON.parse((await readBody(c.req.raw, MAX_TOKEN_BODY)).toString('utf8'));
    } catch (e) {
      if (e instanceof FfauditError) throw e;
      throw new FfauditError('BAD_INPUT', 'the body is not JSON');
    }
    const { name, role, ...rest } = (typeof req === 'object' && req !== null && !Array.isArray(req) ? req : {}) as Record<string, unknown>;
    if (typeof name !== 'string' || !isRole(role) || Object.keys(rest).length > 0) {
      throw new FfauditError('BAD_INPUT', `the body must be {"name": string, "role": ${ROLES.map((r) => JSON.stringify(r)).join(' | ')}} and nothing else`);
    }
    const { id, token } = await addToken(db, name, role);
    const made = (await listTokens(db)).find((t) => t.id === id)!;
    // The only time the token is ever shown.
    return c.json({ ...made, token }, 201);
  });
  app.delete('/api/v1/tokens/:id', requireRole('admin'), async (c) => {
    parseNoQuery(query(c));
    const id = c.req.param('id');
    if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new FfauditError('USAGE', 'a token id is a positive integer');
    return c.json(await revokeToken(db, Number(id)));
  });
}
