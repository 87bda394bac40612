/**
 * Sign-in and sign-out. Before there is a session, the sign-in form is protected from login CSRF by a double-submit
 * token: a random value in a short-lived cookie and the same value in the form. Every attempt, failed or not, is
 * appended to the access log before the answer (request.ts recordAccess).
 */
import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { FfauditError } from '../../../core/errors.js';
import type { AppEnv } from '../../deps.js';
import { signInWithPassword } from '../accounts.js';
import { renderPage } from '../render.js';
import { clientAddress, readForm, recordAccess } from '../request.js';
import { endSession, sameSecret, startSession } from '../session.js';

const SIGNIN_COOKIE = 'ffaudit-signin';

/**
 * Sign-in attempts per client address: at most 30 a minute. Past that an attempt is refused before its password is
 * hashed (scrypt is made to be costly) or recorded, so one address cannot fill the access log or the hashing threads.
 */
const PER_ADDRESS = 30;
const WINDOW_MS = 60_000;
const attempts = new Map<string, { since: number; n: number }>();

export function addressMayTry(address: string, now = Date.now()): boolean {
  const a = attempts.get(address);
  if (!a || now - a.since >= WINDOW_MS) {
    if (attempts.size >= 10_000) attempts.clear();
    attempts.set(address, { since: now, n: 1 });
    return true;
  }
  a.n++;
  return a.n <= PER_ADDRESS;
}

/** Where to go after signing in: a path of this server only (never `//host` or a scheme: no open redirect). */
export function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) && next.length <= 2000 ? next : '/';
}

function signinToken(c: Context<AppEnv>): string {
  const t = randomBytes(24).toString('base64url');
  setCookie(c, SIGNIN_COOKIE, t, { httpOnly: true, secure: Boolean(c.get('deps').tls), sameSite: 'Strict', path: '/signin', maxAge: 3600 });
  return t;
}

/** The sign-in page, with the one-line error of a failed attempt (password or OpenID Connect). */
export async function signinForm(c: Context<AppEnv>, o: { next: string; name?: string; error?: string; status?: number }): Promise<Response> {
  const token = signinToken(c);
  const oidc = c.get('deps').oidc;
  return renderPage(
    c,
    { title: 'Sign in', nav: 'none', status: o.status ?? 200 },
    <section class="signin card">
      <h1>Sign in</h1>
      <p class="muted">The audit record of every FFmpeg run of this organisation.</p>
      {o.error && (
        <p class="error-text" role="alert" id="signin-error">
          {o.error}
        </p>
      )}
      <form method="post" action="/signin" class="stack">
        <input type="hidden" name="_signin" value={token} />
        <input type="hidden" name="next" value={o.next} />
        <label for="name">User name</label>
        <input id="name" name="name" autocomplete="username" required value={o.name ?? ''} aria-describedby={o.error ? 'signin-error' : undefined} autofocus />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
      {oidc && (
        <>
          <p class="or">or</p>
          <a class="button" href={`/signin/oidc?${new URLSearchParams({ next: o.next }).toString()}`}>
            Sign in with {new URL(oidc.issuer).host}
          </a>
        </>
      )}
    </section>,
  );
}

export function signinRoutes(app: Hono<AppEnv>): void {
  app.get('/signin', (c) => {
    if (c.get('web')) return c.redirect(safeNext(c.req.query('next')), 303);
    return signinForm(c, { next: safeNext(c.req.query('next')) });
  });

  app.post('/signin', async (c) => {
    const f = await readForm(c, { csrf: 'none' });
    const cookie = getCookie(c, SIGNIN_COOKIE);
    const given = f._signin ?? '';
    const origin = c.req.header('origin');
    if (
      (origin !== undefined && origin !== new URL(c.req.url).origin) ||
      cookie === undefined ||
      !sameSecret(given, cookie)
    ) {
      throw new FfauditError('FORBIDDEN', 'the sign-in form has expired or did not come from this server: reload the page and try again');
    }
    const name = (f.name ?? '').trim();
    const next = safeNext(f.next);
    const from = clientAddress(c);
    if (from !== undefined && !addressMayTry(from)) {
      // Not an attempt (no password is checked): refused before it can cost a hash or an access-log entry.
      c.header('Retry-After', '60');
      return signinForm(c, { next, name, error: 'Too many sign-in attempts from this address: try again in a minute.', status: 429 });
    }
    const r = await signInWithPassword(c.get('deps').db, name, f.password ?? '');
    if (!r.ok) {
      // The name tried is recorded only when it is an account's: a password typed into the name field by mistake
      // must not end up in a cosigned, permanent log.
      await recordAccess(c, { action: 'signin.failed', user: r.known ? name : '(not an account)' });
      const error = r.reason === 'throttled' ? `Too many failed attempts for this account: try again in ${r.retryAfterS} s.` : 'The user name or the password is not right.';
      if (r.retryAfterS !== undefined) c.header('Retry-After', String(r.retryAfterS));
      return signinForm(c, { next, name, error, status: r.reason === 'throttled' ? 429 : 401 });
    }
    await recordAccess(c, { action: 'signin', user: r.user.name });
    await startSession(c, r.user.id);
    return c.redirect(next, 303);
  });

  app.post('/signout', async (c) => {
    if (c.get('web')) {
      await readForm(c);
      await recordAccess(c, { action: 'signout' });
    }
    await endSession(c);
    return c.redirect('/signin', 303);
  });
}
