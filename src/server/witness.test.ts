// The witness (c2sp.org/tlog-witness) on a real PostgreSQL, with real ledgers as hosts: requests written byte by
// byte from the specification's text, every status it names, cosignatures checked with our code and independently,
// evidence (equivocation, unproven) kept, the restored-database hold, and real `ffaudit serve` processes on one
// database (hammered at once, one killed with SIGKILL, one stopped with SIGTERM).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { signCheckpoint, parseSignedCheckpoint } from '../core/checkpoint.js';
import { cosignedMessage, parseCosignerVkey, verifiedCosignatures } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { parseTlogSize } from '../core/witness-protocol.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { CLI, cleanEnv, independentlyOpenCheckpoint, prng, tempDir } from '../testing/fixtures.js';
import { runCliInProcess } from '../testing/cli.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { createApp } from './app.js';
import { migrate, openDb, type Db } from './db/pool.js';
import { addHost, disableHost, enableHost, originHash, resetHost } from './hosts.js';
import { initServerKeys, loadServerKeys, serverVkeys, type ServerKeys } from './keys.js';
import { checkPublished, publishedPath } from './published.js';
import { startServer } from './serve.js';
import { MAX_CONFLICTS_PER_HOST } from './conflicts.js';
import { pushLedger } from '../push/client.js';
import { joinServer } from '../push/join.js';
import { mlDsa44, verifyMlDsa44 } from '../pq/ml-dsa44.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let admin = '';
const tmp = tempDir('witness');
before(() => {
  if ('url' in pgc) admin = pgc.url;
});
after(tmp.cleanup);

let counter = 0;
const fresh = (name: string) => join(tmp.dir, `${name}-${counter++}`);

// ---- hosts: real ledgers, several origins and keys; a fork shares a prefix and the key of the log it forks ----

const BY = currentAuthor();
const TIME = nowRfc3339();
const noteEntry = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: TIME, by: BY, text, files: [] });

interface HostLog {
  ledger: Ledger;
  origin: string;
  vkey: string;
  size: number;
  /** The checkpoint of the first `size` entries, signed with the ledger's key (as the ledger signs its heads). */
  checkpoint(size: number): string;
  /** RFC 6962 §2.1.2 consistency proof from the ledger's stored tree. */
  proof(oldSize: number, size: number): Buffer[];
  root(size: number): Buffer;
}

/** A ledger of `n` notes; with `fork`, the same key as `fork.of`, the same first `fork.shared` entries, then others. */
function makeLog(origin: string, n: number, fork?: { of: HostLog; shared: number }): HostLog {
  const dir = fresh('ledger');
  const ledger = Ledger.init(dir, fork ? { origin, keyPath: join(fork.of.ledger.dir, 'signing.key') } : { origin });
  const entries = Array.from({ length: n }, (_, i) => noteEntry(fork && i >= fork.shared ? `forked entry ${i}` : `entry ${i}`));
  ledger.append(entries);
  return {
    ledger,
    origin,
    vkey: ledger.vkey,
    size: n,
    checkpoint: (size) => signCheckpoint({ origin, size, root: ledger.storedRoot(size), extensions: [] }, ledger.signer()),
    proof: (oldSize, size) => ledger.consistency(oldSize, size),
    root: (size) => ledger.storedRoot(size),
  };
}

/** tlog-witness §add-checkpoint, spelled out: "old" SP size LF, one base64 hash per line, an empty line, the checkpoint. */
function addCheckpointBody(oldSize: number, proof: readonly Buffer[], checkpoint: string): Buffer {
  let text = 'old ' + String(oldSize) + '\n';
  for (const h of proof) text += h.toString('base64') + '\n';
  text += '\n';
  return Buffer.from(text + checkpoint, 'utf8');
}

/**
 * Checks one cosignature line from c2sp.org/tlog-cosignature with node:crypto alone: the key ID is
 * SHA-256(name ‖ LF ‖ 0x04 ‖ key)[:4], the signature is u64 timestamp ‖ Ed25519 over
 * "cosignature/v1\ntime T\n" ‖ checkpoint text. Returns the timestamp.
 */
function independentCosignature(line: string, checkpointText: string, vkey: string): number {
  const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)\n$/.exec(line);
  assert.ok(m, `not one signature line: ${JSON.stringify(line)}`);
  const [, name, b64] = m as unknown as [string, string, string];
  const [, vname, idHex, keyB64] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey) as unknown as [string, string, string, string];
  assert.equal(name, vname);
  const typed = Buffer.from(keyB64, 'base64');
  assert.equal(typed[0], 0x04, 'a cosigner vkey has type 0x04');
  const pub = typed.subarray(1);
  const keyId = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x04]), pub])).digest().subarray(0, 4);
  assert.equal(keyId.toString('hex'), idHex);
  const sig = Buffer.from(b64, 'base64');
  assert.equal(sig.length, 4 + 8 + 64);
  assert.ok(sig.subarray(0, 4).equals(keyId));
  const ts = sig.readBigUInt64BE(4);
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
  assert.ok(cryptoVerify(null, Buffer.from(`cosignature/v1\ntime ${ts}\n${checkpointText}`, 'utf8'), spki, sig.subarray(12)), 'the cosignature verifies');
  return Number(ts);
}

/**
 * The same for an ML-DSA-44 line (tlog-cosignature §ML-DSA-44 signed message): the key ID with type 0x06, u64
 * timestamp ‖ 2420-byte signature, over the cosigned_message struct written out here field by field. Returns the
 * timestamp.
 */
