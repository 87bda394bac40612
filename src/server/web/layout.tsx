/**
 * The frame of every page: the header with the navigation and the signed-in person, the unacknowledged alerts in
 * red, the main content. hono's JSX escapes every interpolated value (text and attributes), so a file name, a
 * command or a user name from a ledger is shown as text, never read as markup; nothing here uses raw HTML.
 *
 * No inline script or style anywhere (the Content-Security-Policy of routes.ts forbids them): the stylesheet and the
 * few scripts are files under /assets/, and every page reads fully with JavaScript off.
 */
import type { Child, FC } from 'hono/jsx';
import type { WebSessionVar } from '../deps.js';
import type { Alert } from './alerts.js';
import { atLeast } from './session.js';

export type NavKey = 'overview' | 'runs' | 'file' | 'admin' | 'none';

export interface LayoutProps {
  title: string;
  nav: NavKey;
  user: WebSessionVar | undefined;
  alerts: readonly Alert[];
  /** Scripts of /assets/ this page uses besides local-time.js (which every page loads). */
  scripts?: readonly string[] | undefined;
  children?: Child;
}

const NAV: readonly { key: NavKey; href: string; label: string; admin?: boolean }[] = [
  { key: 'overview', href: '/', label: 'Overview' },
  { key: 'runs', href: '/runs', label: 'Runs' },
  { key: 'file', href: '/file', label: 'Files' },
  { key: 'admin', href: '/admin', label: 'Admin', admin: true },
];

export const Layout: FC<LayoutProps> = ({ title, nav, user, alerts, scripts, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="same-origin" />
      <title>{`${title} · ffaudit`}</title>
      <link rel="stylesheet" href="/assets/app.css" />
      <link rel="icon" href="/assets/icon.svg" type="image/svg+xml" />
      <script src="/assets/local-time.js" defer></script>
      {(scripts ?? []).map((s) => (
        <script src={`/assets/${s}`} defer></script>
      ))}
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/" aria-label="ffaudit overview">
          <span class="brand-mark" aria-hidden="true">
            ◆
          </span>
          ffaudit
        </a>
        {user && (
          <nav aria-label="Main">
            <ul>
              {NAV.filter((n) => !n.admin || atLeast(user.role, 'admin')).map((n) => (
                <li>
                  <a href={n.href} aria-current={n.key === nav ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {user && (
          <form class="who" method="post" action="/signout">
            <span>
              {user.user} <span class="role">{user.role}</span>
            </span>
            <input type="hidden" name="_csrf" value={user.csrf} />
            <button type="submit" class="link">
              Sign out
            </button>
          </form>
        )}
      </header>
      {alerts.length > 0 && (
        <section class="alerts" role="alert" aria-label="Problems needing attention">
          <ul>
            {alerts.map((a) => (
              <li>
                <strong>{a.host}</strong>: {a.text} <Time iso={a.at} />
                {user && atLeast(user.role, 'admin') && (
                  <form method="post" action="/admin/alerts/ack" class="inline">
                    <input type="hidden" name="_csrf" value={user.csrf} />
                    <input type="hidden" name="kind" value={a.kind} />
                    <input type="hidden" name="ref" value={String(a.ref)} />
                    <button type="submit" aria-label={`Acknowledge: ${a.host}: ${a.text}`}>
                      Acknowledge
                    </button>
                  </form>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      <main id="main" tabindex={-1}>
        {children}
      </main>
    </body>
  </html>
);

/**
 * A time as the record has it, in UTC (RFC 3339); local-time.js adds the viewer's local time beside it. `iso` may
 * carry nanoseconds: the text shows it to the second, the datetime attribute keeps milliseconds (what HTML allows).
 */
export const Time: FC<{ iso: string }> = ({ iso }) => {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(iso);
  if (!m) return <span>{iso}</span>;
  const ms = (m[3] ?? '.000').slice(0, 4).padEnd(4, '0');
  return (
    <time datetime={`${m[1]}T${m[2]}${ms}Z`} title={iso}>
      {`${m[1]} ${m[2]} UTC`}
    </time>
  );
};
