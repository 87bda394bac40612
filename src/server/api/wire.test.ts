// The read API on the wire: requests written byte by byte on a raw socket (RFC 9110/9112 as the standard says, not
// only as our own client sends them), a streamed export under backpressure, an export cut short as a client sees
// it, /healthz with the database gone, the CLI's `serve tokens`, and CSV cells.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { RunRecord } from '../../core/run.js';
import { OpenApiChecker } from '../../testing/openapi-check.js';
import { apiWorld, RUNS, type ApiWorld } from '../../testing/api-fixture.js';
import { runCliInProcess } from '../../testing/cli.js';
import { createDatabase, testPostgres } from '../../testing/pg-server.js';
import { createApp } from '../app.js';
import { migrate, openDb } from '../db/pool.js';
import { initServerKeys, loadServerKeys } from '../keys.js';
import { csvCell, exportStream, type ExportItem } from './export.js';
import { OPENAPI } from './openapi.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
const adminUrl = () => (pgc as { url: string }).url;
const checker = new OpenApiChecker(OPENAPI);

function listen(fetch: (req: Request) => Response | Promise<Response>): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
      resolve({ port: info.port, close: () => new Promise<void>((r) => server.close(() => r())) });
    }) as Server;
  });
}

interface Raw {
  status: number;
  statusLine: string;
  headers: Map<string, string>;
  body: Buffer;
  /** For a chunked body: whether the final zero-length chunk arrived (RFC 9112 §7.1). */
  complete: boolean;
}

