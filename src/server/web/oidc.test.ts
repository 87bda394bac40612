// Sign-in through OpenID Connect against a real OpenID Provider (oidc-provider) on a loopback port, the browser
// played by a cookie-keeping client that follows every redirect: accounts made from the provider's claims, roles
// following the claim at each sign-in, local accounts never taken over, and the refusals.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { tempDir } from '../../testing/fixtures.js';
import { createDatabase, testPostgres } from '../../testing/pg-server.js';
import { createApp, type AppEnv } from '../app.js';
import { migrate, openDb, type Db } from '../db/pool.js';
import type { AccessEvent } from '../deps.js';
import { initServerKeys, loadServerKeys } from '../keys.js';
import { RecordingAccessLog } from '../../testing/web-fixture.js';
import { addUser } from './accounts.js';
import { parseOidcOptions, type OidcConfig } from './oidc.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
const tmp = tempDir('oidc');
const APP = 'http://server.test';
const SECRET = 'a client secret of the test';

/** The provider's people: id → claims. */
const PEOPLE: Record<string, Record<string, unknown>> = {
  u1: { preferred_username: 'olga', email: 'olga@studio.test', groups: ['staff', 'ffaudit-auditors'] },
  u2: { preferred_username: 'vera', groups: ['ffaudit-admins'] },
  u3: { preferred_username: '<script>alert(1)</script>\u202Egnp.exe', groups: 'ffaudit-auditors' },
  u4: { preferred_username: 'sam', groups: ['staff'] },
};

let provider: Server;
let issuer = '';
let db: Db;
let app: Hono<AppEnv>;
const events: AccessEvent[] = [];

before(async () => {
  if (skip) return;
  provider = createServer();
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  const { default: Provider } = await import('oidc-provider');
  const op = new Provider(issuer, {
    clients: [{ client_id: 'ffaudit', client_secret: SECRET, redirect_uris: [`${APP}/signin/oidc/callback`], token_endpoint_auth_method: 'client_secret_basic' }],
    findAccount: (_ctx: unknown, id: string) => (PEOPLE[id] ? { accountId: id, claims: () => ({ sub: id, ...PEOPLE[id] }) } : undefined),
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'], email: ['email'] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['a cookie key of the test'] },
  });
  provider.on('request', op.callback());

  const url = await createDatabase((pgc as { url: string }).url);
  db = await openDb(url, { max: 4 });
  await migrate(db);
  await addUser(db, 'vera', 'viewer', 'vera passphrase 1');
  initServerKeys(join(tmp.dir, 'keys'), 'audit.test');
  writeFileSync(join(tmp.dir, 'secret'), `${SECRET}\n`);
  const oidc = parseOidcOptions({
    oidcIssuer: issuer,
    oidcClientId: 'ffaudit',
    oidcClientSecretFile: join(tmp.dir, 'secret'),
    oidcRoleClaim: 'groups',
    oidcRoles: 'ffaudit-admins=admin,ffaudit-auditors=auditor',
  });
  const access = new RecordingAccessLog();
  access.events = events;
  app = createApp({ db, keys: loadServerKeys(join(tmp.dir, 'keys')), log: () => undefined, access, oidc });
});
after(async () => {
  provider?.closeAllConnections();
  await new Promise((r) => provider?.close(r));
  await db?.close();
  tmp.cleanup();
});

/** A browser: one cookie jar per host, redirects followed by hand; this server's pages in process, the provider's over HTTP. */
function browser() {
  const jars = new Map<string, Map<string, string>>();
  const jar = (u: URL) => jars.get(u.host) ?? jars.set(u.host, new Map()).get(u.host)!;
  async function request(url: string, init: { method?: string; body?: string } = {}): Promise<Response> {
    const u = new URL(url);
    const cookie = [...jar(u)].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { cookie, ...(init.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) };
    const r = u.origin === APP ? await app.request(url, { ...init, headers }) : await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of r.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) jar(u).delete(name);
      else jar(u).set(name, value);
    }
    return r;
  }
  /** Follows redirects from `url`; at the provider's login and consent pages, signs in as `who` and consents. */
  async function follow(url: string, who: string): Promise<{ res: Response; url: string }> {
    let at = url;
    let r = await request(at);
    for (let hops = 0; hops < 20; hops++) {
      if (r.status >= 300 && r.status < 400) {
        at = new URL(r.headers.get('location')!, at).href;
        r = await request(at);
        continue;
      }
      const m = /\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(at).pathname);
      if (!m || new URL(at).origin !== issuer) return { res: r, url: at };
      const html = await r.text();
      const body = html.includes('name="login"') ? new URLSearchParams({ prompt: 'login', login: who, password: 'any' }) : new URLSearchParams({ prompt: 'consent' });
      r = await request(`${issuer}/interaction/${m[1]}`, { method: 'POST', body: body.toString() });
    }
    throw new Error('too many redirects');
  }
  return { request, follow, jar: (host: string) => jars.get(host) };
}

async function signInAs(who: string, next = '/runs') {
  const b = browser();
  const { res, url } = await b.follow(`${APP}/signin/oidc?next=${encodeURIComponent(next)}`, who);
  return { b, res, url };
}

const userRow = async (subject: string) =>
  (await db.pool.query<{ name: string; role: string; password_hash: string | null }>('SELECT name, role, password_hash FROM users WHERE oidc_subject = $1', [subject])).rows[0];

