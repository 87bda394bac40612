/**
 * Sessions of the web interface. The cookie holds 32 random bytes (base64url); the database holds only their
 * SHA-256 (web_sessions), with the account and a CSRF token of the session's own. The cookie is HttpOnly,
 * SameSite=Lax, Path=/, and over TLS Secure with the __Host- prefix (RFC 6265bis §4.1.3.2), so no subdomain can set
 * it. A session lasts 12 hours at most and ends after 2 hours without a request.
 *
 * Every POST carries the session's CSRF token in a form field `_csrf` (synchronizer token pattern) and, when the
 * browser sends one, an Origin of this server: a form on another site can neither read the token nor post as us.
 * The JSON API never reads this cookie: it takes bearer tokens only (api/auth.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { FfauditError } from '../../core/errors.js';
import { atLeast, type Role } from '../api/auth.js';
import type { AppEnv, WebSessionVar } from '../deps.js';

const SESSION_MS = 12 * 3_600_000;
const IDLE_MS = 2 * 3_600_000;
/** last_seen_at is written at most this often per session, not on every page. */
const SEEN_EVERY_MS = 60_000;
export { atLeast };

const cookieName = (c: Context<AppEnv>): string => (c.get('deps').tls ? '__Host-ffaudit-session' : 'ffaudit-session');
const idHash = (id: string): Buffer => createHash('sha256').update(id, 'utf8').digest();

/** Starts a session for `userId` and sets its cookie; an earlier session cookie of this browser is ended first. */
export async function startSession(c: Context<AppEnv>, userId: number): Promise<void> {
  await endSession(c);
  const id = randomBytes(32).toString('base64url');
  const csrf = randomBytes(32).toString('base64url');
  await c.get('deps').db.pool.query("INSERT INTO web_sessions (id_hash, user_id, csrf, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')", [idHash(id), userId, csrf, SESSION_MS]);
  setCookie(c, cookieName(c), id, { httpOnly: true, secure: Boolean(c.get('deps').tls), sameSite: 'Lax', path: '/', maxAge: SESSION_MS / 1000 });
}

/** Ends this browser's session (its row is deleted: the cookie is worth nothing after) and clears the cookie. */
export async function endSession(c: Context<AppEnv>): Promise<void> {
  const id = getCookie(c, cookieName(c));
  if (id !== undefined) {
    await c.get('deps').db.pool.query('DELETE FROM web_sessions WHERE id_hash = $1', [idHash(id)]);
    deleteCookie(c, cookieName(c), { path: '/', secure: Boolean(c.get('deps').tls) });
  }
  c.set('web', undefined);
}

const seenWritten = new Map<string, number>();

/**
 * Whether a token a request gave equals ours, in constant time. The byte lengths are compared first: a value of
 * another length (or of multi-byte characters of the same length in UTF-16) is simply not ours.
 */
export function sameSecret(given: unknown, ours: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(ours, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The live session named by this request's cookie, of an enabled account; undefined when there is none. */
async function sessionOf(c: Context<AppEnv>): Promise<{ id: string; session: WebSessionVar } | undefined> {
  const id = getCookie(c, cookieName(c));
  if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
  const { rows } = await c.get('deps').db.pool.query<{ user_id: number; name: string; role: Role; csrf: string }>(
    `SELECT s.user_id, u.name, u.role, s.csrf FROM web_sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id_hash = $1 AND s.expires_at > now() AND s.last_seen_at > now() - $2 * interval '1 millisecond' AND u.disabled_at IS NULL`,
    [idHash(id), IDLE_MS],
  );
  const s = rows[0];
  return s && { id, session: { userId: s.user_id, user: s.name, role: s.role, csrf: s.csrf } };
}

/** Reads the session cookie, if any, and sets `web` on the context for a live session of an enabled account. */
export const loadSession: MiddlewareHandler<AppEnv> = async (c, next) => {
  const found = await sessionOf(c);
  if (found) {
    c.set('web', found.session);
    const key = found.id.slice(0, 16);
    const last = seenWritten.get(key) ?? 0;
    if (Date.now() - last >= SEEN_EVERY_MS) {
      seenWritten.set(key, Date.now());
      if (seenWritten.size > 10_000) seenWritten.clear();
      await c.get('deps').db.pool.query('UPDATE web_sessions SET last_seen_at = now() WHERE id_hash = $1', [idHash(found.id)]);
    }
  }
  await next();
};

/**
 * Whether the session that opened a long answer (a live stream) is still live with at least the same role: a
 * person signed out, disabled or demoted meanwhile must stop receiving.
 */
export async function stillSignedIn(c: Context<AppEnv>): Promise<boolean> {
  const was = c.get('web');
  const now = await sessionOf(c);
  return was !== undefined && now !== undefined && now.session.userId === was.userId && atLeast(now.session.role, was.role);
}

/** The signed-in person of a page that required one. */
export function webUser(c: Context<AppEnv>): WebSessionVar {
  const w = c.get('web');
  if (!w) throw new FfauditError('INTERNAL', 'a page ran without its sign-in check');
  return w;
}

/**
 * In front of every page but sign-in: a browser without a session is sent to /signin (and back here after), a
 * signed-in person whose role is below `min` gets 403.
 */
export function requireWebRole(min: Role): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const w = c.get('web');
    if (!w) {
      const url = new URL(c.req.url);
      if (c.req.method !== 'GET') throw new FfauditError('UNAUTHORIZED', 'sign in first');
      return c.redirect(`/signin?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    if (!atLeast(w.role, min)) throw new FfauditError('FORBIDDEN', `this needs the role ${min} or above; yours is ${w.role}`);
    await next();
    return undefined;
  };
}

/**
 * In front of every POST of the web interface: the form's `_csrf` must be this session's token (compared in
 * constant time), and an Origin header, when sent, must be this server's own.
 */
export function checkCsrf(c: Context<AppEnv>, form: Record<string, unknown>): void {
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== new URL(c.req.url).origin) throw new FfauditError('FORBIDDEN', 'this form was sent from another site');
  const w = c.get('web');
  if (w === undefined || !sameSecret(form._csrf, w.csrf)) throw new FfauditError('FORBIDDEN', 'the form has expired or did not come from this server: reload the page and try again');
}
