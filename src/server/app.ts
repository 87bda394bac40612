/**
 * The HTTP face of `ffaudit serve`: a hono app over the database and the server's keys. Routes live beside it, one
 * module per role (witness.ts, mirror.ts, join.ts, …); this file wires them, logs one line per request and turns
 * every error into the status of http.ts, never a stack trace.
 */
import { Hono } from 'hono';
import { FfauditError } from '../core/errors.js';
import type { AppEnv, RouteModule, ServerDeps } from './deps.js';
import { apiRoutes } from './api/routes.js';
import { healthRoutes } from './api/health.js';
import { httpStatusFor, textError } from './http.js';
import { joinRoutes } from './join.js';
import { mirrorRoutes } from './mirror.js';
import { witnessRoutes } from './witness.js';
import { renderError } from './web/render.js';
import { isWebPath, webRoutes } from './web/routes.js';

export type { AppEnv, RouteModule, ServerDeps } from './deps.js';

export function createApp(deps: ServerDeps, modules: readonly RouteModule[] = DEFAULT_ROUTES): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    const t0 = performance.now();
    c.set('deps', deps);
    await next();
    // The path only: query strings may carry what does not belong in a log.
    deps.log(`${c.req.method} ${new URL(c.req.url).pathname} ${c.res.status} ${(performance.now() - t0).toFixed(1)}ms`);
  });
  app.onError((e, c) => {
    // A statement that ran past its statement_timeout (SQLSTATE 57014, query_canceled): the server is busy or the
    // filter too wide, not a fault to hide behind "internal error".
    if ((e as { code?: unknown }).code === '57014') return c.text('the query took longer than the server allows: narrow the filter or try again\n', 503, { 'Cache-Control': 'no-store' });
    const status = httpStatusFor(e);
    if (status >= 500) deps.log(`error: ${c.req.method} ${new URL(c.req.url).pathname}: ${e instanceof FfauditError ? e.code : 'unexpected'}: ${(e.message ?? String(e)).split('\n')[0]}`);
    // A page's error is a page (web/render.tsx), the protocols' and the API's one line of text.
    return isWebPath(c.req.path) ? renderError(c, status, e.message) : textError(c, status, e.message);
  });
  app.notFound((c) => (isWebPath(c.req.path) ? renderError(c, 404, 'There is no page here.') : textError(c, 404, 'not found')));
  for (const m of modules) m(app, deps);
  return app;
}

export const DEFAULT_ROUTES: readonly RouteModule[] = [joinRoutes, witnessRoutes, mirrorRoutes, healthRoutes, apiRoutes, webRoutes];
