// The mirror on a real PostgreSQL, with real ledgers as hosts: POST /add-entries with bodies written byte by byte
// from c2sp.org/tlog-mirror (404, 409 with its mirror-info, 202 and resume, 422, 400, gzip, 200 with a cosignature
// checked independently), two concurrent uploads, the tiles and blobs served back, compared with the host's own
// archive and verified by `ffaudit verify --from` over HTTP.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { blobRecordBody, encodePushRecord, PUSH_FILE_MAGIC, PUSH_RECORD } from '../core/push-file.js';
import { formatAddCheckpoint } from '../core/witness-protocol.js';
import { decodeHashTile, rootFromTiles, tilePath, type TileRef } from '../core/tiles.js';
import { runArchive } from '../archive/run-archive.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { naiveRoot, tempDir } from '../testing/fixtures.js';
import { runCliInProcess } from '../testing/cli.js';
import {
  addPending,
  checkCosignatureIndependently,
  enrolHost,
  makeHostLog,
  specBody,
  specHeader,
  specPackage,
} from '../testing/mirror-fixture.js';
import { migrate, openDb, type Db } from './db/pool.js';
import { initServerKeys, loadServerKeys, serverVkeys, type ServerKeys } from './keys.js';
import { createApp } from './app.js';
import { disableHost } from './hosts.js';
import { storedRoot, mirroredRoot } from './mirror-tree.js';
import { startServer } from './serve.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let admin = '';
before(() => {
  if ('url' in pgc) admin = pgc.url;
});

const NOW = 1_780_000_000;

interface World {
  db: Db;
  url: string;
  keys: ServerKeys;
  keysDir: string;
  app: ReturnType<typeof createApp>;
  lines: string[];
  dir: string;
  cleanup: () => Promise<void>;
}

async function world(): Promise<World> {
  const t = tempDir('mirror');
  const url = await createDatabase(admin);
  const db = await openDb(url);
  await migrate(db);
  const keysDir = join(t.dir, 'keys');
  initServerKeys(keysDir, 'audit.example.com');
  const keys = loadServerKeys(keysDir);
  const lines: string[] = [];
  const app = createApp({ db, keys, log: (l) => lines.push(l), now: () => NOW });
  return {
    db,
    url,
    keys,
    keysDir,
    app,
    lines,
    dir: t.dir,
    cleanup: async () => {
      await db.close();
      // The host's archive (runArchive) makes its files immutable where root may: lift that first.
      spawnSync('chattr', ['-R', '-i', t.dir], { stdio: 'ignore' });
      t.cleanup();
    },
  };
}

function post(w: World, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(w.app.request('/add-entries', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers } }));
}

async function count(db: Db, hostId: number): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mirror_entries WHERE host_id = $1', [hostId]);
  return rows[0]!.n;
}

async function expectInfo(r: Response, status: number, info: string): Promise<void> {
  assert.equal(r.status, status, await r.clone().text());
  assert.equal(r.headers.get('content-type'), 'text/x.tlog.mirror-info');
  assert.equal(await r.text(), info);
}

/** POSTs the start of a body over a real socket and never ends it: resolves with the answer, or fails after 5 s. */
function unfinishedPost(base: string, start: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL('/add-entries', base);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode!, text });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer before the body ended'));
    }, 5000);
    req.on('error', (e) => reject(e));
    req.write(start);
  });
}

async function rootOf(db: Db, hostId: number, size: number): Promise<Buffer> {
  const c = await db.pool.connect();
  try {
    return await storedRoot(c, hostId, 0, size);
  } finally {
    c.release();
  }
}