/** Parses an HTTP/1.1 response from bytes (RFC 9112 §4, §6, §7.1), by hand. */
function parseResponse(bytes: Buffer): Raw {
  const end = bytes.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no end of headers in ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`);
  const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
  assert.ok(m, statusLine);
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(':');
    headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  let rest = bytes.subarray(end + 4);
  if (headers.get('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) return { status: Number(m[1]), statusLine: statusLine!, headers, body: Buffer.concat(parts), complete: false };
      const size = parseInt(rest.subarray(0, nl).toString('latin1'), 16);
      if (size === 0) return { status: Number(m[1]), statusLine: statusLine!, headers, body: Buffer.concat(parts), complete: rest.subarray(nl).toString('latin1').startsWith('\r\n\r\n') };
      if (rest.length < nl + 2 + size + 2) return { status: Number(m[1]), statusLine: statusLine!, headers, body: Buffer.concat(parts), complete: false };
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
  }
  const len = Number(headers.get('content-length'));
  return { status: Number(m[1]), statusLine: statusLine!, headers, body: rest.subarray(0, len), complete: rest.length === len };
}

/** Sends `request` exactly as given and reads until the server closes the connection. */
function rawExchange(port: number, request: string): Promise<{ raw: Raw; error: Error | null }> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let error: Error | null = null;
    s.on('data', (d) => got.push(d));
    s.on('error', (e) => (error = e));
    s.on('close', () => resolve({ raw: parseResponse(Buffer.concat(got)), error }));
    s.write(Buffer.from(request, 'latin1'));
  });
}

function checkRaw(method: string, path: string, raw: Raw): void {
  checker.check(method, path, { status: raw.status, headers: new Headers([...raw.headers]), body: raw.body.toString('utf8') });
}

describe('the API on a raw socket', { skip }, () => {
  let w: ApiWorld;
  let srv: { port: number; close: () => Promise<void> };
  before(async () => {
    w = await apiWorld(adminUrl());
    srv = await listen(w.app.fetch);
  });
  after(async () => {
    await srv?.close();
    await w?.close();
  });

  it('requests written by hand: /healthz, 401 with its challenge, a token with lower-case header and scheme', async () => {
    const h = await rawExchange(srv.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    assert.equal(h.raw.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(h.raw.headers.get('cache-control'), 'no-store');
    assert.equal(h.raw.body.toString(), '{"ok":true,"schema":6}');
    checkRaw('GET', '/healthz', h.raw);

    const n = await rawExchange(srv.port, 'GET /api/v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    assert.equal(n.raw.status, 401);
    assert.equal(n.raw.headers.get('www-authenticate'), 'Bearer realm="ffaudit"');
    checkRaw('GET', '/api/v1/tokens', n.raw);

    // RFC 9110 §5.1: field names are case-insensitive; §11.1: so is the auth scheme.
    const ok = await rawExchange(srv.port, `GET /api/v1/runs/${RUNS.r2.id}?log=render-7.test%2Fffaudit HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: bearer ${w.tokens.viewer}\r\nconnection: close\r\n\r\n`);
    assert.equal(ok.raw.status, 200);
    assert.equal(ok.raw.headers.get('content-type'), 'application/json');
    assert.equal((JSON.parse(ok.raw.body.toString()) as { id: string }).id, RUNS.r2.id);
    checkRaw('GET', `/api/v1/runs/${RUNS.r2.id}`, ok.raw);

    // A POST written by hand, with its body and Content-Length.
    const body = '{"name":"by hand","role":"viewer"}';
    const made = await rawExchange(
      srv.port,
      `POST /api/v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${w.tokens.admin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.equal(made.raw.status, 201);
    checkRaw('POST', '/api/v1/tokens', made.raw);
  });

  it('an export streams as a chunked body that ends with its last chunk; one cut short by an unreadable entry does not', async () => {
    const ok = await rawExchange(srv.port, `GET /api/v1/export?format=csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.tokens.auditor}\r\nConnection: close\r\n\r\n`);
    assert.equal(ok.raw.status, 200);
    assert.equal(ok.raw.headers.get('transfer-encoding'), 'chunked');
    assert.equal(ok.raw.complete, true);
    assert.equal(ok.raw.body.toString().split('\r\n').length, 6, 'header, four runs, final CRLF');
    checkRaw('GET', '/api/v1/export', ok.raw);

    const tamper = (from: string, to: string) =>
      w.db.pool.query(`UPDATE mirror_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), '${from}', '${to}'), 'UTF8') WHERE host_id = (SELECT id FROM hosts WHERE name = 'render-7') AND idx = 0`);
    await tamper('/work', '/wörk');
    const cut = await rawExchange(srv.port, `GET /api/v1/export?format=csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.tokens.auditor}\r\nConnection: close\r\n\r\n`);
    assert.equal(cut.raw.status, 200);
    assert.equal(cut.raw.complete, false, 'no final chunk: the transfer is incomplete');
    const rows = cut.raw.body.toString().split('\r\n');
    assert.equal(rows.length, 4, 'the header, run r1, the #ERROR row, the CRLF ending it');
    assert.match(rows[1]!, new RegExp(`^ws-1\\.test/ffaudit,run,0,${RUNS.r1.id},`));
    assert.match(rows[2]!, /^#ERROR,export aborted after 1 runs: entry 0 of render-7\.test\/ffaudit could not be read back as recorded: entry 0 does not hash to its stored leaf$/);
    // The first match unreadable: nothing has been sent yet, so the answer is an error status of its own.
    const first = await rawExchange(srv.port, `GET /api/v1/export?format=ecs&host=render-7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.tokens.auditor}\r\nConnection: close\r\n\r\n`);
    assert.equal(first.raw.status, 422);
    assert.match(first.raw.body.toString(), /^export refused: entry 0 of render-7\.test\/ffaudit could not be read back as recorded: entry 0 does not hash to its stored leaf\n$/);
    checkRaw('GET', '/api/v1/export', first.raw);
    await tamper('/wörk', '/work');
  });
});

