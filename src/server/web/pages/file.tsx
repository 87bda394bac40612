/**
 * The File pages: /file looks a file up by hash (or hashes a dropped file in the browser), /file/:sha256 shows its
 * lineage across hosts (search/lookup.ts traceAcross, as GET /api/v1/lineage), and for auditors the evidence bundle
 * and the chain-of-custody report of the bytes, the same documents as GET /api/v1/bundle and /api/v1/report
 * (search/file-evidence.ts). Each view and download is in the access log before the answer.
 */
import type { Context, Hono } from 'hono';
import { FfauditError } from '../../../core/errors.js';
import { displayText } from '../../../render/display-text.js';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { fileBundle, fileReport, recordedSize, reportHeaders } from '../../search/file-evidence.js';
import { traceAcross } from '../../search/lookup.js';
import type { Scope } from '../../search/types.js';
import { accessEvents } from '../access-view.js';
import { layOut } from '../graph.js';
import { renderPage } from '../render.js';
import { recordAccess } from '../request.js';
import { atLeast, requireWebRole, webUser } from '../session.js';
import { FileLookup, pastedHash } from './file-lookup.js';
import { FileView } from './file-view.js';
import { knownPaths, lineageGraph } from './lineage-graph.js';

/** A signed-in person sees every log, as an API token does. */
const ALL_LOGS: Scope = { hostIds: null };

/**
 * The hash of the path, lower case; a hash in capitals or after `sha256:` is sent to its canonical address (an
 * answer with `redirect`), anything else is not a page.
 */
function pathHash(c: Context<AppEnv>, rest = ''): { sha256: string } | { redirect: string } {
  const given = c.req.param('sha256') ?? '';
  const sha = pastedHash(given);
  if (sha === undefined || /\s/.test(given)) throw new FfauditError('NOT_FOUND', 'this is not a SHA-256: a file is found by 64 hexadecimal digits');
  return sha === given ? { sha256: sha } : { redirect: `/file/${sha}${rest}` };
}

/**
 * The most boxes and arrows drawn together: past this a layered drawing is a wall of crossings that no one reads,
 * and its layout (synchronous, on the server's one thread) grows with both: 400 files and runs with 1,140 arrows took
 * 1.8 s here, holding every other request. The tables show such a lineage instead.
 */
export const MAX_DRAWN = 600;

const shortName = (sha: string) => sha.slice(0, 12);

export function fileRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  const { db } = deps;

  app.get('/file', requireWebRole('viewer'), (c) => {
    const given = c.req.query('sha256');
    if (given === undefined || given.trim() === '') {
      return renderPage(c, { title: 'Find a file', nav: 'file', scripts: ['file-drop.js'] }, <FileLookup heading="h1" />);
    }
    const sha = pastedHash(given);
    if (sha === undefined) {
      const error = 'That is not a SHA-256: it is 64 hexadecimal digits (0-9, a-f), optionally after "sha256:".';
      return renderPage(c, { title: 'Find a file', nav: 'file', scripts: ['file-drop.js'], status: 400 }, <FileLookup heading="h1" value={given} error={error} />);
    }
    return c.redirect(`/file/${sha}`, 303);
  });

  app.get('/file/:sha256', requireWebRole('viewer'), async (c) => {
    const p = pathHash(c);
    if ('redirect' in p) return c.redirect(p.redirect, 301);
    const lineage = await traceAcross(db, ALL_LOGS, { path: p.sha256, sha256: p.sha256 });
    await recordAccess(c, { action: 'view.file', files: [p.sha256] });
    if (!lineage.known) {
      return renderPage(
        c,
        { title: 'Unknown file', nav: 'file', scripts: ['file-drop.js'], status: 404 },
        <>
          <section class="card unknown-file" aria-labelledby="unknown-heading">
            <h1 id="unknown-heading">Unknown to every log</h1>
            <p>No audited run on any host produced or read these bytes, and no custody note names them:</p>
            <p class="hash file-sha">sha256:{p.sha256}</p>
            <p class="muted">A file that was changed in any way after the run that wrote it (re-saved, trimmed, re-wrapped) has other bytes, hence another hash.</p>
          </section>
          <FileLookup heading="h2" />
        </>,
      );
    }
    const { nodes, edges } = lineageGraph(lineage);
    const graph = nodes.length + edges.length <= MAX_DRAWN ? await layOut(nodes, edges) : null;
    const auditor = atLeast(webUser(c).role, 'auditor') ? { access: await accessEvents(db, { sha256: p.sha256 }) } : null;
    const paths = knownPaths(lineage).get(p.sha256) ?? [];
    return renderPage(
      c,
      { title: `File ${displayText(paths[0]?.split('/').pop() || `sha256:${shortName(p.sha256)}`)}`, nav: 'file' },
      <FileView lineage={lineage} paths={paths} size={recordedSize(lineage)} graph={graph} nodeCount={nodes.length} auditor={auditor} />,
    );
  });

  app.get('/file/:sha256/bundle', requireWebRole('auditor'), async (c) => {
    const p = pathHash(c, '/bundle');
    if ('redirect' in p) return c.redirect(p.redirect, 301);
    const wr = c.req.query('with_reports') ?? 'false';
    if (wr !== 'true' && wr !== 'false') throw new FfauditError('BAD_INPUT', 'with_reports is true or false');
    const body = await fileBundle(db, ALL_LOGS, [{ path: p.sha256, sha256: p.sha256 }], { withReports: wr === 'true' });
    await recordAccess(c, { action: 'download.bundle', files: [p.sha256] });
    return c.body(body, 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': `attachment; filename="${shortName(p.sha256)}.ffaudit-bundle.json"`,
    });
  });

  app.get('/file/:sha256/report', requireWebRole('auditor'), async (c) => {
    const p = pathHash(c, '/report');
    if ('redirect' in p) return c.redirect(p.redirect, 301);
    const { html, verified } = await fileReport(db, ALL_LOGS, { path: p.sha256, sha256: p.sha256 });
    await recordAccess(c, { action: 'download.report', files: [p.sha256] });
    return c.body(html, 200, { ...reportHeaders(verified), 'Content-Disposition': `attachment; filename="custody-report-${shortName(p.sha256)}.html"` });
  });
}
