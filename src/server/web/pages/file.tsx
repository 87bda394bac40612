/** The File page(s): not written yet. */
import type { Hono } from 'hono';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { renderPage } from '../render.js';
import { requireWebRole } from '../session.js';

export function fileRoutes(app: Hono<AppEnv>, _deps: ServerDeps): void {
  app.get('/file-todo', requireWebRole('viewer'), (c) => renderPage(c, { title: 'File', nav: 'none' }, <h1>File</h1>));
}