function fakeRun(i: number): RunRecord & { log: string } {
  return {
    id: i.toString(16).padStart(32, '0'),
    tool: 'ffmpeg',
    entries: [2 * i, 2 * i + 1],
    status: 'ok',
    user: 'u',
    uid: 1,
    host: 'h',
    asserted_actor: null,
    reason: null,
    cwd: '/',
    argv: ['-i', `/in/${i}.mov`, `/out/${i}.mp4`],
    started_at: '2026-12-01T00:00:00.000000000Z',
    ended_at: '2026-12-01T00:00:01.000000000Z',
    duration_ms: 1000,
    exit_code: 0,
    signal: null,
    inputs: [{ path: `/in/${i}.mov`, size: 1, sha256: null }],
    outputs: [{ path: `/out/${i}.mp4`, size: 1, sha256: null }],
    streams: [],
    ffmpeg: { path: '/usr/bin/ffmpeg', version: null, sha256: null },
    report_sha256: null,
    log: 'bulk.test/log',
  };
}

describe('export backpressure', () => {
  it('200,000 runs: the stream is pulled only as fast as the client reads, memory stays flat, every run arrives', async () => {
    const N = 200_000;
    let produced = 0;
    async function* runs(): AsyncGenerator<ExportItem> {
      for (let i = 0; i < N; i++) {
        // As a database stream would: a pause between batches.
        if (i % 500 === 0) await Promise.resolve();
        produced++;
        yield fakeRun(i);
      }
    }
    const app = new Hono();
    app.get('/export', async (c) => c.body(await exportStream(runs(), { format: 'ecs', type: 'run' }, () => undefined), 200, { 'Content-Type': 'application/x-ndjson' }));
    const srv = await listen(app.fetch);
    try {
      const s = connect(srv.port, '127.0.0.1');
      s.write('GET /export HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let bytes = 0;
      let newlines = 0;
      let tail = Buffer.alloc(0);
      const done = new Promise<void>((r) => s.on('close', () => r()));
      s.on('data', (d: Buffer) => {
        bytes += d.length;
        for (const b of d) if (b === 0x0a) newlines++;
        tail = Buffer.concat([tail, d]).subarray(-16);
      });
      // The client stops reading once the first bytes are in.
      await new Promise<void>((r) => s.once('data', () => r()));
      s.pause();
      await new Promise((r) => setTimeout(r, 500));
      const whilePaused = produced;
      // Each document is about 1.4 KB: only what the socket buffers hold (a few MB at most) may be made ahead.
      assert.ok(whilePaused < 10_000, `the stream ran ahead of a paused client: ${whilePaused} of ${N} runs made`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(produced, whilePaused, 'nothing more is made while the client does not read');
      // Reading again, the server never holds more than a bounded number of runs made but not yet received: what
      // flat memory means here (a heap figure would mostly measure when the garbage collector ran).
      let maxAhead = 0;
      s.on('data', () => (maxAhead = Math.max(maxAhead, produced - newlines)));
      s.resume();
      await done;
      assert.ok(maxAhead < 10_000, `at most ${maxAhead} runs were ahead of the client`);
      assert.equal(produced, N);
      // One line per run, plus the chunk-size lines of the chunked encoding, which hold no newline of a document:
      // count the documents by their line ends instead.
      assert.ok(newlines >= N, `${newlines} newlines for ${N} runs`);
      assert.ok(tail.toString('latin1').endsWith('0\r\n\r\n'), 'the body ended with its last chunk');
      assert.ok(bytes > N * 1000, `${bytes} bytes`);
    } finally {
      await srv.close();
    }
  });

  it('the first item is read before the answer: a failing search is the request\'s own error', async () => {
    // eslint-disable-next-line require-yield
    async function* failing(): AsyncGenerator<ExportItem> {
      await Promise.resolve();
      throw Object.assign(new Error('the database is away'), { code: '57P01' });
    }
    await assert.rejects(exportStream(failing(), { format: 'csv', type: 'run' }, () => undefined), { code: '57P01' });
  });
});

describe('CSV cells', () => {
  it('RFC 4180 quoting, and every cell that a spreadsheet would read as a formula prefixed with a single quote', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(0), '0');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('two\nlines'), '"two\nlines"');
    assert.equal(csvCell('=1+1'), "'=1+1");
    assert.equal(csvCell('+1'), "'+1");
    assert.equal(csvCell('-1'), "'-1");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('\t=1'), "'\t=1");
    assert.equal(csvCell('\r=1'), `"'\r=1"`);
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell('a=1'), 'a=1', 'only the first character makes a formula');
  });
});