function independentMlDsaCosignature(line: string, checkpointText: string, vkey: string): number {
  const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)\n$/.exec(line);
  assert.ok(m, `not one signature line: ${JSON.stringify(line.slice(0, 80))}`);
  const [, name, b64] = m as unknown as [string, string, string];
  const [, vname, idHex, keyB64] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey) as unknown as [string, string, string, string];
  assert.equal(name, vname);
  const typed = Buffer.from(keyB64, 'base64');
  assert.equal(typed[0], 0x06, 'an ML-DSA-44 cosigner vkey has type 0x06');
  const pub = typed.subarray(1);
  assert.equal(pub.length, 1312);
  const keyId = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x06]), pub])).digest().subarray(0, 4);
  assert.equal(keyId.toString('hex'), idHex);
  const sig = Buffer.from(b64, 'base64');
  assert.equal(sig.length, 4 + 8 + 2420);
  assert.ok(sig.subarray(0, 4).equals(keyId));
  const ts = sig.readBigUInt64BE(4);
  const [origin, size, root] = checkpointText.split('\n') as [string, string, string];
  const u64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    return b;
  };
  const message = Buffer.concat([
    Buffer.from('subtree/v1\n\0', 'latin1'),
    Buffer.from([Buffer.byteLength(name)]),
    Buffer.from(name),
    u64(ts),
    Buffer.from([Buffer.byteLength(origin)]),
    Buffer.from(origin),
    u64(0n),
    u64(BigInt(size)),
    Buffer.from(root, 'base64'),
  ]);
  assert.deepEqual(message, cosignedMessage({ cosigner: name, timestamp: ts, origin, start: 0n, end: BigInt(size), hash: Buffer.from(root, 'base64') }));
  assert.ok(verifyMlDsa44(pub, message, sig.subarray(12)), 'the ML-DSA-44 cosignature verifies');
  return Number(ts);
}

/** A witness's 200 body: two lines of its one name, Ed25519 then ML-DSA-44, both checked independently, at one time. */
function independentCosignatures(body: string, checkpointText: string, v: { witnessVkey: string; witnessMlDsaVkey: string }): number {
  const lines = body.split(/(?<=\n)/);
  assert.equal(lines.length, 2, `two lines: ${JSON.stringify(body.slice(0, 100))}`);
  const ts = independentCosignature(lines[0]!, checkpointText, v.witnessVkey);
  assert.equal(independentMlDsaCosignature(lines[1]!, checkpointText, v.witnessMlDsaVkey), ts);
  return ts;
}

const textOf = (note: string) => parseSignedCheckpoint(note).parsed.text;
const hashHex = (origin: string) => originHash(origin).toString('hex');

// ---- the server side ----

interface Server {
  db: Db;
  url: string;
  keysDir: string;
  keys: ServerKeys;
  witnessVkey: string;
  witnessMlDsaVkey: string;
  log: string[];
}

async function freshServer(): Promise<Server> {
  const url = await createDatabase(admin, 'w');
  const db = await openDb(url);
  await migrate(db);
  const keysDir = fresh('keys');
  initServerKeys(keysDir, 'witness.test.example');
  const keys = loadServerKeys(keysDir);
  const v = serverVkeys(keys);
  return { db, url, keysDir, keys, witnessVkey: v.witness, witnessMlDsaVkey: v.witnessMlDsa44!, log: [] };
}

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z

function appFor(s: Server, published?: string) {
  return createApp({ db: s.db, keys: s.keys, log: (l) => s.log.push(l), now: () => NOW, published });
}

/** hosts add, then POST /join with the ledger's origin and vkey, as `ffaudit join` does. */
async function enrol(s: Server, name: string, h: HostLog): Promise<void> {
  const { token } = await addHost(s.db, name);
  const r = await appFor(s).request('/join', { method: 'POST', body: JSON.stringify({ token, origin: h.origin, vkey: h.vkey }) });
  assert.equal(r.status, 200, await r.text());
}

type App = ReturnType<typeof appFor>;
const post = (app: App, body: Buffer) => app.request('/add-checkpoint', { method: 'POST', body });

async function expectLine(r: Response, status: number, pattern?: RegExp): Promise<string> {
  const text = await r.text();
  assert.equal(r.status, status, text);
  assert.match(text, /^[^\n]+\n$/, 'one line');
  if (pattern) assert.match(text, pattern);
  return text;
}

async function expectSize(r: Response, size: number): Promise<void> {
  const text = await r.text();
  assert.equal(r.status, 409, text);
  assert.equal(r.headers.get('content-type'), 'text/x.tlog.size');
  assert.equal(text, `${size}\n`);
}

/**
 * A 200: the witness's two cosignature lines (Ed25519, then ML-DSA-44), checked with our verifiers and independently;
 * returns the Ed25519 line.
 */
async function expectCosigned(r: Response, s: Server, checkpoint: string): Promise<string> {
  const body = await r.text();
  assert.equal(r.status, 200, body);
  // The spec's way for a client: append the body to the checkpoint and verify as a note with the witness keys.
  const got = verifiedCosignatures(checkpoint + body, [parseCosignerVkey(s.witnessVkey), parseCosignerVkey(s.witnessMlDsaVkey, { mlDsa44 })]);
  assert.equal(got.length, 2);
  assert.equal(got[0]!.line + got[1]!.line, body);
  // A client that knows only the Ed25519 key (a host that joined before) finds its line and ignores the other.
  const old = verifiedCosignatures(checkpoint + body, [parseCosignerVkey(s.witnessVkey)]);
  assert.deepEqual(old, [got[0]]);
  independentCosignatures(body, textOf(checkpoint), s);
  return got[0]!.line;
}

async function conflictRows(s: Server) {
  const { rows } = await s.db.pool.query<{ kind: string; size: number; note: string; other_note: string | null; epoch: number }>(
    'SELECT kind, size, note, other_note, epoch FROM conflicts ORDER BY id',
  );
  return rows;
}

