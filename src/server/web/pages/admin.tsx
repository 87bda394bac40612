/** The Admin page(s): not written yet. */
import type { Hono } from 'hono';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { renderPage } from '../render.js';
import { requireWebRole } from '../session.js';

export function adminRoutes(app: Hono<AppEnv>, _deps: ServerDeps): void {
  app.get('/admin-todo', requireWebRole('viewer'), (c) => renderPage(c, { title: 'Admin', nav: 'none' }, <h1>Admin</h1>));
}
