// The mirror under faults: `kill -9` of a spawned `ffaudit serve` in the middle of a slow add-entries body, and of
// PostgreSQL's postmaster in the middle of a push (a private cluster, restarted). Each package is one transaction,
// so what survives is whole packages only; the next push resumes at the mirror's next entry and completes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, cleanEnv, naiveRoot, PROJECT_ROOT, tempDir } from '../testing/fixtures.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { addPending, checkCosignatureIndependently, enrolHost, makeHostLog, packageCountOf, specHeader, specPackage, type HostLog } from '../testing/mirror-fixture.js';
import { createApp } from './app.js';
import { migrate, openDb, type Db } from './db/pool.js';
import { initServerKeys, loadServerKeys, serverVkeys } from './keys.js';
import { storedRoot } from './mirror-tree.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let admin = '';
before(() => {
  if ('url' in pgc) admin = pgc.url;
});

const SIZE = 1337;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function held(db: Db): Promise<{ entries: number; nodes: number; mirrored: number | undefined }> {
  const e = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mirror_entries');
  const n = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mirror_nodes');
  const m = await db.pool.query<{ size: number }>('SELECT size FROM mirror_state');
  return { entries: e.rows[0]!.n, nodes: n.rows[0]!.n, mirrored: m.rows[0]?.size };
}

/** Whole packages only: every held entry is one of [0, 256k), each block of 256 has its node, nothing is mirrored yet. */
async function assertWholePackages(db: Db, log: HostLog): Promise<number> {
  const h = await held(db);
  assert.equal(h.entries % 256, 0, `${h.entries} entries held: a package was half written`);
  assert.equal(h.nodes, h.entries / 256);
  assert.equal(h.mirrored, undefined);
  const { rows } = await db.pool.query<{ idx: number; data: Buffer }>('SELECT idx, data FROM mirror_entries ORDER BY idx');
  rows.forEach((r, i) => {
    assert.equal(r.idx, i);
    assert.ok(r.data.equals(log.entries[i]!));
  });
  return h.entries;
}

/** Sends add-entries requests over `send` as a tlog-mirror client does, resuming from each 202/409's next entry. */
async function pushToEnd(log: HostLog, send: (body: Buffer) => Promise<{ status: number; text: string }>, from = 0): Promise<{ statuses: number[]; cosignature: string }> {
  const statuses: number[] = [];
  let start = from;
  for (let round = 0; round < 10; round++) {
    const body = Buffer.concat([specHeader(log.origin, start, SIZE), ...Array.from({ length: packageCountOf(start, SIZE) }, (_, i) => specPackage(log, start, SIZE, i).bytes)]);
    const r = await send(body);
    statuses.push(r.status);
    if (r.status === 200) return { statuses, cosignature: r.text };
    assert.ok(r.status === 202 || r.status === 409, `${r.status}: ${r.text}`);
    const [size, next] = r.text.split('\n').map(Number);
    assert.equal(size, SIZE);
    start = next!;
  }
  throw new Error(`no 200 after ${statuses.join(', ')}`);
}

function startServe(url: string, keysDir: string): Promise<{ child: ChildProcess; base: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--db', url, '--keys', keysDir, '--listen', '127.0.0.1:0'], { env: cleanEnv(), cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/[^;\s]+)/.exec(out);
      if (m) resolve({ child, base: m[1]! });
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

/** POSTs a body over a real socket, written in small pieces `pauseMs` apart; resolves with the answer, or the socket's fate. */
function slowPost(base: string, body: Buffer, piece: number, pauseMs: number): Promise<{ status: number; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const u = new URL('/add-entries', base);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString() }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    void (async () => {
      for (let at = 0; at < body.length; at += piece) {
        if (req.destroyed) return;
        req.write(body.subarray(at, at + piece));
        await sleep(pauseMs);
      }
      req.end();
    })();
  });
}

function fastPost(base: string, body: Buffer): Promise<{ status: number; text: string }> {
  return fetch(new URL('/add-entries', base), { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } }).then(async (r) => ({ status: r.status, text: await r.text() }));
}

