import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openCheckpoint, parseSignedCheckpoint } from '../core/checkpoint.js';
import { isBlobRef, MAX_ENTRY_BYTES, parseEntry, resolveBlobs, type EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { SqliteStore } from '../store/sqlite.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../core/merkle.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyTlogProof } from '../core/tlog-proof.js';
import {
  cleanEnv,
  independentlyOpenCheckpoint,
  naiveConsistency,
  naiveLeaf,
  naivePath,
  naiveRoot,
  runCliAsync,
  tempDir,
} from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { KEEP_CHECKPOINT_EVERY, Ledger } from './ledger.js';

const tmp = tempDir('ledger');
after(tmp.cleanup);
let counter = 0;
const fresh = (origin?: string) => Ledger.init(join(tmp.dir, `l${counter++}`), { origin });
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
const code = (c: string) => (e: unknown) => e instanceof FfauditError && e.code === c;
/** Leaf hashes recomputed from the stored bytes. */
const leavesOf = (l: Ledger) => Array.from({ length: l.size() }, (_, i) => naiveLeaf(l.entry(i)));

describe('init', () => {
  it('creates a ledger with a unique default origin, a 0600 key and the verifier key', () => {
    const a = fresh();
    const b = fresh();
    assert.match(a.origin, /^[a-z0-9.-]+\/ffaudit\/[0-9a-f]{12}$/);
    assert.notEqual(a.origin, b.origin);
    assert.equal(statSync(join(a.dir, 'signing.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(a.dir, 'redaction.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(a.dir, 'signing.key'), 'utf8'), new RegExp(`^PRIVATE\\+KEY\\+${a.origin.replace(/[.]/g, '\\.')}\\+[0-9a-f]{8}\\+`));
    assert.equal(readFileSync(join(a.dir, 'vkey'), 'utf8'), `${a.vkey}\n`);
    assert.equal(parseVerifierKey(a.vkey).name, a.origin);
    assert.equal(a.size(), 0);
    assert.throws(() => a.checkpoint(), code('NOT_FOUND'));
    a.close();
    b.close();
  });

  it('takes the origin given, and refuses a bad one', () => {
    const l = fresh('example.org/evidence-log');
    assert.equal(l.origin, 'example.org/evidence-log');
    assert.ok(l.vkey.startsWith('example.org/evidence-log+'));
    l.close();
    for (const bad of ['with space', 'a+b', '']) {
      assert.throws(() => Ledger.init(join(tmp.dir, `bad${counter++}`), { origin: bad }), code('USAGE'), JSON.stringify(bad));
    }
  });

  it('refuses to initialise over an existing ledger and leaves it untouched', () => {
    const l = fresh();
    l.append([note('first')]);
    const before = readFileSync(join(l.dir, 'signing.key'));
    const cp = l.checkpoint();
    l.close();
    assert.throws(() => Ledger.init(l.dir), code('LEDGER_EXISTS'));
    assert.deepEqual(readFileSync(join(l.dir, 'signing.key')), before);
    const again = Ledger.open({ dir: l.dir, explicit: true });
    assert.equal(again.checkpoint(), cp);
    again.close();
  });

  it('keeps the key outside the ledger directory when asked, and finds it again', () => {
    const keyPath = join(tmp.dir, `outside-${counter}.key`);
    const dir = join(tmp.dir, `l${counter++}`);
    const l = Ledger.init(dir, { keyPath });
    assert.ok(existsSync(keyPath));
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assert.ok(!existsSync(join(dir, 'signing.key')));
    assert.ok(!readdirSync(dir).some((f) => readFileSync(join(dir, f)).includes('PRIVATE+KEY')), 'no private key in the ledger directory');
    l.close();
    // The config remembers where the key is.
    const reopened = Ledger.open({ dir, explicit: true });
    reopened.append([note('signed by the outside key')]);
    assert.doesNotThrow(() => openCheckpoint(reopened.checkpoint(), [reopened.verifier], reopened.origin));
    reopened.close();
    // A key made beforehand is used, not replaced.
    const dir2 = join(tmp.dir, `l${counter++}`);
    const keyText = readFileSync(keyPath, 'utf8');
    const l2 = Ledger.init(dir2, { keyPath });
    assert.equal(readFileSync(keyPath, 'utf8'), keyText);
    assert.equal(l2.vkey, reopened.vkey);
    l2.close();
  });

  it('refuses to sign with a key that is not the ledger’s', () => {
    const a = fresh();
    const b = fresh();
    a.close();
    b.close();
    const l = Ledger.open({ dir: a.dir, explicit: true }, { keyPath: join(b.dir, 'signing.key') });
    assert.throws(() => l.append([note('x')]), code('KEY'));
    assert.equal(l.size(), 0);
    l.close();
    const g = Ledger.open({ dir: a.dir, explicit: true }, { keyPath: join(a.dir, 'config.json') });
    assert.throws(() => g.append([note('x')]), code('KEY'));
    g.close();
  });

  it('refuses a config.json that is not a regular file instead of waiting on it (a FIFO planted in the folder)', () => {
    const dir = join(tmp.dir, 'fifo-config');
    Ledger.init(dir).close();
    rmSync(join(dir, 'config.json'));
    assert.equal(spawnSync('mkfifo', [join(dir, 'config.json')]).status, 0);
    const started = Date.now();
    assert.throws(() => Ledger.open({ dir, explicit: true }), (e: unknown) => e instanceof FfauditError && e.code === 'USAGE' && /config\.json: it is not a regular file/.test(e.message));
    assert.ok(Date.now() - started < 5000, 'no wait on the FIFO');
  });

  it('refuses a redaction.key that is not a regular file instead of waiting on it (every audited run reads it)', () => {
    const l = Ledger.init(join(tmp.dir, 'fifo-redaction'));
    rmSync(join(l.dir, 'redaction.key'));
    assert.equal(spawnSync('mkfifo', [join(l.dir, 'redaction.key')]).status, 0);
    const started = Date.now();
    assert.throws(() => l.redactionKey(), (e: unknown) => e instanceof FfauditError && e.code === 'KEY' && /redaction\.key: it is not a regular file/.test(e.message));
    assert.ok(Date.now() - started < 5000, 'no wait on the FIFO');
    l.close();
  });

  it('never creates a ledger named explicitly', () => {
    const dir = join(tmp.dir, 'missing', 'ledger');
    assert.throws(() => Ledger.open({ dir, explicit: true }, { autoCreate: true }), code('NO_LEDGER'));
    assert.ok(!existsSync(dir));
    let created: Ledger | undefined;
    const l = Ledger.open({ dir, explicit: false }, { autoCreate: true, onCreate: (x) => (created = x) });
    assert.equal(created, l);
    assert.ok(existsSync(join(dir, 'ledger.db')));
    l.close();
  });
});

describe('append', () => {
  const l = fresh('example.org/append');
  after(() => l.close());
  const vkey = l.vkey;

  it('appends one entry, then a batch, each covered by a fresh signed checkpoint', () => {
    const r1 = l.append([note('one')]);
    assert.deepEqual(r1.indices, [0]);
    assert.equal(r1.size, 1);
    assert.equal(l.checkpoint(), r1.checkpoint);
    const r2 = l.append([note('two'), note('three'), note('four'), note('five')]);
    assert.deepEqual(r2.indices, [1, 2, 3, 4]);
    assert.equal(r2.size, 5);
    assert.equal(l.checkpoint(), r2.checkpoint);
    for (const r of [r1, r2]) {
      // Our verifier, the ledger's vkey, and a check written from the spec with node:crypto alone agree.
      const cp = openCheckpoint(r.checkpoint, [parseVerifierKey(vkey)], 'example.org/append');
      const ind = independentlyOpenCheckpoint(r.checkpoint, vkey);
      assert.equal(ind.origin, 'example.org/append');
      assert.equal(ind.size, r.size);
      assert.deepEqual(ind.root, cp.root);
    }
    // The signed root is the naive MTH of the stored entries' bytes.
    assert.deepEqual(parseSignedCheckpoint(l.checkpoint()).root, naiveRoot(leavesOf(l)));
  });

  it('stores the canonical bytes of each entry, and hashes exactly them', () => {
    const bytes = l.entry(2);
    const e = parseEntry(bytes);
    assert.equal(e.type, 'custody.note');
    assert.equal((e as unknown as { text: string }).text, 'three');
    assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(l.treeNode(0, 2).toString('hex'), hashLeaf(bytes).toString('hex'));
    assert.throws(() => l.entry(5), code('NOT_FOUND'));
    assert.throws(() => l.entry(-1), code('NOT_FOUND'));
  });

  it('serves inclusion proofs for every index that verify, and match the RFC 6962 PATH', () => {
    for (let k = 0; k < 9; k++) l.append([note(`more ${k}`)]);
    const size = l.size();
    assert.equal(size, 14);
    const leaves = leavesOf(l);
    const root = naiveRoot(leaves);
    for (let i = 0; i < size; i++) {
      const receipt = l.proof(i);
      const p = verifyTlogProof(receipt, leaves[i]!, [l.verifier], l.origin);
      assert.deepEqual(p.proof, naivePath(leaves, i), `index ${i}`);
      assert.ok(verifyInclusion(leaves[i]!, i, size, p.proof, root));
    }
    assert.throws(() => l.proof(size), code('NOT_FOUND'));
  });

  it('serves consistency proofs between every pair of sizes that verify against the signed roots', () => {
    const leaves = leavesOf(l);
    const size = leaves.length;
    for (let b = 0; b <= size; b++) {
      for (let a = 0; a <= b; a++) {
        const proof = l.consistency(a, b);
        assert.deepEqual(proof, naiveConsistency(leaves.slice(0, b), a), `${a} → ${b}`);
        if (a > 0 || b === 0) assert.ok(verifyConsistency(a, b, proof, naiveRoot(leaves.slice(0, a)), naiveRoot(leaves.slice(0, b))), `${a} → ${b}`);
        assert.deepEqual(l.storedRoot(b), naiveRoot(leaves.slice(0, b)));
      }
    }
    assert.throws(() => l.consistency(3, size + 1), code('NOT_FOUND'));
    assert.throws(() => l.consistency(4, 3), code('USAGE'));
    assert.throws(() => l.consistency(-1), code('NOT_FOUND'));
  });

  it('keeps the first checkpoint and one each time the log crosses a multiple of the keep interval', async () => {
    const m = fresh();
    m.append([note('first')]);
    const batch = Array.from({ length: KEEP_CHECKPOINT_EVERY + 10 }, (_, i) => note(`batch ${i}`));
    m.append(batch);
    m.append([note('last')]);
    const store = SqliteStore.open(join(m.dir, 'ledger.db'));
    const keptCheckpoints = store.keptCheckpoints();
    store.close();
    assert.deepEqual(keptCheckpoints.map((k) => k.size), [1, KEEP_CHECKPOINT_EVERY + 11]);
    for (const k of keptCheckpoints) assert.equal(openCheckpoint(k.checkpoint, [m.verifier]).size, k.size);
    assert.ok((await m.verify()).ok);
    m.close();
  });

  it('moves a field too large for an entry (> 64 KiB) into a content-addressed blob that reads back', async () => {
    const big = 'x'.repeat(100_000);
    const r = l.append([{ ...note('large'), report: { log: big } }]);
    const bytes = l.entry(r.indices[0]!);
    assert.ok(bytes.length <= MAX_ENTRY_BYTES, `${bytes.length} bytes`);
    const e = parseEntry(bytes) as EntryBase & { report: unknown };
    assert.ok(isBlobRef(e.report));
    const blob = l.blob(e.report.$blob);
    assert.deepEqual(blob, Buffer.from(JSON.stringify({ log: big })));
    const resolved = resolveBlobs(e, (h) => l.blob(h));
    assert.deepEqual(resolved.report, { log: big });
    assert.ok((await l.verify()).ok);
    assert.equal(l.blob('0'.repeat(64)), undefined);
  });
});

describe('many processes appending at the same moment', () => {
  it('gives each of 16 processes its own index, and the log verifies', async () => {
    const l = fresh();
    l.append([note('before')]);
    l.close();
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => runCliAsync(['--ledger', l.dir, 'note', `writer ${i}`, '--json'], cleanEnv())),
    );
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    const indices = results.map((r) => (JSON.parse(r.stdout) as { index: number }).index).sort((a, b) => a - b);
    assert.deepEqual(indices, Array.from({ length: 16 }, (_, i) => i + 1));
    const again = Ledger.open({ dir: l.dir, explicit: true });
    assert.equal(again.size(), 17);
    const texts = new Set(Array.from({ length: 16 }, (_, i) => (parseEntry(again.entry(i + 1)) as unknown as { text: string }).text));
    assert.equal(texts.size, 16);
    const report = await again.verify();
    assert.deepEqual(report.problems, []);
    assert.ok(report.ok);
    again.close();
  });
});

describe('durability settings', () => {
  it('runs SQLite in WAL mode', () => {
    const l = fresh();
    l.append([note('x')]);
    l.close();
    // The database header records WAL mode as file format version 2 at offsets 18 and 19 (sqlite.org/fileformat2).
    const header = readFileSync(join(l.dir, 'ledger.db')).subarray(18, 20);
    assert.deepEqual([...header], [2, 2]);
  });
});
