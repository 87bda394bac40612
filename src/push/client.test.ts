/**
 * The push client against a small server that answers as tlog-witness and tlog-mirror say (testing/tlog-server.ts):
 * join, a push from nothing and an incremental one, the witness's 409, the mirror's 202 and 409, retries with
 * backoff while the server is away, a 404 that stops the push, a fork and a rollback the server has seen, blobs
 * never lost when a push is cut between entries and blobs, and `push --to FILE` replayed into a server.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { sha256Hex, type EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { formatMirrorInfo, MIRROR_INFO_CONTENT_TYPE } from '../core/mirror-protocol.js';
import { parseBlobRecord, parsePushFile, PUSH_RECORD } from '../core/push-file.js';
import { formatTlogSize, parseAddCheckpoint, TLOG_SIZE_CONTENT_TYPE } from '../core/witness-protocol.js';
import { namedBlobs } from '../ledger/blob.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { readServerConfig } from '../ledger/server-config.js';
import { runCliInProcess } from '../testing/cli.js';
import { joinServer } from '../testing/cosigners.js';
import { isOneErrorLine, tempDir } from '../testing/fixtures.js';
import { startTlogServer, type TestTlogServer } from '../testing/tlog-server.js';
import { push } from './client.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const tmp = tempDir('push-client');
after(tmp.cleanup);
let counter = 0;
const servers: TestTlogServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
/** Entries whose text is moved into a blob (too large for an entry), at these positions of each append. */
function append(dir: string, n: number, blobEvery = 0): void {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const base = l.size();
    l.append(Array.from({ length: n }, (_, k) => note(blobEvery > 0 && (base + k) % blobEvery === 0 ? `big ${base + k} ${'y'.repeat(70_000)}` : `entry ${base + k}`)));
  } finally {
    l.close();
  }
}

async function setup(entries: number, blobEvery = 0): Promise<{ dir: string; server: TestTlogServer; origin: string }> {
  const server = await startTlogServer();
  servers.push(server);
  const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: `example.org/push-${counter}` });
  server.enrol(l.origin, l.vkey);
  joinServer(l.dir, server.keys);
  const { dir, origin } = l;
  l.close();
  if (entries > 0) append(dir, entries, blobEvery);
  return { dir, server, origin };
}

const fast = { retryBaseMs: 5, retryMaxMs: 20 };
const paths = (s: TestTlogServer) => s.requests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{64}/g, 'H')} ${r.status}`);

function cosignedSizes(dir: string): { witness: number | undefined; mirror: number | undefined } {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const s = l.server()!;
    return { witness: l.lastCosigned(s.config.url, s.witness.name)?.size, mirror: l.lastCosigned(s.config.url, s.mirror.name)?.size };
  } finally {
    l.close();
  }
}

function expectBlobs(dir: string, server: TestTlogServer): void {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const want = l.entries(0, l.size()).flatMap((e) => [...namedBlobs(e)]);
    assert.ok(want.length > 0);
    assert.deepEqual([...server.log()!.blobs.keys()].sort(), [...new Set(want)].sort());
    for (const sha of want) assert.equal(sha256Hex(server.log()!.blobs.get(sha)!), sha);
  } finally {
    l.close();
  }
}

describe('ffaudit join', () => {
  it('reads the token from standard input or --token-file, stores the server and its keys; a spent token is refused in one line', async () => {
    const server = await startTlogServer();
    servers.push(server);
    const l = Ledger.init(join(tmp.dir, `j${counter++}`), { origin: 'example.org/joining' });
    l.close();
    const r = await runCliInProcess(['--ledger', l.dir, 'join', `${server.url}/`], { input: `${server.token}\n` });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^joined ${server.url.replace(/[.]/g, '\\.')} as host host-1\nlog {6}example\\.org/joining\nwitness {2}audit\\.example/witness\\+`));
    assert.deepEqual(readServerConfig(l.dir), { url: server.url, host: 'host-1', witness: server.keys.config.witness, mirror: server.keys.config.mirror });
    assert.deepEqual(JSON.parse(server.requests[0]!.body.toString()), { token: server.token, origin: 'example.org/joining', vkey: readFileSync(join(l.dir, 'vkey'), 'utf8').trim() });
    assert.ok(!readFileSync(join(l.dir, 'config.json'), 'utf8').includes(server.token), 'the token is kept nowhere');
    const tokenFile = join(tmp.dir, 'token');
    writeFileSync(tokenFile, server.token);
    const again = await runCliInProcess(['--ledger', l.dir, 'join', server.url, '--token-file', tokenFile]);
    assert.equal(again.status, 2);
    assert.ok(isOneErrorLine(again.stderr), again.stderr);
    assert.match(again.stderr, /refused the token \(wrong, expired or already used\)/);
    const argv = await runCliInProcess(['--ledger', l.dir, 'join', server.url, server.token]);
    assert.equal(argv.status, 2, 'a token on the command line is not taken');
    const none = await runCliInProcess(['--ledger', l.dir, 'join', server.url]);
    assert.match(none.stderr, /^ffaudit: no join token on standard input/);
    const creds = await runCliInProcess(['--ledger', l.dir, 'join', 'https://user:pw@audit.example'], { input: 'x' });
    assert.match(creds.stderr, /no credentials in the server's URL/);
  });
});

