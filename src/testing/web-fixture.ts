/**
 * TEST HELPER: the web interface in this process (real PostgreSQL, the real app, api-fixture's three hosts), one
 * person of each role, and a cookie-keeping client that signs in through the real sign-in form.
 */
import assert from 'node:assert/strict';
import type { Hono } from 'hono';
import type { Role } from '../server/api/auth.js';
import type { AppEnv, ServerDeps } from '../server/app.js';
import type { AccessEvent, AccessLog } from '../server/deps.js';
import { addUser } from '../server/web/accounts.js';
import { apiWorld, type ApiWorld } from './api-fixture.js';

/** An access log that keeps what it is given in memory, and can be made to fail as a full disk would. */
export class RecordingAccessLog implements AccessLog {
  events: AccessEvent[] = [];
  failing = false;
  record(e: AccessEvent): Promise<void> {
    if (this.failing) return Promise.reject(new Error('disk full'));
    this.events.push(e);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** The events of `action`, as (user, query) pairs. */
  of(action: string): [string, string | undefined][] {
    return this.events.filter((e) => e.action === action).map((e) => [e.user, e.query]);
  }
}

export const PASSWORDS: Record<Role, string> = { viewer: 'viewer passphrase 1', auditor: 'auditor passphrase 2', admin: 'admin passphrase 3' };

export interface WebClient {
  /** GET (redirects not followed: a test sees them). */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** POST a form; the session's CSRF token is added unless `csrf: false` or the fields name `_csrf` themselves. */
  post(path: string, fields: Record<string, string>, opts?: { csrf?: boolean; headers?: Record<string, string> }): Promise<Response>;
  /** This session's CSRF token, read from a page as a browser would. */
  csrf(): Promise<string>;
  signIn(name: string, password: string): Promise<Response>;
  cookies: Map<string, string>;
}

export function webClient(app: Hono<AppEnv>, base = 'http://server.test'): WebClient {
  const cookies = new Map<string, string>();
  let token: string | undefined;
  const keep = (r: Response): Response => {
    for (const line of r.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return r;
  };
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const client: WebClient = {
    cookies,
    async get(path, headers = {}) {
      return keep(await app.request(base + path, { headers: { cookie: cookieHeader(), ...headers } }));
    },
    async post(path, fields, opts = {}) {
      const body = new URLSearchParams(fields);
      if (opts.csrf !== false && !('_csrf' in fields)) body.set('_csrf', await client.csrf());
      return keep(
        await app.request(base + path, {
          method: 'POST',
          headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded', origin: base, ...(opts.headers ?? {}) },
          body: body.toString(),
        }),
      );
    },
    async csrf() {
      if (token) return token;
      const html = await (await client.get('/')).text();
      const m = /name="_csrf" value="([^"]+)"/.exec(html);
      assert.ok(m, 'a signed-in page carries the CSRF token');
      token = m[1]!;
      return token;
    },
    async signIn(name, password) {
      token = undefined;
      const html = await (await client.get('/signin')).text();
      const t = /name="_signin" value="([^"]+)"/.exec(html)?.[1];
      assert.ok(t, 'the sign-in form carries its token');
      return client.post('/signin', { _signin: t, name, password, next: '/' }, { csrf: false });
    },
  };
  return client;
}

export interface WebWorld extends ApiWorld {
  users: Record<Role, string>;
  /** A client signed in as the person of `role`. */
  as(role: Role): Promise<WebClient>;
}

export async function webWorld(adminUrl: string, extra: Partial<Pick<ServerDeps, 'access' | 'tls'>> = {}): Promise<WebWorld> {
  const w = await apiWorld(adminUrl, extra);
  const users = { viewer: 'vera', auditor: 'aude', admin: 'ada' } satisfies Record<Role, string>;
  for (const role of ['viewer', 'auditor', 'admin'] as const) await addUser(w.db, users[role], role, PASSWORDS[role]);
  return {
    ...w,
    users,
    async as(role) {
      const c = webClient(w.app);
      const r = await c.signIn(users[role], PASSWORDS[role]);
      assert.equal(r.status, 303, `${role} signs in`);
      return c;
    },
  };
}