describe('OpenID Connect sign-in', { skip }, () => {
  it('the sign-in page offers the provider beside the password form, carrying where to go after', async () => {
    const html = await (await app.request(`${APP}/signin?next=%2Fruns`)).text();
    assert.ok(html.includes(`<a class="button" href="/signin/oidc?next=%2Fruns">Sign in with 127.0.0.1:${new URL(issuer).port}</a>`));
  });

  it('signs in through the provider with PKCE: an account is made from the claims, with the mapped role, and no password', async () => {
    const b = browser();
    const start = await b.request(`${APP}/signin/oidc?next=%2Fruns`);
    assert.equal(start.status, 303);
    const auth = new URL(start.headers.get('location')!);
    assert.equal(auth.origin, issuer);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(auth.searchParams.get('state') && auth.searchParams.get('nonce'));
    assert.equal(auth.searchParams.get('redirect_uri'), `${APP}/signin/oidc/callback`);
    assert.match(start.headers.getSetCookie()[0]!, /^ffaudit-oidc=[^;]+; Max-Age=600; Path=\/signin\/oidc; HttpOnly; SameSite=Lax$/);
    const { res, url } = await b.follow(start.headers.get('location')!, 'u1');
    assert.equal(url, `${APP}/runs`, 'back where the person was going');
    assert.notEqual(res.status, 303, 'signed in: not sent to sign in again');
    assert.deepEqual(await userRow(`${issuer} u1`), { name: 'olga', role: 'auditor', password_hash: null });
    assert.match(await (await b.request(`${APP}/`)).text(), /olga <span class="role">auditor<\/span>/);
    assert.equal(b.jar('server.test')!.has('ffaudit-oidc'), false, 'the flow cookie is spent');
    assert.deepEqual(events.at(-1), { action: 'signin', user: 'olga', via: 'web', client: undefined });
  });

  it('the role follows the claim at every sign-in; no mapped value is refused in one line, with no session', async () => {
    PEOPLE.u1!.groups = ['ffaudit-admins', 'ffaudit-auditors'];
    await signInAs('u1');
    assert.equal((await userRow(`${issuer} u1`))!.role, 'admin', 'the highest of the mapped values');
    PEOPLE.u1!.groups = ['staff'];
    const { b, res } = await signInAs('u1');
    assert.equal(res.status, 403);
    assert.equal(/role="alert" id="signin-error">([^<]*)</.exec(await res.text())?.[1], `Your account at 127.0.0.1:${new URL(issuer).port} gives you no role here: ask an admin.`);
    assert.equal(b.jar('server.test')!.has('ffaudit-session'), false);
    assert.equal((await userRow(`${issuer} u1`))!.role, 'admin', 'a refused sign-in changes nothing');
    assert.deepEqual(events.at(-1), { action: 'signin.failed', user: 'olga', via: 'web', client: undefined });
    const fresh = await signInAs('u4');
    assert.equal(fresh.res.status, 403);
    assert.equal(await userRow(`${issuer} u4`), undefined, 'no account is made for a person with no role');
  });

  it('never takes over a local account of the same name, and makes a hostile name safe', async () => {
    await signInAs('u2');
    const u2 = await userRow(`${issuer} u2`);
    assert.match(u2!.name, /^vera-[0-9a-f]{6}$/);
    assert.equal(u2!.role, 'admin');
    const local = (await db.pool.query<{ role: string; oidc_subject: string | null }>("SELECT role, oidc_subject FROM users WHERE name = 'vera'")).rows[0];
    assert.deepEqual(local, { role: 'viewer', oidc_subject: null });
    const { b } = await signInAs('u3');
    assert.equal((await userRow(`${issuer} u3`))!.name, 'script-alert-1-script-gnp.exe');
    assert.ok((await (await b.request(`${APP}/`)).text()).includes('script-alert-1-script-gnp.exe <span class="role">auditor</span>'));
  });

  it('a disabled account is refused at the provider’s return', async () => {
    await db.pool.query('UPDATE users SET disabled_at = now() WHERE oidc_subject = $1', [`${issuer} u3`]);
    const { res } = await signInAs('u3');
    assert.equal(res.status, 403);
    assert.match(await res.text(), /this account is disabled: ask an admin/);
  });

  it('a return without the flow cookie, or with a state that is not this flow’s, signs no one in', async () => {
    const stray = await browser().request(`${APP}/signin/oidc/callback?code=abc&state=xyz`);
    assert.equal(stray.status, 400);
    assert.match(await stray.text(), /This sign-in has expired or did not start here/);
    const b = browser();
    const start = await b.request(`${APP}/signin/oidc`);
    const auth = new URL(start.headers.get('location')!);
    auth.searchParams.set('state', 'forged-state');
    const { res } = await b.follow(auth.href, 'u1');
    assert.equal(res.status, 401);
    assert.equal(b.jar('server.test')?.has('ffaudit-session') ?? false, false);
  });

  it('serve’s --oidc-* options: all or none, a secret from a file, a role mapping that names real roles', () => {
    assert.equal(parseOidcOptions({}), undefined);
    const base = { oidcIssuer: 'https://id.example', oidcClientId: 'c', oidcClientSecretFile: join(tmp.dir, 'secret'), oidcRoleClaim: 'groups', oidcRoles: 'a=viewer' };
    const ok: OidcConfig = parseOidcOptions(base)!;
    assert.equal(ok.clientSecret, SECRET);
    assert.deepEqual([...ok.roles], [['a', 'viewer']]);
    for (const [bad, msg] of [
      [{ ...base, oidcRoles: undefined }, /needs all of/],
      [{ ...base, oidcRoles: 'a=root' }, /expected VALUE=role/],
      [{ ...base, oidcRoles: 'a=viewer,a=admin' }, /mapped twice/],
      [{ ...base, oidcIssuer: 'http://id.example' }, /https:\/\//],
      [{ ...base, oidcClientSecretFile: join(tmp.dir, 'none') }, /cannot read/],
    ] as const) {
      assert.throws(() => parseOidcOptions(bad), msg);
    }
  });
});
