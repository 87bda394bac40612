/** The Run page(s): not written yet. */
import type { Hono } from 'hono';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { renderPage } from '../render.js';
import { requireWebRole } from '../session.js';

export function runRoutes(app: Hono<AppEnv>, _deps: ServerDeps): void {
  app.get('/run-todo', requireWebRole('viewer'), (c) => renderPage(c, { title: 'Run', nav: 'none' }, <h1>Run</h1>));
}
