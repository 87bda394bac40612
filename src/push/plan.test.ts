/**
 * The bodies a push sends, read back with core/'s own parsers (witness-protocol.ts, mirror-protocol.ts) and every
 * proof verified against the ledger's signed checkpoints: the RFC 6962 consistency proof of add-checkpoint, and
 * each package's subtree consistency proof, from subtree hashes recomputed here from the entries' bytes.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { openCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { hashLeaf, verifyConsistency } from '../core/merkle.js';
import { AddEntriesParser, PACKAGE_WIDTH, type EntryPackage } from '../core/mirror-protocol.js';
import { verifySubtreeConsistency } from '../core/subtree.js';
import { parseAddCheckpoint } from '../core/witness-protocol.js';
import { namedBlobs } from '../ledger/blob.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { naiveRoot, tempDir } from '../testing/fixtures.js';
import { addEntriesRequest, MAX_PACKAGES_PER_REQUEST, planPush } from './plan.js';

const tmp = tempDir('push-plan');
after(tmp.cleanup);

const SIZE = 9000; // more than 32 packages of 256: two add-entries requests from 0
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
let ledger: Ledger;
/** The signed checkpoint at each size the test appended to. */
const signed = new Map<number, SignedCheckpoint>();
/** Entries whose text is too large for an entry: each moved into a blob the entry names. */
const BLOB_AT = [3, 4000, 8999];

before(() => {
  ledger = Ledger.init(join(tmp.dir, 'ledger'), { origin: 'example.org/push-plan' });
  const keep = () => signed.set(ledger.size(), openCheckpoint(ledger.checkpoint(), [ledger.verifier], ledger.origin));
  for (let i = 0; i < SIZE; ) {
    const n = Math.min(i < 300 ? 100 : 1000, SIZE - i);
    ledger.append(Array.from({ length: n }, (_, k) => note(BLOB_AT.includes(i + k) ? `big ${i + k} ${'x'.repeat(70_000)}` : `entry ${i + k}`)));
    i += n;
    keep();
  }
});
after(() => ledger.close());

/** MTH of entries [start, end), from their bytes: independent of the stored tree. */
const subtreeHash = (start: number, end: number) => naiveRoot(ledger.entries(start, end).map((e) => hashLeaf(e)));

/** Reads a body with the mirror's own streaming parser, fed in odd chunks. */
function readBody(body: Buffer) {
  const p = new AddEntriesParser();
  const packages: EntryPackage[] = [];
  for (let i = 0; i < body.length; i += 9973) {
    p.push(body.subarray(i, i + 9973));
    for (let pkg = p.nextPackage(); pkg; pkg = p.nextPackage()) packages.push(pkg);
  }
  return { header: p.header()!, packages, finished: p.finished(), leftover: p.end() };
}

