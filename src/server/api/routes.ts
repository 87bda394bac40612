/**
 * The read API, /api/v1 (described by openapi.ts, served at /api/v1/openapi.json): search, lineage, evidence and the
 * state of every mirrored log, behind bearer tokens with roles (auth.ts). Every answer comes from the search
 * functions (server/search/), which rebuild each run and note from the mirrored entry bytes: the indexes only say
 * where to look.
 *
 * Errors are one line of text/plain with the status of http.ts (app.ts onError), as everywhere on this server.
 */
import type { Context, Hono } from 'hono';
import { formatBundle } from '../../core/bundle.js';
import { FfauditError } from '../../core/errors.js';
import { bundleLineagesAcross } from '../../lineage/bundle.js';
import { crossLogFileReport } from '../../lineage/report.js';
import { lineageToJson, type Lineage } from '../../lineage/walk.js';
import { renderFileReport } from '../../render/report-html.js';
import { formatTimeNs } from '../../time/time.js';
import type { Db } from '../db/pool.js';
import { DEFAULT_SILENT_AFTER_MS, type AppEnv, type ServerDeps } from '../deps.js';
import { listHosts } from '../hosts.js';
import { readBody } from '../http.js';
import { encodeCursor } from '../search/cursor.js';
import { mirrorEvidence } from '../search/evidence.js';
import { traceAcross } from '../search/lookup.js';
import { findRunAcross, searchNotes, searchRuns } from '../search/query.js';
import { reverifyMirror } from '../search/reverify.js';
import { logStates } from '../search/state.js';
import type { LoggedNote, Page, Scope } from '../search/types.js';
import { recordApiAccess } from '../web/request.js';
import { addToken, isRole, listTokens, requireRole, revokeToken, ROLES } from './auth.js';
import { exportResponse } from './export.js';
import { parseBundleQuery, parseExportQuery, parseFileQuery, parseHostName, parseNoQuery, parseNotesQuery, parseRunQuery, parseRunRef, parseRunsQuery } from './filters.js';
import { OPENAPI } from './openapi.js';

/** Every token sees every log today (api_tokens has no scope of its own); the search functions take a scope anyway. */
const ALL_LOGS: Scope = { hostIds: null };

/** When a host counts as silent in GET /api/v1/logs unless `serve --silent-after` says otherwise. */

const MAX_TOKEN_BODY = 4096;

const nowText = () => formatTimeNs(BigInt(Date.now()) * 1_000_000n);
const query = (c: Context<AppEnv>) => new URL(c.req.url).searchParams;

function pageJson<T>(page: Page<T>, item: (t: T) => unknown): unknown {
  return { items: page.items.map(item), next: page.next === null ? null : encodeCursor(page.next), total: page.total, unreadable: page.unreadable };
}

/** A note as `ffaudit log --json` prints it: `type` first, then the record, then the log. */
function noteJson(n: LoggedNote): unknown {
  const { log, ...note } = n;
  return { type: 'custody.note', ...note, log };
}

function unknownFile(l: Lineage): FfauditError {
  return new FfauditError('NOT_FOUND', `unknown to every log: no audited run produced or read these bytes and no custody note names them (sha256 ${l.file.sha256})`);
}

async function hostIdOf(db: Db, where: { name: string } | { origin: string }): Promise<number> {
  const { rows } =
    'name' in where
      ? await db.pool.query<{ id: number }>('SELECT id FROM hosts WHERE name = $1', [where.name])
      : await db.pool.query<{ id: number }>('SELECT id FROM hosts WHERE origin = $1', [where.origin]);
  if (!rows[0]) throw new FfauditError('NOT_FOUND', 'name' in where ? `no host named ${JSON.stringify(where.name)}` : `no log with origin ${JSON.stringify(where.origin)}`);
  return rows[0].id;
}

/**
 * Whether the whole mirrored log `origin` verifies, for a report: the latest re-verification (search/reverify.ts)
 * when it covered everything the mirror holds now, else one run now (and recorded), as local `report` verifies the
 * whole ledger. A report is marked VERIFIED only when every log it rests on passes.
 */
async function wholeLogCheck(db: Db, origin: string): Promise<{ ok: boolean; size: number; problems: string[] }> {
  const hostId = await hostIdOf(db, { origin });
  const { rows } = await db.pool.query<{ size: number; ok: boolean; problems: string[]; mirrored: number | null }>(
    `SELECT c.size, c.ok, c.problems, m.size AS mirrored
       FROM mirror_checks c JOIN hosts h ON h.id = c.host_id AND h.epoch = c.epoch LEFT JOIN mirror_state m ON m.host_id = c.host_id
      WHERE c.host_id = $1 ORDER BY c.checked_at DESC, c.id DESC LIMIT 1`,
    [hostId],
  );
  const last = rows[0];
  if (last && last.size === last.mirrored) return { ok: last.ok, size: last.size, problems: last.problems };
  return reverifyMirror(db, hostId);
}

