// The server's foundation on a real PostgreSQL: connection strings, migrations, keys, enrolment (hosts add → POST
// /join → disable/reset), the error mapping and the request log.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEd25519Signer, formatVerifierKey } from '../core/note.js';
import { parseCosignerVkey } from '../core/cosignature.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { tempDir } from '../testing/fixtures.js';
import { runCliInProcess } from '../testing/cli.js';
import { checkDatabaseUrl, migrate, openDb, type Db } from './db/pool.js';
import { MIGRATIONS } from './db/migrations.js';
import { initServerKeys, loadServerKeys } from './keys.js';
import { addHost, disableHost, listHosts, resetHost } from './hosts.js';
import { createApp } from './app.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let admin = '';
before(() => {
  if ('url' in pgc) admin = pgc.url;
});

async function freshDb(): Promise<Db> {
  const db = await openDb(await createDatabase(admin));
  await migrate(db);
  return db;
}

function hostLog(origin: string) {
  const signer = makeEd25519Signer(origin, Buffer.alloc(32, 7));
  return { origin, vkey: formatVerifierKey(origin, signer.publicKey), signer };
}

test('a connection string with a password is refused in one line that does not repeat it', () => {
  for (const url of ['postgres://u:s3cret@127.0.0.1/db', 'postgres://u@127.0.0.1/db?password=s3cret']) {
    assert.throws(() => checkDatabaseUrl(url), (e: Error & { code?: string }) => e.code === 'USAGE' && !e.message.includes('s3cret') && !e.message.includes('\n'));
  }
  assert.throws(() => checkDatabaseUrl('mysql://u@h/db'), { code: 'USAGE' });
  assert.doesNotThrow(() => checkDatabaseUrl('postgres://ffaudit@127.0.0.1:5432/db?sslmode=require'));
});

test('migrations: applied once, idempotent, concurrent starts agree, and a newer schema is refused', { skip }, async () => {
  const url = await createDatabase(admin);
  const [a, b] = [await openDb(url), await openDb(url)];
  try {
    const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
    const newest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    // One of the two ran the migrations, the other found them done (the advisory lock serialised them).
    assert.deepEqual([ra.from, rb.from].sort(), [0, newest]);
    assert.deepEqual(await migrate(a), { from: newest, to: newest });
    await a.pool.query("INSERT INTO ffaudit_schema (version, name) VALUES (999, 'from the future')");
    await assert.rejects(migrate(b), (e: Error & { code?: string }) => e.code === 'STORE' && /version 999, newer than this ffaudit knows/.test(e.message));
  } finally {
    await a.close();
    await b.close();
  }
});

test('serve init makes two distinct cosigner keys once (0600), serve key prints them, a second init is refused', async () => {
  const t = tempDir('ffaudit-keys-');
  try {
    const dir = join(t.dir, 'keys');
    const r = await runCliInProcess(['serve', 'init', '--name', 'audit.example.com', '--keys', dir]);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['witness.key', 'mirror.key']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const k = await runCliInProcess(['serve', 'key', '--keys', dir]);
    const [w, m] = k.stdout.trim().split('\n').map((l) => l.split(/\s+/)[1]!);
    const wv = parseCosignerVkey(w!);
    const mv = parseCosignerVkey(m!);
    assert.equal(wv.name, 'audit.example.com/witness');
    assert.equal(mv.name, 'audit.example.com/mirror');
    assert.ok(!wv.publicKey.equals(mv.publicKey), 'tlog-cosignature: distinct keys for distinct cosigners');
    const before = readFileSync(join(dir, 'witness.key'));
    const again = await runCliInProcess(['serve', 'init', '--name', 'other', '--keys', dir]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /^ffaudit: .*already exists.*\n$/);
    assert.deepEqual(readFileSync(join(dir, 'witness.key')), before, 'the key is never overwritten');
    assert.deepEqual(loadServerKeys(dir).witness.publicKey, wv.publicKey);
  } finally {
    t.cleanup();
  }
});