describe('the database away, and serve tokens', { skip }, () => {
  it('/healthz answers 503 when the database is gone, and an API route 503 in one line', async () => {
    const url = await createDatabase(adminUrl(), 'gone');
    const db = await openDb(url);
    await migrate(db);
    const keysDir = mkdtempSync(join(tmpdir(), 'ffaudit-keys-'));
    initServerKeys(keysDir, 'audit.test');
    const app = createApp({ db, keys: loadServerKeys(keysDir), log: () => undefined });
    try {
      assert.equal((await app.request('/healthz')).status, 200);
      const admin = await openDb(adminUrl());
      try {
        await admin.pool.query(`DROP DATABASE ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
      } finally {
        await admin.close();
      }
      const h = await app.request('/healthz');
      const body = await h.text();
      assert.equal(h.status, 503);
      assert.deepEqual(JSON.parse(body), { ok: false, schema: null, reason: 'the database does not answer' });
      checker.check('GET', '/healthz', { status: 503, headers: h.headers, body });
      const r = await app.request('/api/v1/runs', { headers: { authorization: `Bearer ffaudit-api-${'A'.repeat(43)}` } });
      const text = await r.text();
      assert.equal(r.status, 503);
      assert.equal(text, 'the server cannot reach its database; try again\n');
      checker.check('GET', '/api/v1/runs', { status: 503, headers: r.headers, body: text });
    } finally {
      await db.close().catch(() => undefined);
      rmSync(keysDir, { recursive: true, force: true });
    }
  });

  it('serve tokens add prints the token alone on stdout; list never shows it; revoke; a bad role is a usage error', async () => {
    const url = await createDatabase(adminUrl(), 'tok');
    const add = await runCliInProcess(['serve', 'tokens', 'add', '--role', 'auditor', '--name', 'nightly export', '--db', url]);
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /^ffaudit-api-[A-Za-z0-9_-]{43}\n$/);
    assert.equal(add.stderr, 'API token 1 (auditor) for "nightly export": shown this once; send it as Authorization: Bearer …\n');
    const token = add.stdout.trim();
    const list = await runCliInProcess(['serve', 'tokens', 'list', '--db', url]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^1 {2}nightly export {2}auditor {2}created \S+ {2}last used never\n$/);
    assert.ok(!list.stdout.includes(token));
    const db = await openDb(url);
    try {
      const { rows } = await db.pool.query<{ token_hash: Buffer }>('SELECT token_hash FROM api_tokens');
      assert.equal(rows[0]!.token_hash.toString('hex'), createHash('sha256').update(token).digest('hex'), 'stored as its SHA-256 only');
    } finally {
      await db.close();
    }
    const rev = await runCliInProcess(['serve', 'tokens', 'revoke', '1', '--db', url]);
    assert.equal(rev.status, 0, rev.stderr);
    assert.match(rev.stdout, /^API token 1 \(nightly export\) revoked at \S+\n$/);
    const json = await runCliInProcess(['serve', 'tokens', 'list', '--json', '--db', url]);
    const row = JSON.parse(json.stdout) as { id: number; revoked_at: string | null };
    assert.equal(row.id, 1);
    assert.notEqual(row.revoked_at, null);
    const bad = await runCliInProcess(['serve', 'tokens', 'add', '--role', 'root', '--name', 'x', '--db', url]);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'ffaudit: --role: one of viewer, auditor, admin\n');
    const missing = await runCliInProcess(['serve', 'tokens', 'revoke', '7', '--db', url]);
    assert.equal(missing.status, 2);
    assert.equal(missing.stderr, 'ffaudit: no API token with id 7\n');
  });
});
