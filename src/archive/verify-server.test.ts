/**
 * `verify --trusted https://SERVER`: the latest checkpoint the team server's witness cosigned for this log (GET
 * <SERVER>/witness/<hex SHA-256 of the origin>/checkpoint), checked against the witness key of the ledger's config,
 * then used as a trusted checkpoint. The server here is a few lines of node:http serving what a test gives it; the
 * real server is tested end to end elsewhere.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addSignatureLines, makeCosigner } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { runCliInProcess } from '../testing/cli.js';
import { cosign, joinServer, serverKeys, type TestServerKeys } from '../testing/cosigners.js';
import { isOneErrorLine, tempDir } from '../testing/fixtures.js';

const tmp = tempDir('verify-server');
after(tmp.cleanup);
const ORIGIN = 'example.org/witnessed';
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });

/** What the fake server answers, and the paths it was asked for. */
let answer: { status: number; body: string | Buffer } = { status: 404, body: 'unknown log\n' };
const asked: string[] = [];
let server: Server;
let url = '';
let keys: TestServerKeys;
let dir = '';
const checkpoints: string[] = [];
let counter = 0;

before(async () => {
  server = createServer((req, res) => {
    asked.push(req.url ?? '');
    res.writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  keys = serverKeys('audit.example', url);
  const l = Ledger.init(join(tmp.dir, 'ledger'), { origin: ORIGIN });
  joinServer(l.dir, keys);
  for (let i = 0; i < 10; i++) checkpoints.push(l.append([note(`entry ${i}`)]).checkpoint);
  dir = l.dir;
  l.close();
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const witnessed = (cp: string, ...lines: string[]) => addSignatureLines(cp, lines.length > 0 ? lines : [cosign(keys.witness, cp)]);
const verify = (args: string[] = [], ledger = dir) => runCliInProcess(['--ledger', ledger, 'verify', '--trusted', url, ...args]);

describe('verify --trusted https://SERVER', () => {
  it("asks the witness's monitoring path for this origin, and checks the log against what it cosigned", async () => {
    // Guards: the wrong path (the origin hash not hex SHA-256 of the origin), or the answer taken without being used.
    answer = { status: 200, body: witnessed(checkpoints[7]!) };
    asked.length = 0;
    const r = await verify();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(asked, [`/witness/${createHash('sha256').update(ORIGIN).digest('hex')}/checkpoint`]);
    assert.match(r.stdout, /and extension of the checkpoint at size 8 of the team server http:\/\/127\.0\.0\.1:\d+ \(cosigned by its witness audit\.example\/witness\)/);
    assert.match(r.stdout, /INTACT: all 10 entries are exactly as signed, and the log extends the checkpoint at size 8 of the team server/);
    // A URL with a path prefix and a trailing slash: the path is appended to it.
    asked.length = 0;
    const prefixed = await runCliInProcess(['--ledger', dir, 'verify', '--trusted', `${url}/team/`]);
    assert.equal(prefixed.status, 0, prefixed.stderr);
    assert.match(asked[0]!, /^\/team\/witness\/[0-9a-f]{64}\/checkpoint$/);
  });

  it('finds a rollback: the server cosigned more than the log now holds', async () => {
    // The server saw the log grow to 12; this copy is the ledger as it was at 10 (restored from a backup, say).
    const copyDir = join(tmp.dir, `newer${counter++}`);
    cpSync(dir, copyDir, { recursive: true });
    const l = Ledger.open({ dir: copyDir, explicit: true });
    l.append([note('eleven'), note('twelve')]);
    answer = { status: 200, body: witnessed(l.checkpoint()) };
    l.close();
    const r = await verify(['--json']);
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { problems: { kind: string; size: number }[] };
    assert.deepEqual(out.problems.map((p) => [p.kind, p.size]), [['rollback', 12]]);
  });

  it('finds a fork: the server cosigned another history signed with the same key', async () => {
    const forked = Ledger.init(join(tmp.dir, `fork${counter++}`), { origin: ORIGIN, keyPath: join(dir, 'signing.key') });
    for (let i = 0; i < 10; i++) forked.append([note(`forged ${i}`)]);
    answer = { status: 200, body: witnessed(forked.checkpoint()) };
    forked.close();
    const r = await verify(['--json']);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { problems: { kind: string }[] }).problems.map((p) => p.kind), ['fork']);
  });

  it('refuses a checkpoint without a valid cosignature of the configured witness key (exit 2, one line)', async () => {
    const cp = checkpoints[9]!;
    const impostor = makeCosigner(keys.witness.name, Buffer.alloc(32, 9));
    for (const body of [cp, witnessed(cp, cosign(impostor, cp)), witnessed(cp, cosign(keys.mirror, cp))]) {
      answer = { status: 200, body };
      const r = await verify();
      assert.equal(r.status, 2, r.stdout);
      assert.ok(isOneErrorLine(r.stderr), r.stderr);
      assert.match(r.stderr, /carries no valid cosignature by its witness key audit\.example\/witness \(from the ledger's config\): refused/);
    }
  });

  it('could not run: no server joined, unknown log (404), a server error, an oversized or malformed answer, nobody listening', async () => {
    const lone = Ledger.init(join(tmp.dir, `lone${counter++}`), { origin: 'example.org/lone' });
    lone.append([note('x')]);
    lone.close();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const nobody = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    answer = { status: 200, body: witnessed(checkpoints[9]!) };
    const cases: [() => Promise<{ status: number | null; stderr: string }>, RegExp][] = [
      [() => verify([], lone.dir), /has joined no server, so the witness key to check .* is unknown: run ffaudit join URL first/],
      [async () => ((answer = { status: 404, body: 'unknown log\n' }), verify()), /has cosigned no checkpoint of this log \(404\)/],
      [async () => ((answer = { status: 503, body: 'busy\n' }), verify()), /answered 503/],
      [async () => ((answer = { status: 200, body: Buffer.alloc(200_000, 0x41) }), verify()), /sent more than 65536 bytes/],
      [async () => ((answer = { status: 200, body: 'no checkpoint here\n' }), verify()), /is not usable/],
      [() => runCliInProcess(['--ledger', dir, 'verify', '--trusted', nobody]), /cannot reach the server http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/],
    ];
    for (const [run, message] of cases) {
      const r = await run();
      assert.equal(r.status, 2, String(message));
      assert.ok(isOneErrorLine(r.stderr), r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
