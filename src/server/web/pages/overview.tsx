/** The Overview page(s): not written yet. */
import type { Hono } from 'hono';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { renderPage } from '../render.js';
import { requireWebRole } from '../session.js';

export function overviewRoutes(app: Hono<AppEnv>, _deps: ServerDeps): void {
  app.get('/', requireWebRole('viewer'), (c) => renderPage(c, { title: 'Overview', nav: 'none' }, <h1>Overview</h1>));
}
