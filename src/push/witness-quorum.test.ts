/**
 * Witness quorums end to end, with real parts only: three `ffaudit serve` processes as witnesses, each on its own
 * PostgreSQL database, and ledgers that list all three with a quorum of two, driven through the real binary.
 *
 * Ledger A joined w1 as its team server and lists w1 (by its witness key), w2 (behind a recording forwarder) and w3,
 * which witness it without a join (`serve hosts add NAME --log-vkey`). Ledger B joined nothing: witnesses only, w2
 * behind a forwarder that flips a byte of every cosignature it returns. With all up, A gets three cosignatures, its
 * verify and the derived policy with a bundle pass; with w3 down, A's push still meets the quorum and names the down
 * witness; B, with w3 down and w2 lying, keeps nothing of w2 and falls short: push, verify and verify-bundle say so
 * exactly. A stored witness cosignature rewritten in the SQLite file is named by verify. The add-checkpoint bodies
 * sent are compared byte for byte with the format tlog-witness specifies, the proof computed independently.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { encodeAddEntries } from '../core/mirror-protocol.js';
import { Ledger } from '../ledger/ledger.js';
import { cleanEnv, naiveConsistency, naiveLeaf, runCliAsync, tempDir, type CliResult } from '../testing/fixtures.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { startServe, type ServeProcess } from '../testing/serve-process.js';
import { flipSignature, startWitnessProxy, type WitnessProxy } from '../testing/witness-proxy.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
const tmp = tempDir('witness-quorum');

interface Witness {
  name: string;
  db: string;
  keys: string;
  server: ServeProcess;
  vkey: string;
}
const w: Witness[] = [];
let recorder: WitnessProxy | undefined;
let liar: WitnessProxy | undefined;
const A = join(tmp.dir, 'a');
const B = join(tmp.dir, 'b');
const media = join(tmp.dir, 'delivery.mov');

const cli = (args: readonly string[], input?: string): Promise<CliResult> => runCliAsync(args, cleanEnv(), input);
async function ok(args: readonly string[], input?: string): Promise<CliResult> {
  const r = await cli(args, input);
  assert.equal(r.status, 0, `ffaudit ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r;
}
const vkeyOf = async (dir: string) => (await ok(['--ledger', dir, 'pubkey'])).stdout.trim();
const w1 = () => w[0]!;
const w2 = () => w[1]!;
const w3 = () => w[2]!;

before(async () => {
  if (skip) return;
  for (const name of ['w1', 'w2', 'w3']) {
    const db = await createDatabase((pgc as { url: string }).url);
    const keys = join(tmp.dir, `${name}-keys`);
    await ok(['serve', 'init', '--name', `${name}.test`, '--keys', keys]);
    const vkey = /^witness (\S+)$/m.exec((await ok(['serve', 'key', '--keys', keys])).stdout)![1]!;
    w.push({ name, db, keys, server: await startServe(db, keys), vkey });
  }
  recorder = await startWitnessProxy(w2().server.url);
  liar = await startWitnessProxy(w2().server.url, { lie: true });
  writeFileSync(media, 'the delivered master\n');

  // A: joined w1 (its team server); w2 and w3 witness it without a join.
  await ok(['--ledger', A, 'init', '--origin', 'quorum-a.test/ffaudit']);
  const token = await ok(['serve', 'hosts', 'add', 'a', '--db', w1().db]);
  await ok(['--ledger', A, 'join', w1().server.url], token.stdout);
  for (const x of [w2(), w3()]) await ok(['serve', 'hosts', 'add', 'a', '--db', x.db, '--log-vkey', await vkeyOf(A)]);
  await ok(['--ledger', A, 'witness', 'add', 'w1', w1().server.url, w1().vkey]);
  await ok(['--ledger', A, 'witness', 'add', 'w2', recorder.url, w2().vkey]);
  await ok(['--ledger', A, 'witness', 'add', 'w3', w3().server.url, w3().vkey]);
  await ok(['--ledger', A, 'witness', 'quorum', '2']);

  // B: no team server, three witnesses that know it by its key; w2 reached through the liar.
  await ok(['--ledger', B, 'init', '--origin', 'quorum-b.test/ffaudit']);
  for (const x of w) await ok(['serve', 'hosts', 'add', 'b', '--db', x.db, '--log-vkey', await vkeyOf(B)]);
  await ok(['--ledger', B, 'witness', 'add', 'w1', w1().server.url, w1().vkey]);
  await ok(['--ledger', B, 'witness', 'add', 'w2', liar.url, w2().vkey]);
  await ok(['--ledger', B, 'witness', 'add', 'w3', w3().server.url, w3().vkey]);
  await ok(['--ledger', B, 'witness', 'quorum', '2']);
});

after(async () => {
  await recorder?.close();
  await liar?.close();
  for (const x of w) await x.server.stop();
  tmp.cleanup();
});

const Q = (r: CliResult) => JSON.parse(r.stdout) as Record<string, unknown>;

/** The stored cosignatures of the ledger at `dir` (checked reads), as `name size server`. */
function stored(dir: string): string[] {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return l.cosignatures().map((c) => `${c.name} ${c.size} ${c.server}`);
  } finally {
    l.close();
  }
}