test('add-entries from the spec, byte by byte: 404, 409, 400, 202 and resume, 422, gzip, 200 with the mirror cosignature', { skip }, async () => {
  const w = await world();
  try {
    const log = makeHostLog(w.dir, 'edit-ws-1.example/ffaudit/alice', [300, 700, 1337]);
    const mirrorVkey = serverVkeys(w.keys).mirror;

    // An origin no host enrolled: 404 before anything else is read.
    let r = await post(w, specBody(log, 0, 700));
    assert.equal(r.status, 404);
    assert.equal(await r.text(), 'unknown log\n');
    assert.equal(r.headers.get('accept-encoding'), 'gzip', 'tlog-mirror: responses advertise gzip');

    const host = await enrolHost(w.db, 'edit-ws-1', log);
    await addPending(w.db, host, log.vkey, log.checkpoints.get(700)!);
    await addPending(w.db, host, log.vkey, log.checkpoints.get(1337)!);

    // A client knowing nothing asks with 0, 0: the latest pending size and the next entry.
    await expectInfo(await post(w, specHeader(log.origin, 0, 0)), 409, '1337\n0\n\n');
    // upload_end that is no pending checkpoint's size (300 was never submitted).
    await expectInfo(await post(w, specBody(log, 0, 300)), 409, '1337\n0\n\n');
    // upload_start beyond the next entry.
    await expectInfo(await post(w, specBody(log, 5, 700)), 409, '700\n0\n\n');

    // The first package cut short by one byte: nothing was authenticated, 400, nothing stored.
    const whole = specBody(log, 0, 700, 1);
    r = await post(w, whole.subarray(0, whole.length - 1));
    assert.equal(r.status, 400);
    assert.match(await r.text(), /^[^\n]+\n$/);
    // A header cut short is a 400 too.
    r = await post(w, specHeader(log.origin, 0, 700).subarray(0, 12));
    assert.equal(r.status, 400);
    assert.equal(await count(w.db, host), 0);

    // A deliberate prefix: two of the three packages of [0, 700): 202, next entry 512.
    await expectInfo(await post(w, specBody(log, 0, 700, 2)), 202, '700\n512\n\n');
    assert.equal(await count(w.db, host), 512);
    assert.equal((await w.db.pool.query('SELECT * FROM mirror_state')).rows.length, 0, 'no mirror checkpoint before the upload is whole');
    // Starting again from 0 would re-send 512 held entries: too far below the next entry.
    await expectInfo(await post(w, specBody(log, 0, 700)), 409, '700\n512\n\n');

    // Resumed from the advertised next entry: 200, the mirror's cosignature on the checkpoint of size 700.
    r = await post(w, specBody(log, 512, 700));
    assert.equal(r.status, 200);
    const line700 = await r.text();
    assert.equal(checkCosignatureIndependently(line700, log.checkpoints.get(700)!, mirrorVkey), NOW);
    assert.deepEqual(await rootOf(w.db, host, 700), parseSignedCheckpoint(log.checkpoints.get(700)!).root);

    // [700, 1337) gzip-compressed, one byte of an entry of the second package flipped: the first package (whose
    // subtree [512, 768) is rebuilt with the held entries 512…699) is committed, the second refused with 422 and
    // nothing of it stored.
    const parts = [0, 1, 2, 3].map((i) => specPackage(log, 700, 1337, i));
    assert.deepEqual(
      parts.map((p) => [p.start, p.end]),
      [
        [700, 768],
        [768, 1024],
        [1024, 1280],
        [1280, 1337],
      ],
    );
    const flipped = Buffer.from(parts[1]!.bytes);
    flipped[2 + 10] = flipped[2 + 10]! ^ 0x01; // a byte inside entry 768 (after its u16 length)
    r = await post(w, gzipSync(Buffer.concat([specHeader(log.origin, 700, 1337), parts[0]!.bytes, flipped, parts[2]!.bytes, parts[3]!.bytes])), { 'content-encoding': 'gzip' });
    assert.equal(r.status, 422);
    assert.match(await r.text(), /^entries 768 to 1023: the subtree consistency proof of \[768, 1024\) does not verify against the checkpoint of size 1337\n$/);
    assert.equal(await count(w.db, host), 768);
    assert.equal((await w.db.pool.query<{ size: number }>('SELECT size FROM mirror_state')).rows[0]!.size, 700);

    // Resumed, gzip: 200 and the mirror checkpoint moves to 1337.
    r = await post(w, gzipSync(specBody(log, 768, 1337)), { 'content-encoding': 'gzip' });
    assert.equal(r.status, 200);
    const line1337 = await r.text();
    checkCosignatureIndependently(line1337, log.checkpoints.get(1337)!, mirrorVkey);
    assert.equal(await count(w.db, host), 1337);
    assert.deepEqual(await rootOf(w.db, host, 1337), naiveRoot(log.leaves));
    const state = (await w.db.pool.query<{ size: number; note: string }>('SELECT size, note FROM mirror_state')).rows[0]!;
    assert.equal(state.size, 1337);
    assert.equal(state.note, log.checkpoints.get(1337)! + line1337, "the mirror checkpoint is the log's note with the mirror's line");
    const cosigned = await w.db.pool.query<{ size: number }>("SELECT size FROM cosigned WHERE role = 'mirror' ORDER BY size");
    assert.deepEqual(
      cosigned.rows.map((x) => x.size),
      [700, 1337],
    );

    // Below the mirror checkpoint: 409 naming the latest pending checkpoint. The same size again: the cosignature held.
    await expectInfo(await post(w, specBody(log, 512, 700)), 409, '1337\n1337\n\n');
    r = await post(w, specHeader(log.origin, 1337, 1337));
    assert.equal(r.status, 200);
    assert.equal(await r.text(), line1337);

    // mirroredRoot: any size up to the mirrored one; nothing beyond it.
    const c = await w.db.pool.connect();
    try {
      for (const size of [0, 1, 255, 256, 257, 700, 1024, 1336, 1337]) assert.deepEqual(await mirroredRoot(c, host, 0, size), naiveRoot(log.leaves.slice(0, size)), `size ${size}`);
      assert.equal(await mirroredRoot(c, host, 0, 1338), undefined);
      assert.equal(await mirroredRoot(c, host, 1, 5), undefined, 'another epoch holds nothing');
    } finally {
      c.release();
    }

    // A log held (a restored server database, until an administrator resolves it) is not cosigned.
    await w.db.pool.query("UPDATE hosts SET hold = 'restored from an older backup' WHERE id = $1", [host]);
    r = await post(w, specHeader(log.origin, 1337, 1337));
    assert.equal(r.status, 403);
    assert.equal(await r.text(), 'the mirror does not cosign this log until an administrator resolves: restored from an older backup\n');
    await w.db.pool.query('UPDATE hosts SET hold = NULL WHERE id = $1', [host]);

    // A disabled host is an unknown log again.
    await disableHost(w.db, 'edit-ws-1');
    r = await post(w, specHeader(log.origin, 1337, 1337));
    assert.equal(r.status, 404);
    assert.ok(w.lines.every((l) => /^POST \/add-entries \d{3} [\d.]+ms$/.test(l)), w.lines.join('\n'));
    log.ledger.close();
  } finally {
    await w.cleanup();
  }
});