test('kill -9 of `ffaudit serve` in the middle of a slow add-entries body loses nothing and half-writes nothing; the next push resumes and completes', { skip }, async () => {
  const t = tempDir('mirror-kill');
  const url = await createDatabase(admin);
  const db = await openDb(url);
  let server: ChildProcess | undefined;
  try {
    await migrate(db);
    const keysDir = join(t.dir, 'keys');
    initServerKeys(keysDir, 'audit.example.com');
    const log = makeHostLog(t.dir, 'render-3.example/ffaudit', [SIZE]);
    const host = await enrolHost(db, 'render-3', log);
    await addPending(db, host, log.vkey, log.checkpoints.get(SIZE)!);

    const first = await startServe(url, keysDir);
    server = first.child;
    const body = Buffer.concat([specHeader(log.origin, 0, SIZE), ...Array.from({ length: packageCountOf(0, SIZE) }, (_, i) => specPackage(log, 0, SIZE, i).bytes)]);
    // About 20 KiB a second: a package every second or so. Killed once two packages are in, wherever the third is.
    const answer = slowPost(first.base, body, 1024, 50);
    await waitFor('two packages committed', async () => (await held(db)).entries >= 512);
    await sleep(Math.floor(Math.random() * 800));
    server.kill('SIGKILL');
    const fate = await answer;
    assert.ok('error' in fate, `the request was cut: ${JSON.stringify(fate)}`);
    const kept = await assertWholePackages(db, log);
    assert.ok(kept >= 512 && kept < SIZE);

    // A new server on the same database: the client starts again from 0, is sent to the next entry, and completes.
    const second = await startServe(url, keysDir);
    server = second.child;
    const done = await pushToEnd(log, (b) => fastPost(second.base, b));
    assert.deepEqual(done.statuses, [409, 200]);
    checkCosignatureIndependently(done.cosignature, log.checkpoints.get(SIZE)!, serverVkeys(loadServerKeys(keysDir)).mirror);
    assert.deepEqual(await held(db), { entries: SIZE, nodes: 5, mirrored: SIZE });
    const c = await db.pool.connect();
    try {
      assert.deepEqual(await storedRoot(c, host, 0, SIZE), naiveRoot(log.leaves));
    } finally {
      c.release();
    }
    log.ledger.close();
  } finally {
    server?.kill('SIGKILL');
    await db.close();
    t.cleanup();
  }
});

test("kill -9 of PostgreSQL's postmaster in the middle of a push: whole packages only survive, the request fails in one line, the push resumes after the restart", { skip }, async () => {
  const script = join(PROJECT_ROOT, 'scripts', 'pg-test-server.sh');
  const clusterDir = mkdtempSync(join(tmpdir(), 'ffaudit-pg-kill-'));
  const t = tempDir('mirror-pgkill');
  let db: Db | undefined;
  try {
    const started = spawnSync('bash', [script, 'start', clusterDir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(started.status, 0, started.stderr);
    const clusterUrl = /export FFAUDIT_TEST_PG_URL=(\S+)/.exec(started.stdout)![1]!;
    const url = await createDatabase(clusterUrl);
    db = await openDb(url);
    await migrate(db);
    initServerKeys(join(t.dir, 'keys'), 'audit.example.com');
    const keys = loadServerKeys(join(t.dir, 'keys'));
    const lines: string[] = [];
    const app = createApp({ db, keys, log: (l) => lines.push(l) });
    const log = makeHostLog(t.dir, 'ingest-9.example/ffaudit', [SIZE]);
    const host = await enrolHost(db, 'ingest-9', log);
    await addPending(db, host, log.vkey, log.checkpoints.get(SIZE)!);

    // The body: the header and two packages at once, the rest once PostgreSQL is dead.
    let release!: () => void;
    const released = new Promise<void>((res) => (release = res));
    const pieces = Array.from({ length: packageCountOf(0, SIZE) }, (_, i) => specPackage(log, 0, SIZE, i).bytes);
    const stream = new ReadableStream<Uint8Array>({
      async start(ctl) {
        ctl.enqueue(Buffer.concat([specHeader(log.origin, 0, SIZE), pieces[0]!, pieces[1]!]));
        await released;
        for (const p of pieces.slice(2)) ctl.enqueue(p);
        ctl.close();
      },
    });
    const answer = Promise.resolve(app.request('/add-entries', { method: 'POST', body: stream, duplex: 'half' }));
    await waitFor('two packages committed', async () => (await held(db!)).entries === 512);
    const postmaster = Number(readFileSync(join(clusterDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGKILL');
    release();
    const r = await answer;
    assert.equal(r.status, 503);
    assert.equal(await r.text(), 'the server cannot reach its database; try again\n');
    assert.ok(lines.some((l) => /^POST \/add-entries 503 /.test(l)));

    const restarted = spawnSync('bash', [script, 'restart', clusterDir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(restarted.status, 0, restarted.stderr);
    // The pool reconnects by itself; what survived is the two packages committed before the kill.
    await waitFor('PostgreSQL back', async () => db!.pool.query('SELECT 1').then(() => true, () => false));
    assert.equal(await assertWholePackages(db, log), 512);
    const done = await pushToEnd(log, async (b) => {
      const res = await app.request('/add-entries', { method: 'POST', body: b });
      return { status: res.status, text: await res.text() };
    });
    assert.deepEqual(done.statuses, [409, 200]);
    assert.deepEqual(await held(db), { entries: SIZE, nodes: 5, mirrored: SIZE });
    log.ledger.close();
  } finally {
    await db?.close().catch(() => undefined);
    spawnSync('bash', [script, 'stop', clusterDir], { stdio: 'ignore' });
    rmSync(clusterDir, { recursive: true, force: true });
    t.cleanup();
  }
});