describe('push', () => {
  it('from nothing: witness and mirror cosign, every entry and blob reaches the server (blobs after their entries); again: nothing sent', async () => {
    const { dir, server } = await setup(600, 97);
    const r = await push(dir, fast);
    assert.deepEqual([r.size, r.checkpoints, r.entries, r.requests, r.cosigned, r.stopped], [600, [{ oldSize: 0, size: 600 }], 600, 1, { witness: 600, mirror: 600 }, undefined]);
    assert.equal(r.blobs, 7);
    assert.deepEqual(paths(server).slice(0, 2), ['POST /add-checkpoint 200', 'POST /add-entries 200']);
    assert.equal(server.requests[1]!.headers['content-encoding'], 'gzip', 'add-entries bodies are gzip-compressed');
    assert.ok(server.requests.slice(2).every((q) => q.method === 'PUT' && q.status === 201), 'each blob once, accepted: its entry was mirrored first');
    assert.equal(server.log()!.entries.length, 600);
    expectBlobs(dir, server);
    assert.deepEqual(cosignedSizes(dir), { witness: 600, mirror: 600 });
    const n = server.requests.length;
    const again = await push(dir, fast);
    assert.equal(server.requests.length, n, 'nothing new: nothing sent');
    assert.deepEqual([again.checkpoints, again.entries, again.blobs], [[], 0, 0]);
  });

  it('incrementally: a consistency proof from the cosigned size, the new entries only; ffaudit push says what it sent', async () => {
    const { dir, server } = await setup(300);
    await push(dir, fast);
    append(dir, 50, 10);
    server.requests.length = 0;
    const r = await runCliInProcess(['--ledger', dir, 'push']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseAddCheckpoint(server.requests[0]!.body).oldSize, 300);
    assert.ok(parseAddCheckpoint(server.requests[0]!.body).proof.length > 0);
    assert.equal(r.stdout.replace(/\(3\d\d\.\d KiB\)/, '(… KiB)'), [
      `server      ${server.url} (host host-1)`,
      'checkpoint  size 350 (from 300)',
      'entries     50 in 1 add-entries request',
      'blobs       5 (… KiB)',
      'cosigned    witness: 350, mirror: 350',
      '',
    ].join('\n'));
    append(dir, 1);
    const j = await runCliInProcess(['--ledger', dir, 'push', '--json']);
    const out = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.deepEqual([out.size, out.checkpoints, out.entries, out.cosigned, out.stopped], [351, [{ old_size: 350, size: 351 }], 1, { witness: 351, mirror: 351 }, null]);
  });

  it("follows the witness's 409 (text/x.tlog.size) when the ledger does not know what it cosigned", async () => {
    const { dir, server } = await setup(40, 8);
    await push(dir, fast);
    append(dir, 10);
    // The ledger's cosignatures lost (a copy made without them): it starts from 0 and the witness says 40.
    const db = new Database(join(dir, 'ledger.db'));
    db.exec('DROP TRIGGER cosignatures_no_delete; DELETE FROM cosignatures');
    db.close();
    server.requests.length = 0;
    const r = await push(dir, fast);
    assert.deepEqual(paths(server).slice(0, 3), ['POST /add-checkpoint 409', 'POST /add-checkpoint 200', 'POST /add-entries 200']);
    assert.equal(server.requests[0]!.body.toString().split('\n')[0], 'old 0');
    assert.equal(parseAddCheckpoint(server.requests[1]!.body).oldSize, 40);
    assert.deepEqual(r.checkpoints, [{ oldSize: 40, size: 50 }]);
    assert.deepEqual(r.cosigned, { witness: 50, mirror: 50 });
    assert.equal(server.log()!.entries.length, 50);
  });

  it('a witness that names yet another size at every 409 is followed twice, then the push stops in one line', async () => {
    // Guards: a hostile witness walking the client down one size per request (a request and a proof each time, at
    // every push, up to the log's size).
    const { dir, server } = await setup(40);
    for (let held = 39; held > 30; held--) server.faults.push({ fault: { status: 409, type: TLOG_SIZE_CONTENT_TYPE, body: formatTlogSize(held) }, when: (m, p) => p === '/add-checkpoint' });
    await assert.rejects(push(dir, fast), (e: unknown) => e instanceof FfauditError && e.code === 'IO' && e.message === "the server's witness answered 409 again, naming 37 entries after 0, 39, 38: not followed further (push again)");
    assert.deepEqual(paths(server), ['POST /add-checkpoint 409', 'POST /add-checkpoint 409', 'POST /add-checkpoint 409']);
  });

  it("follows the mirror's 202 (a package at a time) and 409 (its next entry and ticket)", async () => {
    const { dir, server } = await setup(600);
    server.packagesPerRequest = 1;
    server.faults.push({ fault: { status: 409, type: MIRROR_INFO_CONTENT_TYPE, body: formatMirrorInfo({ size: 600, next: 0, ticket: Buffer.from('t1') }) }, when: (m, p) => p === '/add-entries' });
    const r = await push(dir, fast);
    assert.deepEqual(paths(server), ['POST /add-checkpoint 200', 'POST /add-entries 409', 'POST /add-entries 202', 'POST /add-entries 202', 'POST /add-entries 200']);
    assert.equal(r.entries, 600);
    const ticketOf = (i: number) => {
      const b = server.requests[i]!.body;
      const o = b.readUInt16BE(0);
      return b.subarray(2 + o + 18, 2 + o + 18 + b.readUInt16BE(2 + o + 16)).toString();
    };
    assert.equal(ticketOf(2), 't1', 'the ticket of a 409 goes back');
    assert.equal(ticketOf(3), 'ticket-600', 'and that of a 202');
    assert.deepEqual(r.cosigned, { witness: 600, mirror: 600 });
  });

  it('retries with exponential backoff while the server is away (5xx, a dropped connection), then goes on', async () => {
    const { dir, server } = await setup(20);
    for (const fault of [{ status: 503 }, 'drop' as const, { status: 502 }]) server.faults.push({ fault });
    const r = await push(dir, { retryBaseMs: 40, retryMaxMs: 1000 });
    assert.deepEqual(r.cosigned, { witness: 20, mirror: 20 });
    const times = server.requests.slice(0, 4).map((q) => q.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps[0]! >= 38 && gaps[1]! >= 78 && gaps[2]! >= 158, `waits double: ${gaps.join(', ')} ms`);
  });

  it('gives up after its retries with one line; nothing is lost: the next push sends it all', async () => {
    const { dir, server } = await setup(30, 6);
    for (let i = 0; i < 3; i++) server.faults.push({ fault: { status: 503 } });
    await assert.rejects(push(dir, { retries: 2, ...fast }), (e: unknown) => e instanceof FfauditError && e.code === 'IO' && /^the server http:\/\/127\.0\.0\.1:\d+ is away \(POST \/add-checkpoint: it answered 503 \(injected\)\); nothing is lost/.test(e.message));
    const r = await push(dir, fast);
    assert.deepEqual(r.cosigned, { witness: 30, mirror: 30 });
    expectBlobs(dir, server);
  });

  it('a push cut between the entries and their blobs: the next one still sends every blob', async () => {
    const { dir, server } = await setup(600, 50);
    server.packagesPerRequest = 1;
    // The blobs of the first package go; then the server stops taking blobs (the push fails), then comes back.
    for (let i = 0; i < 3; i++) server.faults.push({ fault: 'drop', when: (m, p) => m === 'PUT' && p.startsWith('/blobs/') && server.log()!.entries.length > 256 });
    await assert.rejects(push(dir, { retries: 2, ...fast }), (e: unknown) => e instanceof FfauditError && e.code === 'IO');
    assert.ok(server.log()!.entries.length >= 512, 'the mirror holds entries whose blobs never came');
    await push(dir, fast);
    expectBlobs(dir, server);
    assert.deepEqual(cosignedSizes(dir), { witness: 600, mirror: 600 });
  });

  it('a 404 (host disabled) stops at once, one line, nothing more sent or retried', async () => {
    const { dir, server } = await setup(10);
    server.disabled = true;
    const r = await push(dir, fast);
    assert.match(r.stopped!, /does not know this log \(404: its host was disabled, or never joined\): nothing more was sent/);
    assert.deepEqual(paths(server), ['POST /add-checkpoint 404']);
    const cli = await runCliInProcess(['--ledger', dir, 'push']);
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /^ffaudit: the server http:\/\/127\.0\.0\.1:\d+ does not know this log \(404/);
    assert.equal(cli.stderr.split('\n').length, 2);
  });

  it('refuses to go on when the server has seen another history: a fork at the same size, or more entries (rollback)', async () => {
    const { dir, server, origin } = await setup(10);
    // The server's witness cosigned another history of 10 entries signed with the same key.
    const forkDir = join(tmp.dir, `fork${counter++}`);
    const f = Ledger.init(forkDir, { origin, keyPath: join(dir, 'signing.key') });
    for (let i = 0; i < 10; i++) f.append([note(`forged ${i}`)]);
    f.close();
    joinServer(forkDir, server.keys);
    await push(forkDir, fast);
    await assert.rejects(push(dir, fast), (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && /holds another checkpoint of 10 entries of this log than the ledger's: the log was forked/.test(e.message));
    // A copy of the ledger from before its last 5 entries, pushed after the server saw all of them.
    const { dir: d2, server: s2 } = await setup(5);
    const older = join(tmp.dir, `older${counter++}`);
    cpSync(d2, older, { recursive: true });
    append(d2, 5);
    await push(d2, fast);
    await assert.rejects(push(older, fast), (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && /already cosigned 10 entries of this log, but the ledger holds 5/.test(e.message));
    assert.ok(s2.requests.length > 0);
  });

  it('verify --trusted URL then checks the ledger against what the witness cosigned', async () => {
    const { dir, server } = await setup(12);
    await push(dir, fast);
    const r = await runCliInProcess(['--ledger', dir, 'verify', '--trusted', server.url]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /extends the checkpoint at size 12 of the team server/);
  });
});

describe('push --to FILE', () => {
  it('writes what a push would send; replayed into a server, it leaves the same state', async () => {
    const { dir } = await setup(700, 100);
    const file = join(tmp.dir, `push${counter++}.bin`);
    const r = await runCliInProcess(['--ledger', dir, 'push', '--to', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^wrote .*: the checkpoint at size 700 \(from 0\), 700 entries in 1 add-entries record, 7 blobs, [\d.]+ KiB\n$/);
    const records = parsePushFile(readFileSync(file));
    assert.deepEqual(records.map((x) => x.type), [PUSH_RECORD.addCheckpoint, PUSH_RECORD.addEntries, ...Array<number>(7).fill(PUSH_RECORD.blob)]);
    // Replayed as HTTP requests into another server that knows this log: every record is taken.
    const other = await startTlogServer();
    servers.push(other);
    const l = Ledger.open({ dir, explicit: true });
    other.enrol(l.origin, l.vkey);
    l.close();
    for (const rec of records) {
      if (rec.type === PUSH_RECORD.blob) {
        const b = parseBlobRecord(rec.body);
        assert.equal(sha256Hex(b.data), b.blobSha256.toString('hex'));
        const res = await fetch(`${other.url}/blobs/${b.originSha256.toString('hex')}/${b.blobSha256.toString('hex')}`, { method: 'PUT', body: b.data });
        assert.equal(res.status, 201);
      } else {
        const res = await fetch(`${other.url}/${rec.type === PUSH_RECORD.addCheckpoint ? 'add-checkpoint' : 'add-entries'}`, { method: 'POST', body: rec.body });
        assert.equal(res.status, 200, await res.text());
      }
    }
    assert.equal(other.log()!.entries.length, 700);
    expectBlobs(dir, other);
    // --since: only what the server does not hold yet.
    append(dir, 20);
    const since = await runCliInProcess(['--ledger', dir, 'push', '--to', file, '--since', '700', '--json']);
    assert.deepEqual(JSON.parse(since.stdout), { file, old_size: 700, size: 720, entries: 20, requests: 1, blobs: 0, bytes: readFileSync(file).length });
    const bad = await runCliInProcess(['--ledger', dir, 'push', '--since', '3']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--since applies to --to FILE only/);
  });
});
