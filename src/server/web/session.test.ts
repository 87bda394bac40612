// Sign-in, sessions, CSRF and the page frame, in process against real PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testPostgres } from '../../testing/pg-server.js';
import { PASSWORDS, RecordingAccessLog, webClient, webWorld, type WebWorld } from '../../testing/web-fixture.js';
import { WEB_CSP } from './routes.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let w: WebWorld;
const access = new RecordingAccessLog();
const recorded = access.events;

before(async () => {
  if (!skip) w = await webWorld((pgc as { url: string }).url, { access });
});
after(async () => {
  await w?.close();
});

describe('web sessions', { skip }, () => {
  it('a page without a session sends the browser to sign in, and back after', async () => {
    const c = webClient(w.app);
    const r = await c.get('/?user=alice');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/signin?next=%2F%3Fuser%3Dalice');
    assert.equal(r.headers.get('content-security-policy'), WEB_CSP);
  });

  it('signs in with the right password only; the cookie is HttpOnly and SameSite, the session stored hashed', async () => {
    const c = webClient(w.app);
    const bad = await c.signIn(w.users.viewer, 'not the password at all');
    assert.equal(bad.status, 401);
    assert.match(await bad.text(), /The user name or the password is not right/);
    const ok = await c.signIn(w.users.viewer, PASSWORDS.viewer);
    assert.equal(ok.status, 303);
    const set = ok.headers.getSetCookie().find((l) => l.startsWith('ffaudit-session='));
    assert.ok(set);
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Lax/);
    const id = c.cookies.get('ffaudit-session')!;
    const { rows } = await w.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM web_sessions WHERE encode(id_hash, 'escape') LIKE '%' || $1 || '%'", [id]);
    assert.equal(rows[0]!.n, 0, 'the cookie value is not stored');
    const page = await c.get('/');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /vera/);
  });

  it('the sign-in form refuses a post without its own token (login CSRF), and one from another origin', async () => {
    const c = webClient(w.app);
    await c.get('/signin');
    const r = await c.post('/signin', { _signin: 'forged', name: w.users.viewer, password: PASSWORDS.viewer }, { csrf: false });
    assert.equal(r.status, 403);
  });

  it('a form without the session CSRF token is refused 403, and so is one posted from another site', async () => {
    const c = await w.as('viewer');
    assert.equal((await c.post('/signout', {}, { csrf: false })).status, 403);
    assert.equal((await c.post('/signout', { _csrf: 'x'.repeat(43) })).status, 403);
    assert.equal((await c.post('/signout', {}, { headers: { origin: 'https://evil.example' } })).status, 403);
    assert.equal((await c.get('/')).status, 200, 'still signed in');
    const out = await c.post('/signout', {});
    assert.equal(out.status, 303);
    assert.equal((await c.get('/')).status, 303, 'signed out');
  });

  it('after 5 failed attempts each further attempt waits, refused before the password is checked', async () => {
    const { addUser } = await import('./accounts.js');
    await addUser(w.db, 'tess', 'viewer', 'tess passphrase 1234');
    const c = webClient(w.app);
    for (let i = 0; i < 5; i++) assert.equal((await c.signIn('tess', `wrong ${i} xxxxxxxxx`)).status, 401);
    const held = await c.signIn('tess', 'tess passphrase 1234');
    assert.equal(held.status, 429, 'even the right password waits');
    assert.ok(Number(held.headers.get('retry-after')) >= 1);
    const { rows } = await w.db.pool.query<{ n: number; wait: number }>("SELECT failed_attempts AS n, extract(epoch FROM next_attempt_at - now())::float8 AS wait FROM users WHERE name = 'tess'");
    assert.equal(rows[0]!.n, 5);
    assert.ok(rows[0]!.wait > 0 && rows[0]!.wait <= 1);
    // Past the wait, a sixth failure doubles it.
    await w.db.pool.query("UPDATE users SET next_attempt_at = now() - interval '1 second' WHERE name = 'tess'");
    assert.equal((await c.signIn('tess', 'wrong again xxxxxxxx')).status, 401);
    const r2 = await w.db.pool.query<{ wait: number }>("SELECT extract(epoch FROM next_attempt_at - now())::float8 AS wait FROM users WHERE name = 'tess'");
    assert.ok(r2.rows[0]!.wait > 1 && r2.rows[0]!.wait <= 2, String(r2.rows[0]!.wait));
  });

  it('guesses sent all at once are counted one by one: five are checked, the rest wait', async () => {
    const { addUser } = await import('./accounts.js');
    await addUser(w.db, 'cora', 'viewer', 'cora passphrase 1234');
    const clients = Array.from({ length: 12 }, () => webClient(w.app));
    const statuses = await Promise.all(clients.map((c, i) => c.signIn('cora', `wrong guess ${i} xxxxx`).then((r) => r.status)));
    assert.deepEqual([statuses.filter((s) => s === 401).length, statuses.filter((s) => s === 429).length], [5, 7]);
    const { rows } = await w.db.pool.query<{ n: number }>("SELECT failed_attempts AS n FROM users WHERE name = 'cora'");
    assert.equal(rows[0]!.n, 5);
  });

  it('a name that is no account is throttled alike, and a failed attempt records the name only when it is an account', async () => {
    const c = webClient(w.app);
    recorded.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await c.signIn('nobody-here', 'my secret password')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429], 'the same answers as for an account');
    assert.deepEqual(
      recorded.map((e) => [e.action, e.user]),
      Array.from({ length: 6 }, () => ['signin.failed', '(not an account)']),
    );
    recorded.length = 0;
    await c.signIn(w.users.auditor, 'not the auditor password');
    assert.deepEqual(recorded.map((e) => [e.action, e.user]), [['signin.failed', w.users.auditor]]);
  });

  it('one address may try 30 times a minute; past that it waits without its password being checked', async () => {
    const { addressMayTry } = await import('./pages/signin.js');
    const t = 1_000_000;
    for (let i = 0; i < 30; i++) assert.equal(addressMayTry('192.0.2.9', t + i), true);
    assert.equal(addressMayTry('192.0.2.9', t + 30), false);
    assert.equal(addressMayTry('192.0.2.10', t + 30), true, 'another address is not held');
    assert.equal(addressMayTry('192.0.2.9', t + 60_000), true, 'a minute later');
  });

  it('a token of multi-byte characters is refused 403, never a 500', async () => {
    const c = await w.as('viewer');
    assert.equal((await c.post('/signout', { _csrf: 'é'.repeat(43) })).status, 403);
    const anon = webClient(w.app);
    await anon.get('/signin');
    assert.equal((await anon.post('/signin', { _signin: 'é'.repeat(32), name: 'x', password: 'y' }, { csrf: false })).status, 403);
  });

  it('sign-in sends only to paths of this server afterwards', async () => {
    const { safeNext } = await import('./pages/signin.js');
    assert.equal(safeNext('/runs?x=1'), '/runs?x=1');
    for (const bad of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/a\nb']) assert.equal(safeNext(bad), '/');
  });

  it('an unknown page is an HTML page with the one-line message; the API keeps its text', async () => {
    const c = await w.as('viewer');
    const r = await c.get('/no/such/page');
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type') ?? '', /text\/html/);
    assert.equal((await w.app.request('/api/v1/nothing')).headers.get('content-type')?.startsWith('text/plain'), true);
  });
});
