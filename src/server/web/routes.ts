/**
 * The web interface of `ffaudit serve` (docs/web.md): pages rendered on the server for people who will not use a
 * terminal, over the same search functions as the JSON API, behind sign-in with roles (session.ts). One module per
 * page under pages/; this file wires them and sets the headers every page carries.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import type { AppEnv, ServerDeps } from '../deps.js';
import { assetRoutes } from './assets.js';
import { adminRoutes } from './pages/admin.js';
import { fileRoutes } from './pages/file.js';
import { overviewRoutes } from './pages/overview.js';
import { runRoutes } from './pages/run.js';
import { runsRoutes } from './pages/runs.js';
import { signinRoutes } from './pages/signin.js';
import { oidcRoutes } from './oidc.js';
import { loadSession } from './session.js';

/**
 * Scripts and styles from this server only, none inline; no plug-ins, no framing, forms posted here only; the
 * SHA-256 worker of the file page is a script of ours too (worker-src).
 */
export const WEB_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The paths of the other faces (protocols and API), which answer in text or JSON: everything else is a page. */
const NOT_PAGES = /^\/(?:api\/|witness\/|mirror\/|blobs\/|add-checkpoint$|add-entries$|join$|healthz$)/;
export const isWebPath = (path: string): boolean => !NOT_PAGES.test(path);

/** The session of the browser (session.ts), read for pages only: never for the protocols, the API or the assets. */
const sessionOfPages: MiddlewareHandler<AppEnv> = (c, next) => (isWebPath(c.req.path) && !c.req.path.startsWith('/assets/') ? loadSession(c, next) : next());

export function webRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.use('*', async (c, next) => {
    if (!isWebPath(c.req.path)) return next();
    await next();
    // A document with a policy of its own keeps it: the chain-of-custody report (search/file-evidence.ts REPORT_CSP).
    if (!c.res.headers.has('Content-Security-Policy')) c.header('Content-Security-Policy', WEB_CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
    if (!c.req.path.startsWith('/assets/')) c.header('Cache-Control', 'no-store');
    return undefined;
  });
  assetRoutes(app);
  app.use('*', sessionOfPages);
  signinRoutes(app);
  if (deps.oidc) oidcRoutes(app, deps, deps.oidc);
  for (const pages of [overviewRoutes, runsRoutes, runRoutes, fileRoutes, adminRoutes]) pages(app, deps);
}
