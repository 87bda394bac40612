/** Rendering a page or an error page of the web interface, with the frame of layout.tsx. */
import type { Context } from 'hono';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { AppEnv } from '../deps.js';
import { activeAlerts } from './alerts.js';
import { Layout, type NavKey } from './layout.js';

export interface PageOptions {
  title: string;
  nav: NavKey;
  scripts?: readonly string[];
  status?: number;
}

/** A whole page: the alerts are read for every page of a signed-in person, so a conflict is never out of sight. */
export async function renderPage(c: Context<AppEnv>, o: PageOptions, body: Child): Promise<Response> {
  const user = c.get('web');
  const alerts = user ? await activeAlerts(c.get('deps').db) : [];
  return c.html(
    <>
      {raw('<!doctype html>')}
      <Layout title={o.title} nav={o.nav} user={user} alerts={alerts} scripts={o.scripts}>
        {body}
      </Layout>
    </>,
    (o.status ?? 200) as 200,
  );
}

const TITLES: Record<number, string> = { 400: 'Bad request', 401: 'Sign in first', 403: 'Not allowed', 404: 'Not found', 413: 'Too large', 422: 'Damaged record', 503: 'Unavailable' };

/** An error as a page: the one-line message (never a stack; a 5xx never shows internals, as http.ts textError). */
export async function renderError(c: Context<AppEnv>, status: number, message: string): Promise<Response> {
  const line = status >= 500 ? (status === 503 ? 'The server cannot reach its database or its access log; try again shortly.' : 'Something went wrong on the server.') : message.split('\n')[0]!;
  const title = TITLES[status] ?? (status >= 500 ? 'Server error' : 'Error');
  const body = (
    <section class="error">
      <h1>{title}</h1>
      <p>{line}</p>
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </section>
  );
  // The error page must not fail in turn when the database is what failed: without the alerts then.
  try {
    return await renderPage(c, { title, nav: 'none', status }, body);
  } catch {
    c.set('web', undefined);
    return renderPage(c, { title, nav: 'none', status }, body);
  }
}