test('enrolment: a one-time token, stored hashed, spent by POST /join; reuse, expiry and a taken origin are refused', { skip }, async () => {
  const t = tempDir('ffaudit-join-');
  const db = await freshDb();
  try {
    initServerKeys(t.dir, 'audit.example.com');
    const keys = loadServerKeys(t.dir);
    const lines: string[] = [];
    const app = createApp({ db, keys, log: (l) => lines.push(l) });
    const { token } = await addHost(db, 'edit-ws-1');
    const stored = await db.pool.query('SELECT token_hash FROM enrol_tokens');
    assert.equal(stored.rows.length, 1);
    assert.ok(!JSON.stringify(stored.rows).includes(token.slice(-20)), 'only the hash is stored');
    const h = hostLog('edit-ws-1.example/ffaudit/alice');
    const join = (body: unknown) => app.request('/join', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const ok = await join({ token, origin: h.origin, vkey: h.vkey });
    assert.equal(ok.status, 200);
    const j = (await ok.json()) as { host: string; witness: string; mirror: string };
    assert.equal(j.host, 'edit-ws-1');
    assert.equal(parseCosignerVkey(j.witness).name, 'audit.example.com/witness');
    const again = await join({ token, origin: h.origin, vkey: h.vkey });
    assert.equal(again.status, 403);
    assert.equal(await again.text(), 'the token is not valid\n');
    // A second host may not take the first one's origin.
    const { token: t2 } = await addHost(db, 'render-7');
    const taken = await join({ token: t2, origin: h.origin, vkey: h.vkey });
    assert.equal(taken.status, 409);
    // An expired token.
    const { token: t3 } = await addHost(db, 'ingest-2', 1);
    await db.pool.query("UPDATE enrol_tokens SET expires_at = now() - interval '1 second'");
    const h3 = hostLog('ingest-2.example/ffaudit');
    const expired = await join({ token: t3, origin: h3.origin, vkey: h3.vkey });
    assert.equal(expired.status, 403);
    assert.equal(await expired.text(), 'the token has expired\n');
    // Malformed bodies: one line, 400.
    for (const body of ['not json', JSON.stringify({ token: 1 }), JSON.stringify({ token: 'x', origin: 'o', vkey: 'garbage' })]) {
      const r = await app.request('/join', { method: 'POST', body });
      assert.ok(r.status === 400 || r.status === 403, `${body}: ${r.status}`);
      assert.match(await r.text(), /^[^\n]+\n$/);
    }
    // A vkey whose name is not the origin.
    const { token: t4 } = await addHost(db, 'ingest-3');
    const wrong = await join({ token: t4, origin: 'someone-else', vkey: h3.vkey });
    assert.equal(wrong.status, 400);
    // The request log: one line per request, never the token.
    assert.ok(lines.length >= 8);
    assert.ok(lines.every((l) => !l.includes(token) && /^POST \/join \d{3} [\d.]+ms$/.test(l)), lines.join('\n'));

    await disableHost(db, 'edit-ws-1');
    const listed = await listHosts(db);
    assert.equal(listed.find((x) => x.name === 'edit-ws-1')!.status, 'disabled');
    const { epoch } = await resetHost(db, 'edit-ws-1', 'restored from backup');
    assert.equal(epoch, 1);
    const c = await db.pool.query<{ detail: string }>("SELECT kind, detail FROM conflicts WHERE kind = 'reset'");
    assert.match(c.rows[0]!.detail, /restored from backup/);
    await assert.rejects(resetHost(db, 'nobody', 'x'), { code: 'NOT_FOUND' });
  } finally {
    await db.close();
    t.cleanup();
  }
});

test('serve hosts add prints only the token on stdout; a bad --db is one line, exit 2', { skip }, async () => {
  const url = await createDatabase(admin);
  const r = await runCliInProcess(['serve', 'hosts', 'add', 'edit-ws-9', '--db', url]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ffaudit-join-[A-Za-z0-9_-]{32}\n$/);
  const l = await runCliInProcess(['serve', 'hosts', 'list', '--db', url]);
  assert.match(l.stdout, /^edit-ws-9 {2}pending/);
  const bad = await runCliInProcess(['serve', 'hosts', 'list', '--db', 'postgres://u:pw@127.0.0.1:1/x']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^ffaudit: --db: the connection string carries a password[^\n]*\n$/);
  const down = await runCliInProcess(['serve', 'hosts', 'list', '--db', 'postgres://u@127.0.0.1:1/x']);
  assert.equal(down.status, 2);
  assert.match(down.stderr, /^ffaudit: cannot connect to PostgreSQL at [^\n]*\n$/);
});