test('add-checkpoint, byte by byte from tlog-witness: every status, the text/x.tlog.size body, and cosignatures that verify', { skip }, async () => {
  const s = await freshServer();
  try {
    const a = makeLog('edit-ws-1.example/ffaudit/alice', 12);
    const stranger = makeLog('stranger.example/ffaudit', 3);
    const app = appFor(s);
    await enrol(s, 'edit-ws-1', a);

    // 404: an origin the witness does not know.
    await expectLine(await post(app, Buffer.from('old 0\n\n' + stranger.checkpoint(3), 'utf8')), 404, /unknown log origin/);

    // 400: malformed requests, each refused in one line.
    const cp3 = a.checkpoint(3);
    const malformed: Buffer[] = [
      Buffer.from('old 0\n' + cp3, 'utf8'), // no empty line: the checkpoint's own lines are read as proof lines
      Buffer.from('old 00\n\n' + cp3, 'utf8'), // a leading zero
      Buffer.from('old -1\n\n' + cp3, 'utf8'),
      Buffer.from('new 0\n\n' + cp3, 'utf8'),
      Buffer.from('old 1\nnot-base64!\n\n' + cp3, 'utf8'),
      Buffer.from('old 1\n' + Buffer.alloc(31).toString('base64') + '\n\n' + cp3, 'utf8'), // a 31-byte hash
      Buffer.from('old 1\n' + 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n'.repeat(64) + '\n' + cp3, 'utf8'), // 64 proof lines
      Buffer.from('old 0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n' + cp3, 'utf8'), // a proof from size 0
      Buffer.from('old 0\n\n' + a.origin + '\n3\nnot a root\n\n\u2014 x AAAAAAA=\n', 'utf8'),
      Buffer.from('old 0\n\n' + cp3.replace('\n\n', '\n'), 'utf8'), // no blank line before the signatures
      Buffer.concat([Buffer.from('old 0\n\n', 'utf8'), Buffer.from([0xff, 0xfe]), Buffer.from(cp3, 'utf8')]), // not UTF-8
      Buffer.alloc(0),
    ];
    for (const body of malformed) await expectLine(await post(app, body), 400);
    // The body is bounded (64 KiB): more is refused before it is parsed.
    await expectLine(await post(app, Buffer.concat([Buffer.from('old 0\n\n'), Buffer.alloc(70 * 1024, 0x61)])), 413, /larger than 65536 bytes/);

    // 403: the origin is known, but no signature verifies with its registered key (another key of the same name;
    // and the right key's line over other text). Unknown keys are ignored, not refused.
    const impostor = makeLog(a.origin, 3);
    await expectLine(await post(app, Buffer.from('old 0\n\n' + impostor.checkpoint(3), 'utf8')), 403, /no signature on the checkpoint verifies/);
    const realLine = cp3.slice(cp3.lastIndexOf('\n\n') + 2);
    await expectLine(await post(app, Buffer.from('old 0\n\n' + a.checkpoint(4).replace(/\n\n[\s\S]*$/, '\n\n') + realLine, 'utf8')), 403);

    // 400: the old size above the checkpoint's.
    await expectLine(await post(app, Buffer.from('old 5\n\n' + cp3, 'utf8')), 400, /old size 5 is larger/);

    // 200: the first checkpoint (old size 0, empty proof), with another key's signature line beside the log's.
    const impostorLine = impostor.checkpoint(3).slice(impostor.checkpoint(3).lastIndexOf('\n\n') + 2);
    const withUnknown = cp3 + impostorLine + `\u2014 someone-else.example ${Buffer.alloc(76, 1).toString('base64')}\n`;
    const line3 = await expectCosigned(await post(app, Buffer.from('old 0\n\n' + withUnknown, 'utf8')), s, cp3);
    assert.equal(independentCosignature(line3, textOf(cp3), s.witnessVkey), NOW);

    // 409 text/x.tlog.size: the old size is not the latest cosigned size.
    await expectSize(await post(app, Buffer.from('old 0\n\n' + a.checkpoint(5), 'utf8')), 3);
    await expectSize(await post(app, addCheckpointBody(2, a.proof(2, 5), a.checkpoint(5))), 3);

    // 200 again for the same checkpoint (old size = size, same root, empty proof).
    await expectCosigned(await post(app, Buffer.from('old 3\n\n' + cp3, 'utf8')), s, cp3);

    // 409: same size, another root, signed by the log's key (a fork of the ledger with the same key). The spec gives
    // this 409 no body; ours is the size the witness holds, as for the other 409.
    const fork = makeLog(a.origin, 12, { of: a, shared: 2 });
    assert.ok(!fork.root(3).equals(a.root(3)));
    await expectSize(await post(app, Buffer.from('old 3\n\n' + fork.checkpoint(3), 'utf8')), 3);

    // 422: a consistency proof with one hash flipped; kept as 'unproven'.
    const proof = a.proof(3, 7);
    const flipped = proof.map((h, i) => (i === 1 ? Buffer.from(h.map((b, j) => (j === 0 ? b ^ 1 : b))) : h));
    await expectLine(await post(app, addCheckpointBody(3, flipped, a.checkpoint(7))), 422, /does not verify/);
    // 422 too for a proof that is simply missing.
    await expectLine(await post(app, Buffer.from('old 3\n\n' + a.checkpoint(7), 'utf8')), 422);

    // 200: the real proof from the ledger.
    const cp7 = a.checkpoint(7);
    await expectCosigned(await post(app, addCheckpointBody(3, proof, cp7)), s, cp7);
    await expectSize(await post(app, addCheckpointBody(3, proof, cp7)), 7);

    // What was kept: the evidence, the witness state, the trail, and the mirror's pending checkpoints.
    const kinds = (await conflictRows(s)).map((r) => [r.kind, r.size]);
    assert.deepEqual(kinds, [
      ['equivocation', 3],
      ['unproven', 7],
    ]);
    const eq = (await conflictRows(s))[0]!;
    assert.deepEqual(independentlyOpenCheckpoint(eq.note, a.vkey).root, fork.root(3), "the forked checkpoint, with the log's signature");
    assert.deepEqual(independentlyOpenCheckpoint(eq.other_note!, a.vkey).root, a.root(3), 'and the one we cosigned');
    const { rows: ws } = await s.db.pool.query<{ size: number; root: Buffer; note: string }>('SELECT size, root, note FROM witness_state');
    assert.equal(ws[0]!.size, 7);
    assert.deepEqual(ws[0]!.root, a.root(7));
    const { rows: cos } = await s.db.pool.query<{ size: number }>("SELECT size FROM cosigned WHERE role = 'witness' ORDER BY size");
    assert.deepEqual(cos.map((r) => r.size), [3, 7]);
    const { rows: pend } = await s.db.pool.query<{ size: number; note: string }>('SELECT size, note FROM pending_checkpoints ORDER BY size');
    assert.deepEqual(pend.map((r) => r.size), [3, 7]);
    // tlog-mirror §add-checkpoint: the pending checkpoint keeps the log's signature (and only what verified).
    assert.equal(pend[1]!.note, cp7);
    assert.ok(!pend[0]!.note.includes('someone-else'), 'lines of unknown keys are not kept');

    // GET /witness/<hex sha256(origin)>/checkpoint: the log's signature and our cosignature.
    const got = await app.request(`/witness/${hashHex(a.origin)}/checkpoint`);
    assert.equal(got.status, 200);
    const served = await got.text();
    assert.equal(served, ws[0]!.note);
    assert.deepEqual(independentlyOpenCheckpoint(served, a.vkey).root, a.root(7));
    const served7 = served.split('\n').filter((l) => l.startsWith('\u2014 witness.test.example/witness '));
    assert.equal(served7.length, 2, 'both witness keys');
    independentCosignatures(`${served7[0]}\n${served7[1]}\n`, textOf(cp7), s);
    for (const bad of [hashHex(stranger.origin), hashHex(a.origin).toUpperCase(), 'x', `${hashHex(a.origin)}0`]) {
      await expectLine(await app.request(`/witness/${bad}/checkpoint`), 404);
    }
    // GET /witness/<…>/conflicts: the evidence as JSON, both notes.
    const cj = (await (await app.request(`/witness/${hashHex(a.origin)}/conflicts`)).json()) as { kind: string; size: number; note: string; other_note: string | null; seen_at: string; detail: string }[];
    assert.deepEqual(cj.map((x) => x.kind), ['equivocation', 'unproven']);
    assert.equal(cj[0]!.other_note, eq.other_note);
    assert.ok(!Number.isNaN(Date.parse(cj[0]!.seen_at)));
    // The request log: one line per request, no body.
    assert.ok(s.log.every((l) => /^(POST|GET) \/\S* \d{3} [\d.]+ms$/.test(l) || /^witness: host edit-ws-1: (equivocation|unproven)/.test(l)), s.log.join('\n'));
  } finally {
    await s.db.close();
  }
});

test('several real ledgers as hosts: each checked with its own key; a forked host log is refused, listed, and never cosigned', { skip }, async () => {
  const s = await freshServer();
  try {
    const app = appFor(s);
    const hosts = [makeLog('render-1.example/ffaudit', 40), makeLog('render-2.example/ffaudit', 33), makeLog('ingest.example/ffaudit/bob', 17)];
    for (const [i, h] of hosts.entries()) await enrol(s, `host-${i}`, h);
    // Interleaved: each host climbs in its own steps, with the ledger's own proofs.
    const at = hosts.map(() => 0);
    const steps = [5, 1, 8, 3, 13, 2, 40];
    for (const step of steps) {
      for (const [i, h] of hosts.entries()) {
        const size = Math.min(h.size, at[i]! + step);
        const cp = h.checkpoint(size);
        await expectCosigned(await post(app, addCheckpointBody(at[i]!, h.proof(at[i]!, size), cp)), s, cp);
        at[i] = size;
      }
    }
    // One host's checkpoint does not pass for another's: the origin decides the key.
    const [r1, r2] = hosts as [HostLog, HostLog, HostLog];
    const crossed = r1.checkpoint(40).replace(r1.origin, r2.origin);
    await expectLine(await post(app, Buffer.from('old 33\n\n' + crossed, 'utf8')), 403);

    // render-1's key signs another history (a stolen key, or a restored ledger): a fork sharing 20 entries.
    const fork = makeLog(r1.origin, 45, { of: r1, shared: 20 });
    // Same size as cosigned, other root: equivocation, with both notes. Sent as the protocol says, old = latest.
    await expectSize(await post(app, Buffer.from('old 40\n\n' + fork.checkpoint(40), 'utf8')), 40);
    // Bigger, but not an extension of what was cosigned: its proof (from the fork's own tree) fails: unproven.
    await expectLine(await post(app, addCheckpointBody(40, fork.proof(40, 45), fork.checkpoint(45))), 422);
    // The sizes cosigned on the way up.
    const { rows: cosRows } = await s.db.pool.query<{ size: number }>("SELECT size FROM cosigned c JOIN hosts h ON h.id = c.host_id WHERE h.name = 'host-0' ORDER BY size");
    assert.deepEqual(cosRows.map((r) => r.size), [5, 6, 14, 17, 30, 32, 40]);
    // A stale request (old size wrong) for a size cosigned with another root: 409 text/x.tlog.size as the spec says,
    // and still kept as evidence.
    await expectSize(await post(app, addCheckpointBody(20, fork.proof(20, 30), fork.checkpoint(30))), 40);
    // The same request again is not kept twice.
    await expectSize(await post(app, addCheckpointBody(20, fork.proof(20, 30), fork.checkpoint(30))), 40);
    const rows = await conflictRows(s);
    assert.deepEqual(rows.map((r) => [r.kind, r.size]), [
      ['equivocation', 40],
      ['unproven', 45],
      ['equivocation', 30],
    ]);
    for (const r of rows.filter((x) => x.kind === 'equivocation')) {
      const mine = independentlyOpenCheckpoint(r.note, r1.vkey);
      const ours = independentlyOpenCheckpoint(r.other_note!, r1.vkey);
      assert.equal(mine.size, ours.size);
      assert.ok(!mine.root.equals(ours.root), 'two checkpoints of one size, one key, two roots');
      assert.ok(r.other_note!.includes('\u2014 witness.test.example/witness '), 'the other note is the one we cosigned');
    }
    // Never cosigned: the fork's roots are nowhere in the trail.
    const { rows: trail } = await s.db.pool.query<{ root: Buffer }>('SELECT root FROM cosigned');
    for (const size of [30, 40, 45]) assert.ok(!trail.some((t) => t.root.equals(fork.root(size))));
    // The other hosts are untouched.
    const others = await s.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM conflicts x JOIN hosts h ON h.id = x.host_id WHERE h.name <> 'host-0'");
    assert.equal(others.rows[0]!.n, 0);

    // ffaudit serve conflicts lists them (one host, and all); --json carries both notes.
    const cli = await runCliInProcess(['serve', 'conflicts', '--db', s.url]);
    assert.equal(cli.status, 0, cli.stderr);
    const lines = cli.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^host-0 {2}epoch 0 {2}equivocation {2}size 40 {2}\d{4}-\d\d-\d\dT[^ ]+Z {2}signed by the log's key/);
    assert.match(lines[1]!, /^host-0 {2}epoch 0 {2}unproven {2}size 45 /);
    const none = await runCliInProcess(['serve', 'conflicts', '--host', 'host-1', '--db', s.url]);
    assert.equal(none.stdout, 'no conflicts for host host-1\n');
    const json = await runCliInProcess(['serve', 'conflicts', '--host', 'host-0', '--json', '--db', s.url]);
    const objs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; note: string; other_note: string | null; host: string });
    assert.deepEqual(objs.map((o) => o.kind), ['equivocation', 'unproven', 'equivocation']);
    assert.equal(objs[0]!.note, rows[0]!.note);
    assert.equal(objs[0]!.other_note, rows[0]!.other_note);
  } finally {
    await s.db.close();
  }
});