describe('planPush: add-checkpoint', () => {
  it('sends the head byte-exact with an RFC 6962 consistency proof from the size the witness holds', () => {
    for (const from of [0, 100, 300, 1300, SIZE]) {
      const plan = planPush(ledger, { witnessSize: from });
      assert.equal(plan.size, SIZE);
      assert.equal(plan.checkpoint, ledger.checkpoint());
      const r = parseAddCheckpoint(plan.addCheckpoint!.body);
      assert.equal(r.oldSize, from);
      assert.equal(r.checkpoint, ledger.checkpoint());
      const head = signed.get(SIZE)!;
      if (from === 0 || from === SIZE) assert.deepEqual(r.proof, []);
      else assert.ok(verifyConsistency(from, SIZE, r.proof, signed.get(from)!.root, head.root), `from ${from}`);
    }
    assert.equal(planPush(ledger, { witnessSize: SIZE, cosignedHead: true }).addCheckpoint, undefined, 'nothing to send for a checkpoint already cosigned');
  });

  it('refuses to plan when the witness holds more than the log (a rollback)', () => {
    assert.throws(() => planPush(ledger, { witnessSize: SIZE + 1 }), (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && /already cosigned a checkpoint of 9001 entries, but this log holds 9000/.test(e.message));
  });
});

describe('planPush: add-entries', () => {
  it('uploads from 0 in requests of at most 32 packages; each package verifies against the signed checkpoint', () => {
    const plan = planPush(ledger, { witnessSize: 0 });
    const root = signed.get(SIZE)!.root;
    let start = 0;
    const seen: number[] = [];
    while (start < SIZE) {
      const req = plan.addEntries(start)!;
      const { header, packages, finished, leftover } = readBody(req.body);
      assert.deepEqual({ origin: header.origin, uploadStart: header.uploadStart, uploadEnd: header.uploadEnd, ticket: header.ticket.length }, { origin: ledger.origin, uploadStart: start, uploadEnd: SIZE, ticket: 0 });
      assert.ok(packages.length <= MAX_PACKAGES_PER_REQUEST);
      assert.equal(req.packages, packages.length);
      assert.equal(leftover, false, 'a whole number of packages');
      assert.equal(finished, req.end === SIZE, 'a prefix of the canonical sequence, complete only at the end');
      for (const pkg of packages) {
        const { range } = pkg;
        assert.deepEqual(pkg.entries, ledger.entries(range.start, range.end));
        assert.ok(verifySubtreeConsistency(range.subtreeStart, range.end, SIZE, pkg.proof, subtreeHash(range.subtreeStart, range.end), root), `package [${range.start}, ${range.end})`);
        seen.push(range.start);
      }
      start = req.end;
    }
    assert.deepEqual(seen.length, Math.ceil(SIZE / PACKAGE_WIDTH));
    assert.equal(plan.addEntries(SIZE), undefined, 'nothing left to upload');
  });

  it('starts mid-package where the mirror says, with its ticket, and proves against an older pending checkpoint', () => {
    const plan = planPush(ledger, { witnessSize: 0 });
    const ticket = Buffer.from('opaque ticket');
    const req = plan.addEntries(300, 1300, ticket)!;
    const { header, packages } = readBody(req.body);
    assert.deepEqual([header.uploadStart, header.uploadEnd, header.ticket.toString()], [300, 1300, 'opaque ticket']);
    assert.deepEqual(packages.map((p) => [p.range.start, p.range.end, p.range.subtreeStart]), [[300, 512, 256], [512, 768, 512], [768, 1024, 768], [1024, 1280, 1024], [1280, 1300, 1280]]);
    for (const p of packages) {
      // The subtree [256, 512) includes entries the mirror already holds (256…299): they are hashed in, not sent.
      assert.ok(verifySubtreeConsistency(p.range.subtreeStart, p.range.end, 1300, p.proof, subtreeHash(p.range.subtreeStart, p.range.end), signed.get(1300)!.root));
    }
    assert.equal(packages[0]!.entries.length, 212);
  });

  it('names every blob the carried entries name, with the entry, and no other', () => {
    const req = addEntriesRequest(ledger, 0, SIZE)!;
    assert.equal(req.end, 32 * PACKAGE_WIDTH);
    assert.deepEqual(req.blobs.map((b) => b.index), [3, 4000]);
    for (const b of req.blobs) {
      assert.deepEqual(namedBlobs(ledger.entry(b.index)), [b.sha256]);
      assert.ok(ledger.blob(b.sha256)!.toString('utf8').includes(`big ${b.index} `));
    }
    assert.deepEqual(addEntriesRequest(ledger, req.end, SIZE)!.blobs.map((b) => b.index), [8999]);
  });

  it('never pushes an entry altered in the store: the checked read refuses it', () => {
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    const copyDir = join(tmp.dir, 'altered');
    cpSync(ledger.dir, copyDir, { recursive: true });
    const db = new Database(join(copyDir, 'ledger.db'));
    db.exec('DROP TRIGGER entries_no_update');
    db.prepare('UPDATE entries SET data = ? WHERE idx = 5').run(Buffer.from('{"forged":true}'));
    db.close();
    const l = Ledger.open({ dir: copyDir, explicit: true });
    try {
      assert.throws(() => addEntriesRequest(l, 0, 100), (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && /entry 5 was modified/.test(e.message));
    } finally {
      l.close();
    }
  });
});