/** A file's size as recorded by the runs of its lineage (the server holds no file, only what the entries say). */
function recordedSize(l: Lineage): number | null {
  for (const r of [...l.runs, ...l.readBy]) {
    for (const f of [...r.outputs, ...r.inputs]) if (f.sha256 === l.file.sha256 && f.size !== null) return f.size;
  }
  return null;
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
  app.get('/api/v1/runs', requireRole('viewer'), async (c) => {
    const { filter, page } = parseRunsQuery(query(c));
    return c.json(pageJson(await searchRuns(db, ALL_LOGS, filter, page), (r) => r));
  });
  app.get('/api/v1/runs/:ref', requireRole('viewer'), async (c) => {
    const ref = parseRunRef(c.req.param('ref'));
    const { log } = parseRunQuery(query(c));
    return c.json(await findRunAcross(db, ALL_LOGS, ref, log));
  });
  app.get('/api/v1/notes', requireRole('viewer'), async (c) => {
    const { filter, page } = parseNotesQuery(query(c));
    return c.json(pageJson(await searchNotes(db, ALL_LOGS, filter, page), noteJson));
  });
  app.get('/api/v1/lineage', requireRole('viewer'), async (c) => {
    const file = parseFileQuery(query(c));
    return c.json(lineageToJson(await traceAcross(db, ALL_LOGS, file)));
  });
  app.get('/api/v1/logs', requireRole('viewer'), async (c) => {
    parseNoQuery(query(c));
    return c.json({ items: await logStates(db, ALL_LOGS, { silentAfterMs: deps.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS }) });
  });

  // auditor: evidence (bundles, reports, exports) and re-verification on demand. Each download is appended to the
  // server's access log (web/access-log.ts) once it is ready and before it is sent: no record, no answer (503).
  app.get('/api/v1/bundle', requireRole('auditor'), async (c) => {
    const { files, withReports } = parseBundleQuery(query(c));
    const lineages: Lineage[] = [];
    for (const f of files) {
      const l = await traceAcross(db, ALL_LOGS, f);
      if (!l.known) throw unknownFile(l);
      lineages.push(l);
    }
    const bundle = await bundleLineagesAcross((origin) => mirrorEvidence(db, origin), lineages, { withReports, now: nowText });
    await recordApiAccess(c, { action: 'download.bundle', files: files.map((f) => f.sha256) });
    // The bundle's exact text as `ffaudit bundle` writes it: what verify-bundle reads.
    return c.body(formatBundle(bundle), 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });
  app.get('/api/v1/report', requireRole('auditor'), async (c) => {
    const file = parseFileQuery(query(c));
    const lineage = await traceAcross(db, ALL_LOGS, file);
    if (!lineage.known) throw unknownFile(lineage);
    const report = await crossLogFileReport((origin) => mirrorEvidence(db, origin), lineage, {
      now: nowText,
      logChecks: (origin) => wholeLogCheck(db, origin),
      size: recordedSize(lineage),
    });
    const verified = report.verification.ok && report.verification.ledger.ok;
    const html = renderFileReport(report);
    await recordApiAccess(c, { action: 'download.report', files: [file.sha256] });
    return c.body(html, 200, {
      'Content-Type': 'text/html; charset=utf-8',
      // The document's own policy (report-html.ts) as a header too: inline styles and data: images only, no script,
      // no request anywhere, and not to be framed by another site.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
      'X-Ffaudit-Verified': verified ? 'true' : 'false',
    });
  });
  app.get('/api/v1/export', requireRole('auditor'), async (c) => {
    const q = parseExportQuery(query(c));
    // The filter as people read it, decoded, after a '?' so that every parameter is one the access log's redaction
    // recognises (a credential in a URL or a token=…-like parameter is removed before it is written).
    await recordApiAccess(c, { action: 'download.export', query: `?${[...query(c)].map(([k, v]) => `${k}=${v}`).join('&')}` });
    return exportResponse(c, db, ALL_LOGS, q);
  });
  app.post('/api/v1/logs/:host/verify', requireRole('auditor'), async (c) => {
    parseNoQuery(query(c));
    const host = parseHostName(c.req.param('host'));
    const r = await reverifyMirror(db, await hostIdOf(db, { name: host }));
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