test('two concurrent add-entries over overlapping ranges leave one consistent copy, and the mirror never rewinds', { skip }, async () => {
  const w = await world();
  try {
    const log = makeHostLog(w.dir, 'render-7.example/ffaudit', [700, 1337]);
    const host = await enrolHost(w.db, 'render-7', log);
    await addPending(w.db, host, log.vkey, log.checkpoints.get(700)!);
    await addPending(w.db, host, log.vkey, log.checkpoints.get(1337)!);
    // Each body handed over in small pieces, so that the two interleave package by package.
    const slow = (b: Buffer) =>
      new ReadableStream<Uint8Array>({
        async start(ctl) {
          for (let at = 0; at < b.length; at += 4096) {
            ctl.enqueue(b.subarray(at, at + 4096));
            await new Promise((res) => setImmediate(res));
          }
          ctl.close();
        },
      });
    const send = (b: Buffer) => Promise.resolve(w.app.request('/add-entries', { method: 'POST', body: slow(b), duplex: 'half' }));
    // A client as tlog-mirror §Processing describes one: after a 202 or 409, retry from the advertised next entry.
    const client = async (end: number): Promise<{ statuses: number[]; last: string }> => {
      const statuses: number[] = [];
      let start = 0;
      for (;;) {
        const r = await send(specBody(log, start, end));
        statuses.push(r.status);
        const text = await r.text();
        if (r.status === 200) return { statuses, last: text };
        assert.ok(r.status === 202 || r.status === 409, `${r.status} ${text}`);
        const [size, next] = text.split('\n').map(Number) as [number, number];
        if (size !== end) return { statuses, last: text }; // the mirror went past this upload's checkpoint
        // The mirror may already hold entries beyond this upload's end (another upload stored them): nothing is left
        // to send but the empty upload that asks for the cosignature, as push/client.ts does.
        start = Math.min(next, end);
      }
    };
    const [a, b, c] = await Promise.all([client(1337), client(1337), client(700)]);
    assert.equal(a.statuses.at(-1), 200, a.last);
    assert.equal(b.statuses.at(-1), 200, b.last);
    // The upload to 700 either finished (200) or found the mirror already at 1337 (409), never rewinding it.
    if (c.statuses.at(-1) !== 200) assert.match(c.last, /^1337\n1337\n\n$/);
    assert.equal(await count(w.db, host), 1337);
    const { rows } = await w.db.pool.query<{ n: number; lo: number; hi: number }>('SELECT count(DISTINCT idx)::int AS n, min(idx) AS lo, max(idx) AS hi FROM mirror_entries');
    assert.deepEqual(rows[0], { n: 1337, lo: 0, hi: 1336 });
    const nodes = await w.db.pool.query<{ level: number; n: number }>('SELECT level, count(*)::int AS n FROM mirror_nodes GROUP BY level ORDER BY level');
    assert.deepEqual(nodes.rows, [{ level: 8, n: 5 }]);
    const data = await w.db.pool.query<{ idx: number; data: Buffer }>('SELECT idx, data FROM mirror_entries ORDER BY idx');
    assert.ok(data.rows.every((x) => x.data.equals(log.entries[x.idx]!)));
    assert.deepEqual(await rootOf(w.db, host, 1337), naiveRoot(log.leaves));
    assert.equal((await w.db.pool.query<{ size: number }>('SELECT size FROM mirror_state')).rows[0]!.size, 1337);

    // The last step's compare-and-set, forced: another process is creating the mirror checkpoint at 1337 (its row
    // not yet committed, so no lock finds it) while this request moves it to 700. 409, never a rewind.
    const saved = (await w.db.pool.query<{ root: Buffer; note: string }>('SELECT root, note FROM mirror_state')).rows[0]!;
    await w.db.pool.query('DELETE FROM mirror_state');
    const other = await w.db.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('INSERT INTO mirror_state (host_id, epoch, size, root, note) VALUES ($1, 0, 1337, $2, $3)', [host, saved.root, saved.note]);
      const late = Promise.resolve(w.app.request('/add-entries', { method: 'POST', body: specHeader(log.origin, 700, 700) }));
      await new Promise((res) => setTimeout(res, 300));
      await other.query('COMMIT');
      await expectInfo(await late, 409, '1337\n1337\n\n');
    } finally {
      other.release();
    }
    assert.equal((await w.db.pool.query<{ size: number }>('SELECT size FROM mirror_state')).rows[0]!.size, 1337);
    log.ledger.close();
  } finally {
    await w.cleanup();
  }
});