test('the evidence kept per host is bounded', { skip }, async () => {
  const s = await freshServer();
  try {
    const app = appFor(s);
    const a = makeLog('noisy.example/ffaudit', 4);
    await enrol(s, 'noisy', a);
    await expectCosigned(await post(app, Buffer.from('old 0\n\n' + a.checkpoint(2), 'utf8')), s, a.checkpoint(2));
    // Fill the allowance directly (a thousand forks would take long to sign), then ask for one more.
    const { rows } = await s.db.pool.query<{ id: number }>("SELECT id FROM hosts WHERE name = 'noisy'");
    await s.db.pool.query(
      "INSERT INTO conflicts (host_id, epoch, kind, size, note, detail) SELECT $1, 0, 'unproven', 3, 'note ' || g, 'filler' FROM generate_series(1, $2) g",
      [rows[0]!.id, MAX_CONFLICTS_PER_HOST],
    );
    await expectLine(await post(app, Buffer.from('old 2\n\n' + a.checkpoint(4), 'utf8')), 422);
    const n = (await s.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM conflicts')).rows[0]!.n;
    assert.equal(n, MAX_CONFLICTS_PER_HOST, 'refused, and not kept past the bound');
  } finally {
    await s.db.close();
  }
});

test('a disabled host is unknown (404); after hosts reset its new history from size 0 is accepted and the old conflict kept', { skip }, async () => {
  const s = await freshServer();
  try {
    const published = fresh('published');
    const app = appFor(s, published);
    const a = makeLog('laptop.example/ffaudit/carol', 9);
    await enrol(s, 'laptop', a);
    await expectCosigned(await post(app, addCheckpointBody(0, [], a.checkpoint(6))), s, a.checkpoint(6));
    // The ledger is restored from an old backup and goes on: a new history under the same key.
    const restored = makeLog(a.origin, 8, { of: a, shared: 4 });
    await expectSize(await post(app, addCheckpointBody(6, [], restored.checkpoint(6))), 6);

    await disableHost(s.db, 'laptop');
    await expectLine(await post(app, addCheckpointBody(6, restored.proof(6, 8), restored.checkpoint(8))), 404, /unknown log origin/);
    await expectLine(await app.request(`/witness/${hashHex(a.origin)}/checkpoint`), 404);
    await expectLine(await app.request(`/witness/${hashHex(a.origin)}/conflicts`), 404);
    await enableHost(s.db, 'laptop');
    await expectSize(await post(app, addCheckpointBody(0, [], restored.checkpoint(8))), 6);

    await resetHost(s.db, 'laptop', 'ledger restored from backup after a disk failure');
    // The checkpoint published before the reset is history set aside, not a sign of a restored server database.
    assert.deepEqual(await checkPublished(s.db, published, s.keys.witness, () => undefined), []);
    const cp8 = restored.checkpoint(8);
    await expectCosigned(await post(app, addCheckpointBody(0, [], restored.checkpoint(3))), s, restored.checkpoint(3));
    await expectCosigned(await post(app, addCheckpointBody(3, restored.proof(3, 8), cp8)), s, cp8);
    const rows = await conflictRows(s);
    assert.deepEqual(rows.map((r) => [r.kind, r.epoch]), [
      ['equivocation', 0],
      ['reset', 0],
    ]);
    const served = await (await app.request(`/witness/${hashHex(a.origin)}/checkpoint`)).text();
    assert.deepEqual(independentlyOpenCheckpoint(served, a.vkey).root, restored.root(8));
    // The published copy follows the new history, and the set-aside one does not hold the host at the next start.
    assert.equal(parseSignedCheckpoint(readFileSync(publishedPath(published, a.origin), 'utf8')).size, 8);
    const startLog: string[] = [];
    assert.deepEqual(await checkPublished(s.db, published, s.keys.witness, (l) => startLog.push(l)), []);
  } finally {
    await s.db.close();
  }
});

test('a restored server database is not fooled: held at start, a fork below the published state refused, resolve imports it', { skip }, async () => {
  const s = await freshServer();
  const published = fresh('published');
  const lines: string[] = [];
  const start = () => startServer({ db: s.url, keys: s.keysDir, listen: '127.0.0.1:0', published, log: (l) => lines.push(l) });
  const send = (url: string, body: Buffer) => fetch(`${url}/add-checkpoint`, { method: 'POST', body });
  let srv: Awaited<ReturnType<typeof start>> | undefined;
  try {
    const a = makeLog('vault.example/ffaudit', 14);
    const other = makeLog('other.example/ffaudit', 5);
    await enrol(s, 'vault', a);
    await enrol(s, 'other', other);
    srv = await start();
    await expectCosigned(await send(srv.url, addCheckpointBody(0, [], a.checkpoint(5))), s, a.checkpoint(5));
    await expectCosigned(await send(srv.url, addCheckpointBody(0, [], other.checkpoint(5))), s, other.checkpoint(5));
    // The backup: the witness state as it is now (size 5).
    const { rows: saved } = await s.db.pool.query<{ host_id: number; size: number; root: Buffer; note: string }>(
      "SELECT w.host_id, w.size, w.root, w.note FROM witness_state w JOIN hosts h ON h.id = w.host_id WHERE h.name = 'vault'",
    );
    await expectCosigned(await send(srv.url, addCheckpointBody(5, a.proof(5, 9), a.checkpoint(9))), s, a.checkpoint(9));
    const pub = readFileSync(publishedPath(published, a.origin), 'utf8');
    assert.equal(parseSignedCheckpoint(pub).size, 9);
    assert.deepEqual(independentlyOpenCheckpoint(pub, a.vkey).root, a.root(9));
    await srv.close();

    // The database comes back from the backup: the witness state says 5 again.
    await s.db.pool.query('UPDATE witness_state SET size = $2, root = $3, note = $4 WHERE host_id = $1', [saved[0]!.host_id, saved[0]!.size, saved[0]!.root, saved[0]!.note]);
    lines.length = 0;
    srv = await start();
    assert.ok(lines.some((l) => /^host vault is held: the database's witness state \(size 5\) is behind the checkpoint this server published \(size 9\)/.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => l.startsWith('host other')), 'a host in step with what was published is not held');
    const listed = await runCliInProcess(['serve', 'hosts', 'list', '--db', s.url]);
    assert.match(listed.stdout, /^vault .* HELD: the database's witness state \(size 5\)/m);

    // Someone with the log's key offers a fork of size 7 extending 5: a restored witness would have cosigned it.
    const fork = makeLog(a.origin, 12, { of: a, shared: 5 });
    await expectLine(await send(srv.url, addCheckpointBody(5, fork.proof(5, 7), fork.checkpoint(7))), 409, /^held: the database's witness state/);
    // A request at the published size: answered against the published state, as if it had never been forgotten.
    await expectSize(await send(srv.url, addCheckpointBody(5, a.proof(5, 9), a.checkpoint(9))), 9);
    // The fork at the published size: equivocation against the published checkpoint.
    await expectSize(await send(srv.url, addCheckpointBody(9, [], fork.checkpoint(9))), 9);
    // The other host works as usual.
    await expectCosigned(await send(srv.url, addCheckpointBody(5, [], other.checkpoint(5))), s, other.checkpoint(5));
    const { rows: trail } = await s.db.pool.query<{ root: Buffer }>('SELECT root FROM cosigned');
    assert.ok(!trail.some((t) => t.root.equals(fork.root(7)) || t.root.equals(fork.root(9))), 'the fork was never cosigned');

    // resolve: checked, imported as the witness state; the next request must extend 9.
    const bad = await runCliInProcess(['serve', 'hosts', 'resolve', 'other', '--db', s.url, '--published', published, '--keys', s.keysDir]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^ffaudit: host other is not held\n$/);
    const r = await runCliInProcess(['serve', 'hosts', 'resolve', 'vault', '--db', s.url, '--published', published, '--keys', s.keysDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /hold lifted; the witness state is now the published checkpoint \(size 9\)/);
    await expectSize(await send(srv.url, addCheckpointBody(5, fork.proof(5, 7), fork.checkpoint(7))), 9);
    await expectLine(await send(srv.url, addCheckpointBody(9, fork.proof(9, 12), fork.checkpoint(12))), 422);
    await expectCosigned(await send(srv.url, addCheckpointBody(9, a.proof(9, 14), a.checkpoint(14))), s, a.checkpoint(14));
    assert.equal(parseSignedCheckpoint(readFileSync(publishedPath(published, a.origin), 'utf8')).size, 14);
    await srv.close();

    // A published file that is not ours proves nothing: logged at start, no hold.
    writeFileSync(publishedPath(published, other.origin), other.checkpoint(5).replace('\n5\n', '\n50\n'));
    lines.length = 0;
    srv = await start();
    assert.ok(lines.some((l) => /^published: host other: ignored: .*does not verify/.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => / is held: /.test(l)), lines.join('\n'));
  } finally {
    await srv?.close();
    await s.db.close();
  }
});

// ---- real `ffaudit serve` processes on one database ----

interface ServeProcess {
  url: string;
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnServe(s: Server): Promise<ServeProcess> {
  // Processes may share the keys, never an access log (one per process): each is given its own.
  const child = spawn(process.execPath, [CLI, 'serve', '--db', s.url, '--keys', s.keysDir, '--listen', '127.0.0.1:0', '--access-log', fresh('access-log')], {
    env: cleanEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 30_000);
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = / listening on (http:\/\/[^;\s]+);/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stdout: () => out, exited });
      }
    });
    void exited.then((x) => reject(new Error(`serve exited (${x.code ?? x.signal}) before listening: ${err}`)));
  });
}

interface Attempt {
  branch: string;
  server: number;
  old: number;
  size: number;
  root: Buffer;
  start: number;
  end: number;
  status: number | 'error';
  body: string;
}

/**
 * A client that follows the protocol: it sends its log's checkpoint a few entries past what it believes the witness
 * holds, learns the witness's size from a 409 text/x.tlog.size, and goes on until `done()`.
 */
async function client(
  log: HostLog,
  branch: string,
  urls: () => string[],
  rnd: () => number,
  attempts: Attempt[],
  done: () => boolean,
  vkeys: { witnessVkey: string; witnessMlDsaVkey: string },
): Promise<void> {
  let known = 0;
  for (let i = 0; !done(); i++) {
    const live = urls();
    const server = Math.floor(rnd() * live.length);
    const size = Math.min(log.size, known + 1 + Math.floor(rnd() * 4));
    const body = addCheckpointBody(known, log.proof(known, size), log.checkpoint(size));
    const start = performance.now();
    let status: number | 'error';
    let text = '';
    let type: string | null = null;
    try {
      const r = await fetch(`${live[server]}/add-checkpoint`, { method: 'POST', body });
      status = r.status;
      type = r.headers.get('content-type');
      text = await r.text();
    } catch {
      status = 'error';
    }
    attempts.push({ branch, server, old: known, size, root: log.root(size), start, end: performance.now(), status, body: text });
    if (status === 200) {
      independentCosignatures(text, textOf(log.checkpoint(size)), vkeys);
      known = size;
    } else if (status === 409 && type === 'text/x.tlog.size') {
      const held = Math.min(parseTlogSize(text), log.size);
      // The witness holds another root at the very size this client sent: its branch lost; no busy loop.
      if (held === known) await new Promise((r) => setTimeout(r, 5));
      known = held;
    } else if (status !== 'error') {
      // The only other answer the protocol allows here: a failed proof (every 409 is text/x.tlog.size).
      assert.equal(status, 422, `unexpected ${status}: ${text}`);
      // This client's history lost (the other branch was cosigned past the fork): a pause, not a busy loop.
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** What must hold of any run: one root per size among the 200s, no rollback, and the database agreeing. */
async function checkHistory(s: Server, attempts: Attempt[], forkedAt: number): Promise<void> {
  const ok = attempts.filter((a) => a.status === 200);
  const bySize = new Map<number, Buffer>();
  for (const a of ok) {
    const r = bySize.get(a.size);
    assert.ok(!r || r.equals(a.root), `two roots cosigned at size ${a.size}`);
    bySize.set(a.size, a.root);
  }
  // One branch only past the fork point.
  const branches = new Set(ok.filter((a) => a.size > forkedAt).map((a) => a.branch));
  assert.ok(branches.size <= 1, `both branches cosigned past the fork: ${[...branches].join(', ')}`);
  // No rollback: once a 200 at size n is answered, no later request is cosigned, or told of, a smaller size.
  const sorted = [...ok].sort((x, y) => x.end - y.end);
  for (const b of attempts) {
    const told = b.status === 200 ? b.size : b.status === 409 && /^\d+\n$/.test(b.body) ? Number(b.body) : undefined;
    if (told === undefined) continue;
    for (const a of sorted) {
      if (a.end >= b.start) break;
      assert.ok(told >= a.size, `rollback: size ${a.size} was cosigned, then a request saw ${told}`);
    }
  }
  // The database: every 200 is in the trail with its root, the state is the largest, sizes agree.
  const { rows: trail } = await s.db.pool.query<{ size: number; root: Buffer }>("SELECT size, root FROM cosigned WHERE role = 'witness'");
  const trailBy = new Map(trail.map((t) => [t.size, t.root]));
  for (const [size, root] of bySize) assert.ok(trailBy.get(size)?.equals(root), `the 200 at size ${size} is persisted with its root`);
  const { rows: ws } = await s.db.pool.query<{ size: number; root: Buffer }>('SELECT size, root FROM witness_state');
  const max = Math.max(...trail.map((t) => t.size));
  assert.equal(ws[0]!.size, max);
  assert.ok(ws[0]!.root.equals(trailBy.get(max)!));
  assert.ok(ws[0]!.size >= Math.max(...ok.map((a) => a.size)));
  const { rows: pend } = await s.db.pool.query<{ size: number; root: Buffer }>('SELECT size, root FROM pending_checkpoints');
  for (const p of pend) assert.ok(trailBy.get(p.size)?.equals(p.root), 'each pending checkpoint is one the witness cosigned');
}

test('two ffaudit serve processes on one database, hammered with interleaved add-checkpoints of a log and its fork: one root per size, never a rollback', { skip }, async () => {
  const s = await freshServer();
  const procs: ServeProcess[] = [];
  try {
    const a = makeLog('farm.example/ffaudit/render', 300);
    const fork = makeLog(a.origin, 300, { of: a, shared: 24 });
    await enrol(s, 'farm', a);
    procs.push(await spawnServe(s), await spawnServe(s));
    const urls = () => procs.map((p) => p.url);
    const attempts: Attempt[] = [];
    const limit = 360;
    const done = () => attempts.length >= limit;
    const clients = [0, 1, 2, 3, 4, 5].map((i) => client(i < 4 ? a : fork, i < 4 ? 'log' : 'fork', urls, prng(100 + i), attempts, done, s));
    await Promise.all(clients);
    const statuses = new Set(attempts.map((x) => x.status));
    assert.ok([...statuses].every((x) => x === 200 || x === 409 || x === 422), [...statuses].join(','));
    assert.ok(attempts.filter((x) => x.status === 200).length > 50, 'plenty were cosigned');
    assert.ok(attempts.some((x) => x.status === 200 && x.server === 0) && attempts.some((x) => x.status === 200 && x.server === 1), 'both processes cosigned');
    await checkHistory(s, attempts, 24);
    // The losing branch is evidence (proofs that fail, or roots that contradict), never cosigned.
    const kinds = new Set((await conflictRows(s)).map((r) => r.kind));
    assert.ok([...kinds].every((k) => k === 'equivocation' || k === 'unproven'));
    assert.ok(kinds.size > 0, 'the fork left evidence');
    for (const p of procs) p.child.kill('SIGTERM');
    for (const p of procs) assert.deepEqual(await p.exited, { code: 0, signal: null });
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await s.db.close();
  }
});

/**
 * Sends the headers and the first ten bytes of a body: a request surely in flight. `finish` sends the rest and reads
 * the answer; `failed` resolves with the error if the connection breaks first.
 */
function halfSent(url: string, body: Buffer): { finish: () => Promise<{ status: number; text: string }>; failed: Promise<unknown> } {
  const u = new URL(`${url}/add-checkpoint`);
  const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-length': body.length, connection: 'close' } });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, 10));
  return {
    finish: () => {
      req.end(body.subarray(10));
      return answer;
    },
    failed: answer.then(
      () => undefined,
      (e: unknown) => e,
    ),
  };
}

test('kill -9 of one serve process with requests in flight: the other keeps answering, and every 200 is persisted', { skip }, async () => {
  const s = await freshServer();
  const procs: ServeProcess[] = [];
  try {
    const a = makeLog('dailies.example/ffaudit', 400);
    await enrol(s, 'dailies', a);
    procs.push(await spawnServe(s), await spawnServe(s));
    const [p1, p2] = procs as [ServeProcess, ServeProcess];
    let live = [p1.url, p2.url];
    const attempts: Attempt[] = [];
    let stop = false;
    const clients = [0, 1, 2, 3, 4].map((i) => client(a, 'log', () => live, prng(7 + i), attempts, () => stop, s));
    const okCount = () => attempts.filter((x) => x.status === 200).length;
    while (okCount() < 20) await new Promise((r) => setTimeout(r, 5));
    // One request surely in flight on p1: its headers and part of its body sent.
    const inflight = halfSent(p1.url, addCheckpointBody(0, [], a.checkpoint(1)));
    await new Promise((r) => setTimeout(r, 50));
    p1.child.kill('SIGKILL');
    const killedAt = performance.now();
    live = [p2.url];
    assert.deepEqual(await p1.exited, { code: null, signal: 'SIGKILL' });
    assert.ok((await inflight.failed) instanceof Error, 'the request in flight on the killed process failed');
    while (attempts.filter((x) => x.status === 200 && x.start > killedAt).length < 20) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(clients);
    assert.ok(attempts.filter((x) => x.start > killedAt && x.status === 200).every((x) => x.server === 0), 'after the kill, the other answers');
    await checkHistory(s, attempts, a.size);
    p2.child.kill('SIGTERM');
    assert.deepEqual(await p2.exited, { code: 0, signal: null });
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await s.db.close();
  }
});

test('SIGTERM: a request in flight completes (200, persisted), then the process exits 0 and logs "stopped"', { skip }, async () => {
  const s = await freshServer();
  let p: ServeProcess | undefined;
  try {
    const a = makeLog('grading.example/ffaudit', 6);
    await enrol(s, 'grading', a);
    p = await spawnServe(s);
    const cp = a.checkpoint(6);
    const inflight = halfSent(p.url, addCheckpointBody(0, [], cp));
    await new Promise((r) => setTimeout(r, 100));
    p.child.kill('SIGTERM');
    while (!/SIGTERM: stopping/.test(p.stdout())) await new Promise((r) => setTimeout(r, 5));
    // New connections are no longer accepted…
    await assert.rejects(fetch(`${p.url}/witness/${hashHex(a.origin)}/checkpoint`));
    // …but the request in flight finishes.
    const r = await inflight.finish();
    assert.equal(r.status, 200, r.text);
    independentCosignatures(r.text, textOf(cp), s);
    assert.deepEqual(await p.exited, { code: 0, signal: null });
    assert.match(p.stdout(), /Z stopped\n$/);
    const { rows } = await s.db.pool.query<{ size: number }>('SELECT size FROM witness_state');
    assert.equal(rows[0]!.size, 6);
  } finally {
    p?.child.kill('SIGKILL');
    await s.db.close();
  }
});

test('a checkpoint below the cosigned size whose root the mirrored entries contradict is kept as equivocation', { skip }, async () => {
  const s = await freshServer();
  try {
    const app = appFor(s);
    // The host's own push client, talking to the app in this process.
    const viaApp = ((input: string | URL | Request, init?: RequestInit) => app.request(input instanceof Request ? input : String(input), init)) as typeof fetch;
    const host = makeLog('contradicted.test/log', 300);
    const { token } = await addHost(s.db, 'contra');
    await joinServer(host.ledger, 'http://server.test', token, { fetch: viaApp });
    await pushLedger(host.ledger, { fetch: viaApp, retries: 0 });
    const held = await s.db.pool.query<{ size: number }>('SELECT size FROM mirror_state');
    assert.equal(held.rows[0]?.size, 300, 'the mirror holds the log');
    // Size 150 was never cosigned itself. The honest checkpoint of that size: the old-size 409, nothing kept.
    await expectSize(await post(app, addCheckpointBody(0, [], host.checkpoint(150))), 300);
    assert.equal((await conflictRows(s)).length, 0);
    // The same key's checkpoint of a history that parts from the mirrored one at entry 100.
    const fork = makeLog(host.origin, 300, { of: host, shared: 100 });
    await expectSize(await post(app, addCheckpointBody(0, [], fork.checkpoint(150))), 300);
    const rows = await conflictRows(s);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.kind, 'equivocation');
    assert.equal(rows[0]!.size, 150);
    assert.equal(rows[0]!.note, fork.checkpoint(150));
    assert.match(rows[0]!.other_note ?? '', /\n300\n/, "the mirror's cosigned checkpoint is the other half of the evidence");
    // A fork that agrees with the mirrored entries up to that size is no contradiction.
    await expectSize(await post(app, addCheckpointBody(0, [], fork.checkpoint(90))), 300);
    assert.equal((await conflictRows(s)).length, 1);
  } finally {
    await s.db.close();
  }
});
