/** The Runs page(s): not written yet. */
import type { Hono } from 'hono';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { renderPage } from '../render.js';
import { requireWebRole } from '../session.js';

export function runsRoutes(app: Hono<AppEnv>, _deps: ServerDeps): void {
  app.get('/runs-todo', requireWebRole('viewer'), (c) => renderPage(c, { title: 'Runs', nav: 'none' }, <h1>Runs</h1>));
}