test("the mirror's tiles equal the host's own archive, `verify --from` the mirror's URL passes, and blobs go and come back", { skip }, async () => {
  const w = await world();
  const server = await startServer({ db: w.url, keys: w.keysDir, listen: '127.0.0.1:0', log: () => undefined });
  try {
    // 66,000 entries would make a level-1 tile full; 1,337 make level-0 tiles full and partial, a partial level 1.
    const log = makeHostLog(w.dir, 'ingest-2.example/ffaudit', [1337]);
    const host = await enrolHost(w.db, 'ingest-2', log);
    await addPending(w.db, host, log.vkey, log.checkpoints.get(1337)!);
    const base = `/mirror/${log.h}`;

    // Nothing mirrored yet: no checkpoint, no tile.
    assert.equal((await w.app.request(`${base}/checkpoint`)).status, 404);
    assert.equal((await w.app.request(`${base}/tile/0/000`)).status, 404);

    // A blob before any entry names it: refused.
    const [reportSha, report] = [...log.blobs].find(([, b]) => b.length < 10_000)!;
    let r = await w.app.request(`/blobs/${log.h}/${reportSha}`, { method: 'PUT', body: report });
    assert.equal(r.status, 422);

    r = await w.app.request('/add-entries', { method: 'POST', body: specBody(log, 0, 1337) });
    assert.equal(r.status, 200);

    // Over a real socket, a 404 and a 409 come back while the client is still sending: §Processing says the mirror
    // SHOULD answer them without waiting for the body.
    for (const [header, status, text] of [
      [specHeader('nobody.example/log', 0, 10), 404, 'unknown log\n'],
      [specHeader(log.origin, 0, 999), 409, '1337\n1337\n\n'],
    ] as const) {
      const early = await unfinishedPost(server.url, Buffer.concat([header, Buffer.alloc(5000, 7)]));
      assert.deepEqual(early, { status, text });
    }

    r = await w.app.request(`${base}/checkpoint`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const note = await r.text();
    assert.ok(note.startsWith(log.checkpoints.get(1337)!));

    // The host archives its own log as tlog-tiles in a directory; the mirror serves the same bytes.
    const archiveDir = join(w.dir, 'archive');
    const a = await runArchive(log.ledger, { to: archiveDir });
    assert.ok(!a.busy && a.result.ok);
    const tiles: TileRef[] = [
      { level: 0, index: 0, width: 256 },
      { level: 0, index: 4, width: 256 },
      { level: 0, index: 5, width: 57 },
      { level: 1, index: 0, width: 5 },
      { level: 'entries', index: 0, width: 256 },
      { level: 'entries', index: 3, width: 256 },
      { level: 'entries', index: 5, width: 57 },
    ];
    const fetched = new Map<string, Buffer>();
    for (const t of tiles) {
      const resp = await w.app.request(`${base}/${tilePath(t)}`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(resp.status, 200, tilePath(t));
      assert.equal(resp.headers.get('content-type'), 'application/octet-stream');
      assert.equal(resp.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      let bytes = Buffer.from(await resp.arrayBuffer());
      if (t.level === 'entries') {
        assert.equal(resp.headers.get('content-encoding'), 'gzip', 'bundles are compressed for a client that accepts gzip');
        bytes = gunzipSync(bytes);
      }
      assert.deepEqual(bytes, readFileSync(join(archiveDir, tilePath(t))), `${tilePath(t)} is the archive's`);
      fetched.set(tilePath(t), bytes);
    }
    // The root rebuilt from the served tiles alone, as any tlog-tiles client would.
    const root = rootFromTiles(1337, (t) => decodeHashTile(fetched.get(tilePath(t))!, t.width));
    assert.deepEqual(root, parseSignedCheckpoint(log.checkpoints.get(1337)!).root);
    // Beyond the mirrored tree, and malformed paths: 404.
    for (const p of ['tile/0/005.p/58', 'tile/0/006', 'tile/1/000', 'tile/entries/005', 'tile/0/5', 'tile/0/x000/005', 'tile/64/000']) {
      assert.equal((await w.app.request(`${base}/${p}`)).status, 404, p);
    }
    assert.equal((await w.app.request(`/mirror/${'0'.repeat(64)}/checkpoint`)).status, 404);

    // Blobs: refused when the bytes do not hash to the name, or when no entry of this log names them.
    r = await w.app.request(`/blobs/${log.h}/${reportSha}`, { method: 'PUT', body: Buffer.concat([report, Buffer.from('x')]) });
    assert.equal(r.status, 422);
    assert.equal(await r.text(), 'the bytes do not hash to the name\n');
    const stranger = Buffer.from('named by no entry');
    r = await w.app.request(`/blobs/${log.h}/${createHash('sha256').update(stranger).digest('hex')}`, { method: 'PUT', body: stranger });
    assert.equal(r.status, 422);
    r = await w.app.request(`/blobs/${'1'.repeat(64)}/${reportSha}`, { method: 'PUT', body: report });
    assert.equal(r.status, 404);
    // Every blob the entries name: 201, then 200 the second time (gzip-encoded, once).
    for (const [sha, bytes] of log.blobs) {
      r = await w.app.request(`/blobs/${log.h}/${sha}`, { method: 'PUT', body: bytes });
      assert.equal(r.status, 201, `${sha}: ${await r.clone().text()}`);
    }
    r = await w.app.request(`/blobs/${log.h}/${reportSha}`, { method: 'PUT', body: gzipSync(report), headers: { 'content-encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.ok([...log.blobs.values()].some((b) => b.length > 65_535), 'a field moved out of an entry is among them');
    for (const [sha, bytes] of log.blobs) {
      const g = await w.app.request(`${base}/blob/${sha}`);
      assert.equal(g.status, 200);
      assert.deepEqual(Buffer.from(await g.arrayBuffer()), bytes);
    }
    assert.equal((await w.app.request(`${base}/blob/${'2'.repeat(64)}`)).status, 404);

    // ffaudit verify --from the mirror's URL, over a real socket: every bundle, tile, blob and the signed root.
    const pubkey = join(w.dir, 'log.vkey');
    writeFileSync(pubkey, `${log.vkey}\n`);
    const v = await runCliInProcess(['verify', '--from', `${server.url}/mirror/${log.h}`, '--pubkey', pubkey]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /checked {2}1337 entries in their bundles, 7 hash tiles, 1 signed checkpoint, \d+ reports, and no retention/);
    assert.match(v.stdout, /verdict {2}INTACT/);
    // Without the key: one line saying to give it.
    const nokey = await runCliInProcess(['verify', '--from', `${server.url}/mirror/${log.h}`]);
    assert.equal(nokey.status, 2);
    assert.match(nokey.stderr, /^ffaudit: .*serves no vkey.*--pubkey\n$/);
    // A blob missing from the mirror is found: verify fails.
    await w.db.pool.query('DELETE FROM blobs WHERE sha256 = $1', [Buffer.from(reportSha, 'hex')]);
    const missing = await runCliInProcess(['verify', '--from', `${server.url}/mirror/${log.h}`, '--pubkey', pubkey, '--json']);
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /blob-missing/);
    log.ledger.close();
  } finally {
    await server.close();
    await w.cleanup();
  }
});

test('serve import applies a push file record by record through the endpoints, says what became of each, exit 1 if one was refused', { skip }, async () => {
  const w = await world();
  try {
    const log = makeHostLog(w.dir, 'secure-suite.example/ffaudit', [700, 1337]);
    const host = await enrolHost(w.db, 'secure-suite', log);
    const named = [...log.blobs];
    const stranger = Buffer.from('no entry names these bytes');
    const file = join(w.dir, 'push.bin');
    const originSha = Buffer.from(log.h, 'hex');
    const blob = (b: Buffer) => encodePushRecord({ type: PUSH_RECORD.blob, body: blobRecordBody(originSha, createHash('sha256').update(b).digest(), b) });
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(PUSH_FILE_MAGIC),
        encodePushRecord({ type: PUSH_RECORD.addCheckpoint, body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: log.checkpoints.get(700)! }) }),
        encodePushRecord({ type: PUSH_RECORD.addEntries, body: specBody(log, 0, 700) }),
        encodePushRecord({
          type: PUSH_RECORD.addCheckpoint,
          body: formatAddCheckpoint({ oldSize: 700, proof: log.ledger.consistency(700, 1337), checkpoint: log.checkpoints.get(1337)! }),
        }),
        encodePushRecord({ type: PUSH_RECORD.addEntries, body: specBody(log, 700, 1337) }),
        ...named.map(([, b]) => blob(b)),
        blob(named[0]![1]),
        blob(stranger),
      ]),
    );
    const witnessRoutes = (await w.app.request('/add-checkpoint', { method: 'POST', body: '' })).status !== 404;
    // Until the witness's route is part of the app, the pending checkpoints its requests would set are set here.
    if (!witnessRoutes) for (const size of [700, 1337]) await addPending(w.db, host, log.vkey, log.checkpoints.get(size)!);
    const r = await runCliInProcess(['serve', 'import', file, '--db', w.url, '--keys', w.keysDir]);
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4 + named.length + 2);
    if (witnessRoutes) assert.match(lines[0]!, /^1 add-checkpoint secure-suite\.example\/ffaudit: 200 cosigned by audit\.example\.com\/witness$/);
    assert.equal(lines[1], '2 add-entries secure-suite.example/ffaudit [0, 700): 200 all entries in: the mirror cosigned');
    assert.equal(lines[3], '4 add-entries secure-suite.example/ffaudit [700, 1337): 200 all entries in: the mirror cosigned');
    named.forEach(([sha, b], i) => assert.equal(lines[4 + i], `${5 + i} blob ${sha} (${b.length} bytes): 201 stored`));
    assert.equal(lines[4 + named.length], `${5 + named.length} blob ${named[0]![0]} (${named[0]![1].length} bytes): 200 already stored`);
    assert.match(lines[5 + named.length]!, /^\d+ blob [0-9a-f]{64} \(26 bytes\): 422 no mirrored entry of this log names this blob/);
    assert.equal(r.stderr, `${4 + named.length + 2} records, ${witnessRoutes ? 1 : 3} refused\n`);
    assert.equal((await w.db.pool.query<{ size: number }>('SELECT size FROM mirror_state')).rows[0]!.size, 1337);
    assert.equal(await count(w.db, host), 1337);

    // A file cut inside a record: what came before is applied and said, then one line, exit 2.
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 3));
    const cut = await runCliInProcess(['serve', 'import', file, '--db', w.url, '--keys', w.keysDir]);
    assert.equal(cut.status, 2);
    assert.match(cut.stderr, /ffaudit: push file: it ends inside record \d+ \(at byte \d+\): the file was cut short\n$/);
    writeFileSync(file, 'not a push file');
    const bad = await runCliInProcess(['serve', 'import', file, '--db', w.url, '--keys', w.keysDir]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^ffaudit: push file: it does not start with "ffaudit-push\/v1\\n"\n$/);
    log.ledger.close();
  } finally {
    await w.cleanup();
  }
});
