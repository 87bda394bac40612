// `ffaudit serve users …` through the real CLI against a real PostgreSQL: passwords from standard input only,
// roles, disabling that ends sessions at once, and one-line errors with exit status 2.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { AppEnv } from '../../server/app.js';
import type { Db } from '../../server/db/pool.js';
import { runCliInProcess } from '../../testing/cli.js';
import { cleanEnv, isOneErrorLine, runCliAsync, tempDir } from '../../testing/fixtures.js';
import { createDatabase, testPostgres } from '../../testing/pg-server.js';
import { webClient } from '../../testing/web-fixture.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
const tmp = tempDir('users');
let url = '';
let db: Db;
let app: Hono<AppEnv>;

const users = (args: string[], input?: string) => runCliInProcess(['serve', 'users', ...args, '--db', url], input === undefined ? {} : { input });

before(async () => {
  if (skip) return;
  url = await createDatabase((pgc as { url: string }).url);
  const { openDb, migrate } = await import('../../server/db/pool.js');
  const { initServerKeys, loadServerKeys } = await import('../../server/keys.js');
  const { createApp } = await import('../../server/app.js');
  db = await openDb(url, { max: 2 });
  await migrate(db);
  initServerKeys(join(tmp.dir, 'keys'), 'audit.test');
  app = createApp({ db, keys: loadServerKeys(join(tmp.dir, 'keys')), log: () => undefined });
});
after(async () => {
  await db?.close();
  tmp.cleanup();
});

describe('serve users', { skip }, () => {
  it('adds a person with the password from a pipe (the real binary), who then signs in with it', async () => {
    const r = await runCliAsync(['serve', 'users', 'add', 'mira', '--role', 'auditor', '--db', url], cleanEnv(), 'a long passphrase 1\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'user mira added (auditor)\n');
    const c = webClient(app);
    assert.equal((await c.signIn('mira', 'a long passphrase 1')).status, 303, 'the trailing newline is not part of the password');
  });

  it('lists people as text and as JSON, never a hash', async () => {
    const text = await users(['list']);
    assert.equal(text.status, 0);
    assert.match(text.stdout, /^mira {2}auditor {2}password {2}created \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    const json = await users(['list', '--json']);
    const row = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(row), ['id', 'name', 'role', 'created_at', 'disabled_at', 'has_password', 'oidc_subject']);
    assert.equal(row.name, 'mira');
    assert.equal(row.disabled_at, null);
    assert.doesNotMatch(json.stdout, /scrypt/);
  });

  it('refuses a password on more than one line, too short, or absent, and a bad name or role: one line, exit 2, nothing added', async () => {
    for (const [args, input, msg] of [
      [['add', 'nell', '--role', 'viewer'], 'first line passphrase\nsecond line\n', /more than one line/],
      [['add', 'nell', '--role', 'viewer'], 'short\n', /at least 12 characters/],
      [['add', 'nell', '--role', 'viewer'], '', /no password on standard input/],
      [['add', 'nell', '--role', 'root'], 'a long passphrase 2\n', /role: one of viewer, auditor, admin/],
      [['add', 'ne ll', '--role', 'viewer'], 'a long passphrase 2\n', /user name: 1 to 64/],
      [['add', 'mira', '--role', 'viewer'], 'a long passphrase 2\n', /a user named mira exists already/],
    ] as const) {
      const r = await users([...args], input);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(isOneErrorLine(r.stderr), r.stderr);
      assert.match(r.stderr, msg);
    }
    assert.doesNotMatch((await users(['list'])).stdout, /nell/);
  });

  it('changes a role; the open session carries the new role from its next request', async () => {
    const c = webClient(app);
    assert.equal((await c.signIn('mira', 'a long passphrase 1')).status, 303);
    const r = await users(['role', 'mira', 'viewer']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'user mira is now viewer\n');
    assert.match(await (await c.get('/')).text(), /<span class="role">viewer<\/span>/);
    assert.equal((await users(['role', 'nobody', 'viewer'])).status, 2);
    assert.equal((await users(['role', 'mira', 'superuser'])).status, 2);
  });

  it('disable ends the sessions at once and refuses sign-in; enable lets the person back', async () => {
    const c = webClient(app);
    assert.equal((await c.signIn('mira', 'a long passphrase 1')).status, 303);
    assert.equal((await c.get('/')).status, 200);
    const r = await users(['disable', 'mira']);
    assert.equal(r.stdout, 'user mira disabled; their sessions are ended\n');
    const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE u.name = 'mira'");
    assert.equal(rows[0]!.n, 0);
    assert.equal((await c.get('/')).status, 303, 'the old cookie signs no one in');
    assert.equal((await webClient(app).signIn('mira', 'a long passphrase 1')).status, 401);
    assert.match((await users(['list'])).stdout, /^mira {2}viewer {2}password {2}created \S+ {2}DISABLED \S+\n$/);
    assert.equal((await users(['enable', 'mira'])).status, 0);
    assert.equal((await webClient(app).signIn('mira', 'a long passphrase 1')).status, 303);
  });

  it('password sets a new one from standard input and ends the sessions; the old one stops working', async () => {
    const c = webClient(app);
    assert.equal((await c.signIn('mira', 'a long passphrase 1')).status, 303);
    const r = await users(['password', 'mira'], 'another passphrase 3\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((await c.get('/')).status, 303);
    assert.equal((await webClient(app).signIn('mira', 'a long passphrase 1')).status, 401);
    assert.equal((await webClient(app).signIn('mira', 'another passphrase 3')).status, 303);
    const none = await users(['password', 'nobody'], 'another passphrase 3\n');
    assert.equal(none.status, 2);
    assert.match(none.stderr, /^ffaudit: no user named nobody\n$/);
  });
});