/** tlog-witness §add-checkpoint, built from the specification's words with an independent RFC 6962 proof. */
function expectedBody(dir: string, oldSize: number, checkpoint: string): string {
  const l = Ledger.open({ dir, explicit: true });
  let leaves: Buffer[];
  try {
    leaves = l.entries(0, l.size()).map((e) => naiveLeaf(e));
  } finally {
    l.close();
  }
  return `old ${oldSize}\n${naiveConsistency(leaves, oldSize).map((h) => `${h.toString('base64')}\n`).join('')}\n${checkpoint}`;
}

async function bundleAndVerify(dir: string, name: string): Promise<{ bundle: string; verdict: CliResult; policy: string }> {
  const policy = (await ok(['--ledger', dir, 'policy'])).stdout;
  writeFileSync(join(tmp.dir, `${name}.policy`), policy);
  await ok(['--ledger', dir, 'bundle', media, '-o', join(tmp.dir, `${name}.bundle.json`)]);
  const verdict = await cli(['verify-bundle', join(tmp.dir, `${name}.bundle.json`), '--policy', join(tmp.dir, `${name}.policy`), '--json']);
  return { bundle: readFileSync(join(tmp.dir, `${name}.bundle.json`), 'utf8'), verdict, policy };
}

describe('witness quorums: three witnesses, a quorum of two', { skip }, () => {
  it('all up: three cosignatures stored, the team server asked once, quorum met, verify clean, the derived policy and a bundle pass verify-bundle', async () => {
    for (const text of ['received', 'checked', 'delivered']) await ok(['--ledger', A, 'note', text, '--file', media]);
    const addCheckpoints = () => w1().server.log().split('\n').filter((l) => l.includes(' POST /add-checkpoint ')).length;
    const before = addCheckpoints();
    const push = await ok(['--ledger', A, 'push', '--json']);
    const r = Q(push);
    assert.deepEqual(r.witnesses, [
      { name: 'w1', url: w1().server.url, team_server: true, status: 'cosigned', cosigned: 3, http_status: null, detail: null },
      { name: 'w2', url: recorder!.url, team_server: false, status: 'cosigned', cosigned: 3, http_status: null, detail: null },
      { name: 'w3', url: w3().server.url, team_server: false, status: 'cosigned', cosigned: 3, http_status: null, detail: null },
    ]);
    assert.deepEqual(r.quorum, { rule: '2 of w1, w2, w3', size: 3, met: true, witnessed: ['w1', 'w2', 'w3'], missing: [] });
    // The team server's witness is not asked twice: one add-checkpoint, the push's own.
    await new Promise((resolve) => setTimeout(resolve, 300)); // the request log reaches us through a pipe
    assert.equal(addCheckpoints() - before, 1);
    // w1, the team server A joined, cosigns as its witness with both keys (Ed25519 and ML-DSA-44), and as its mirror.
    assert.deepEqual(stored(A).sort(), [`w1.test/mirror 3 ${w1().server.url}`, `w1.test/witness 3 ${w1().server.url}`, `w1.test/witness 3 ${w1().server.url}`, `w2.test/witness 3 ${recorder!.url}`, `w3.test/witness 3 ${w3().server.url}`]);
    // The request w2 got is exactly tlog-witness's: "old 0", no proof lines, an empty line, the checkpoint.
    const checkpoint = (await ok(['--ledger', A, 'checkpoint'])).stdout;
    assert.deepEqual(
      recorder!.requests.map((q) => [q.method, q.path, q.status]),
      [['POST', '/add-checkpoint', 200]],
    );
    assert.equal(recorder!.requests[0]!.body.toString('utf8'), `old 0\n\n${checkpoint}`);

    const v = await cli(['--ledger', A, 'verify', '--json']);
    assert.equal(v.status, 0, v.stdout);
    assert.deepEqual(Q(v).quorum, { rule: '2 of w1, w2, w3', size: 3, witnessed: ['w1', 'w2', 'w3'], missing: [], met: true, metAt: 3 });
    const human = await ok(['--ledger', A, 'verify']);
    assert.match(human.stdout, /^quorum {3}2 of w1, w2, w3: met at size 3 \(cosigned by w1, w2, w3\)$/m);

    const { bundle, verdict, policy } = await bundleAndVerify(A, 'a');
    assert.equal(
      policy,
      [
        "# c2sp.org/tlog-policy of the ffaudit log quorum-a.test/ffaudit, derived from its ledger's config (ffaudit policy)",
        `log ${await vkeyOf(A)}`,
        `witness w1 ${w1().vkey} ${w1().server.url}`,
        `witness w2 ${w2().vkey} ${recorder!.url}`,
        `witness w3 ${w3().vkey} ${w3().server.url}`,
        'group witnesses 2 w1 w2 w3',
        'quorum witnesses',
        '',
      ].join('\n'),
    );
    assert.equal(verdict.status, 0, verdict.stdout);
    assert.deepEqual(Q(verdict).quorum, { quorum: 'witnesses', witnesses: ['w1', 'w2', 'w3'], met: true });
    const cp = (JSON.parse(bundle) as { checkpoint: string }).checkpoint;
    for (const n of ['w1', 'w2', 'w3']) assert.match(cp, new RegExp(`^— ${n}\\.test/witness \\S+$`, 'm'));
    cpSync(A, join(tmp.dir, 'a-tampered'), { recursive: true });
  });

  it('a witness cosignature rewritten in the SQLite file: verify names the witness (cosignature-invalid), the others still meet the quorum', async () => {
    const dir = join(tmp.dir, 'a-tampered');
    const db = new Database(join(dir, 'ledger.db'));
    const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
    for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
    const row = db.prepare("SELECT line FROM cosignatures WHERE name = 'w2.test/witness'").get() as { line: string };
    db.prepare("UPDATE cosignatures SET line = ? WHERE name = 'w2.test/witness'").run(flipSignature(row.line.trimEnd()) + '\n');
    for (const t of triggers) db.exec(t.sql);
    db.close();
    const v = await cli(['--ledger', dir, 'verify', '--json']);
    assert.equal(v.status, 1, v.stdout);
    assert.deepEqual(Q(v).problems, [
      { kind: 'cosignature-invalid', size: 3, detail: 'a stored cosignature by witness w2 ("w2.test/witness") its signature does not verify: the cosignatures were edited in the database' },
    ]);
    assert.deepEqual(Q(v).quorum, { rule: '2 of w1, w2, w3', size: 3, witnessed: ['w1', 'w3'], missing: ['w2'], met: true, metAt: 3 });
  });

  it('w3 down: A still meets the quorum with two and names the down witness; B (w2 lying, w3 down) keeps nothing of w2 and falls short in push, verify and verify-bundle', async () => {
    await w3().server.stop();
    await ok(['--ledger', A, 'note', 'archived', '--file', media]);
    for (const text of ['received', 'delivered']) await ok(['--ledger', B, 'note', text, '--file', media]);
    // Both pushes wait out w3's retries (about half a minute): side by side.
    const [pa, pb] = await Promise.all([cli(['--ledger', A, 'push']), cli(['--ledger', B, 'push'])]);

    assert.equal(pa.status, 0, pa.stdout + pa.stderr);
    assert.equal(pa.stderr, '');
    const lines = pa.stdout.split('\n');
    assert.deepEqual(lines.slice(lines.findIndex((l) => l.startsWith('witnesses'))), [
      `witnesses   w1 (${w1().server.url}, the team server): cosigned size 4`,
      `            w2 (${recorder!.url}): cosigned size 4`,
      `            w3 (${w3().server.url}): down (ECONNREFUSED)`,
      'quorum      2 of w1, w2, w3: met for size 4 (cosigned by w1, w2); missing w3',
      '',
    ]);
    // From the size w2 last cosigned (the ledger's record), with the consistency proof from 3 to 4.
    const cpA = (await ok(['--ledger', A, 'checkpoint'])).stdout;
    assert.equal(recorder!.requests.length, 2);
    assert.equal(recorder!.requests[1]!.body.toString('utf8'), expectedBody(A, 3, cpA));
    assert.ok(recorder!.requests[1]!.body.toString('utf8').split('\n').length > 4, 'the body carries proof lines');
    const listed = Q(await ok(['--ledger', A, 'witness', 'list', '--json']));
    assert.deepEqual(
      (listed.witnesses as { name: string; cosigned: number }[]).map((x) => [x.name, x.cosigned]),
      [
        ['w1', 4],
        ['w2', 4],
        ['w3', 3],
      ],
    );
    const va = await cli(['--ledger', A, 'verify', '--json']);
    assert.equal(va.status, 0, va.stdout);

    assert.equal(pb.status, 3, pb.stdout + pb.stderr);
    assert.equal(pb.stdout, [
      'server      none (witnesses only)',
      'checkpoint  size 2',
      `witnesses   w1 (${w1().server.url}): cosigned size 2`,
      `            w2 (${liar!.url}): bad cosignature (its answer does not verify with its key w2.test/witness: nothing of it was kept)`,
      `            w3 (${w3().server.url}): down (ECONNREFUSED)`,
      'quorum      2 of w1, w2, w3: NOT met for size 2 (cosigned by w1); missing w2, w3',
      '',
    ].join('\n'));
    assert.equal(pb.stderr, 'ffaudit: the witness quorum (2 of w1, w2, w3) is not met for the checkpoint of size 2: missing w2, w3\n');
    assert.deepEqual(stored(B), [`w1.test/witness 2 ${w1().server.url}`]);

    const vb = await cli(['--ledger', B, 'verify', '--json']);
    assert.equal(vb.status, 3, vb.stdout);
    assert.deepEqual(Q(vb).problems, [
      { kind: 'quorum-not-met', size: 2, detail: 'the latest checkpoint the witnesses cosigned (size 2) is cosigned by w1 only: the quorum (2 of w1, w2, w3) is not met; missing: w2, w3 (no checkpoint meets it)' },
    ]);
    const human = await cli(['--ledger', B, 'verify']);
    assert.equal(human.status, 3);
    assert.match(human.stdout, /^verdict {2}NOT WITNESSED: 1 problem found$/m);

    // verify --policy: another rule for the same stored cosignatures (w1 alone), and a policy for another log refused.
    const onlyW1 = join(tmp.dir, 'w1-only.policy');
    writeFileSync(onlyW1, `log ${await vkeyOf(B)}\nwitness w1 ${w1().vkey}\nquorum w1\n`);
    const vp = await cli(['--ledger', B, 'verify', '--policy', onlyW1, '--json']);
    assert.equal(vp.status, 0, vp.stdout);
    assert.deepEqual(Q(vp).quorum, { rule: 'w1', size: 2, witnessed: ['w1'], missing: [], met: true, metAt: 2 });
    const other = join(tmp.dir, 'other-log.policy');
    writeFileSync(other, `log ${await vkeyOf(A)}\nwitness w1 ${w1().vkey}\nquorum w1\n`);
    const vo = await cli(['--ledger', B, 'verify', '--policy', other]);
    assert.deepEqual([vo.status, vo.stderr], [2, `ffaudit: ${other}: the policy does not list this ledger's key (${await vkeyOf(B)})\n`]);

    const { verdict } = await bundleAndVerify(B, 'b');
    assert.equal(verdict.status, 1, verdict.stdout);
    assert.deepEqual(Q(verdict).failures, ['the checkpoint is not cosigned by the quorum the policy requires ("witnesses"): only "w1" did; missing: "w2", "w3"']);

    // B is witnessed by w2, never mirrored: the mirror does not know it, and the host list says so.
    const body = gzipSync(encodeAddEntries({ origin: 'quorum-b.test/ffaudit', uploadStart: 0, uploadEnd: 2, ticket: Buffer.alloc(0) }, []));
    const res = await fetch(`${w2().server.url}/add-entries`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' } });
    assert.equal(res.status, 404);
    const hosts = (await ok(['serve', 'hosts', 'list', '--db', w2().db])).stdout;
    assert.match(hosts, /^b {2}active {2}epoch 0 {2}witness 2 {2}mirror \(witnessed only\) {2}conflicts 0 {2}quorum-b\.test\/ffaudit$/m);
    // Nor is its missing mirror a lag: the logs the API reports are the mirrored ones (here only w2's access log).
    const token = (await ok(['serve', 'tokens', 'add', '--role', 'viewer', '--name', 'reader', '--db', w2().db])).stdout.trim();
    const logs = (await (await fetch(`${w2().server.url}/api/v1/logs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: { origin: string; lag: number }[] };
    assert.deepEqual(logs.items.filter((l) => l.origin.startsWith('quorum-')), []);
  });
});
