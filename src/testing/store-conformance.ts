/**
 * What every Store backend must get right (types.ts), as node:test tests any backend's test file registers with
 * its own factory: `storeConformance('SQLite', backend)`. The contract is read from the interface's comments and
 * from what ledger/ relies on: the append path (ledger.ts append), the index fill (index-entry.ts) and the readers
 * (verify, trace). Every test names the broken backend it catches. Test-only: nothing outside tests imports it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { consistencyProof, Frontier, hashLeaf, inclusionProof, rootAt } from '../core/merkle.js';
import { naiveConsistency, naivePath, naiveRoot } from './fixtures.js';
import type { AppendTx, CosignatureRow, RunIndexRow, Store, TimestampRow } from '../store/types.js';

export interface StoreBackend {
  /** A new, empty store open for writing (as `ffaudit init` leaves it, before any append). */
  create(): Store;
  /** The same stored data opened again, after `closed` was closed: read-only when asked. */
  reopen(closed: Store, opts: { readOnly: boolean }): Store;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** Entry bytes that are not text: a backend that stores them as strings loses them. */
const entryBytes = (i: number) => Buffer.concat([Buffer.from(`{"i":${i}}`), Buffer.from([0x00, 0xff, 0xfe, i & 0xff])]);
const leafOf = (i: number) => hashLeaf(entryBytes(i));

/** Appends entries from…to−1 as Ledger.append does: leaves, the nodes the frontier completes, the head. */
function appendLeaves(store: Store, from: number, to: number, keep = false): void {
  store.appendTransaction((tx) => {
    const f = Frontier.at(tx, tx.head()?.size ?? 0);
    assert.equal(f.size, from);
    for (let i = from; i < to; i++) {
      tx.insertEntry(i, leafOf(i), entryBytes(i));
      f.push(leafOf(i), (level, index, hash) => tx.insertNode(level, index, hash));
    }
    tx.setHead(to, `checkpoint ${to}\n`, keep);
  });
}

/** A cosignature row (the store checks nothing: the ledger verifies lines before storing and after reading them). */
function stamp(size: number, token: string, over: Partial<TimestampRow> = {}): TimestampRow {
  const der = Buffer.from(token);
  return {
    tokenHash: createHash('sha256').update(der).digest(),
    size,
    root: createHash('sha256').update(`root ${size}`).digest(),
    checkpoint: `checkpoint ${size}\n`,
    renews: null,
    tsa: 'https://tsa.example',
    genTime: `2026-01-0${size % 9}T00:00:00.000Z`,
    signerNotAfter: '2027-01-01T00:00:00.000Z',
    token: der,
    ...over,
  };
}

function cosig(size: number, name: string, over: Partial<CosignatureRow> = {}): CosignatureRow {
  return {
    size,
    root: createHash('sha256').update(`root ${size}`).digest(),
    name,
    keyId: createHash('sha256').update(name).digest().subarray(0, 4),
    timestamp: 1_700_000_000 + size,
    line: `\u2014 ${name} ${Buffer.from(`${name} ${size}`).toString('base64')}\n`,
    checkpoint: `checkpoint ${size}\n`,
    server: 'https://audit.example',
    ...over,
  };
}

function run(id: string, startIndex: number, over: Partial<RunIndexRow> = {}): RunIndexRow {
  return { id, startIndex, endIndex: null, tool: 'ffmpeg', user: 'alice', time: '2026-01-01T00:00:00.000000000Z', status: null, ...over };
}

export function storeConformance(name: string, backend: StoreBackend): void {
  const open: Store[] = [];
  const fresh = () => {
    const s = backend.create();
    open.push(s);
    return s;
  };
  const reopen = (s: Store, readOnly = false) => {
    s.close();
    const r = backend.reopen(s, { readOnly });
    open.push(r);
    return r;
  };
  after(() => {
    for (const s of open) {
      try {
        s.close();
      } catch {
        // closed by the test itself
      }
    }
  });

  describe(`Store conformance: ${name}`, () => {
    it('starts empty', () => {
      // Guards: a new store that reports a head, entries or index coverage it never had (a reader would trust them).
      const s = fresh();
      assert.equal(s.head(), undefined);
      assert.equal(s.readOnly, false);
      assert.equal(s.entryCount(), 0);
      assert.equal(s.maxEntryIndex(), -1);
      assert.deepEqual(s.entries(0, 10), []);
      assert.deepEqual(s.keptCheckpoints(), []);
      assert.deepEqual(s.blobHashes(), []);
      assert.equal(s.indexedSize(), 0);
      assert.equal(s.storedIndexedSize(), 0);
      assert.deepEqual(s.runs(), []);
      assert.deepEqual(s.integrityCheck(), []);
      assert.deepEqual(s.missingTriggers(), []);
    });

    describe('head and checkpoints', () => {
      it('keeps the latest head, and a checkpoint in the history only when asked to, oldest first', () => {
        // Guards: a head that is not the last one set (appends would fork the tree), a history that keeps every
        // checkpoint or none (verify checks the kept ones for consistency), or one out of order.
        const s = fresh();
        appendLeaves(s, 0, 1, true);
        appendLeaves(s, 1, 3, false);
        appendLeaves(s, 3, 4, true);
        assert.deepEqual(s.head(), { size: 4, checkpoint: 'checkpoint 4\n' });
        assert.deepEqual(s.keptCheckpoints(), [
          { size: 1, checkpoint: 'checkpoint 1\n' },
          { size: 4, checkpoint: 'checkpoint 4\n' },
        ]);
        s.appendTransaction((tx) => assert.deepEqual(tx.head(), { size: 4, checkpoint: 'checkpoint 4\n' }, 'the transaction reads the committed head'));
        const r = reopen(s);
        assert.deepEqual(r.head(), { size: 4, checkpoint: 'checkpoint 4\n' }, 'the head is durable');
        assert.equal(r.keptCheckpoints().length, 2);
      });
    });

    describe('entries', () => {
      it('reads back exact bytes over half-open ranges, in index order, whatever the insertion order', () => {
        // Guards: off-by-one ranges (verify would skip or double an entry), results in insertion order, or bytes
        // altered on the way (the leaf hash is over the stored bytes: docs/design.md invariant 1).
        const s = fresh();
        s.appendTransaction((tx) => {
          for (const i of [4, 0, 3, 1, 2]) tx.insertEntry(i, leafOf(i), entryBytes(i));
        });
        assert.deepEqual(s.entries(1, 4).map((e) => e.index), [1, 2, 3]);
        assert.deepEqual(s.entries(0, 5).map((e) => e.data), [0, 1, 2, 3, 4].map(entryBytes));
        assert.deepEqual(s.entries(0, 5).map((e) => e.leaf), [0, 1, 2, 3, 4].map(leafOf));
        assert.deepEqual(s.entryData(2, 9), [2, 3, 4].map((i) => ({ index: i, data: entryBytes(i) })));
        assert.deepEqual(s.entry(3), { index: 3, leaf: leafOf(3), data: entryBytes(3) });
        assert.equal(s.entry(5), undefined);
        assert.deepEqual(s.entries(3, 3), []);
        assert.equal(s.entryCount(), 5);
        assert.equal(s.maxEntryIndex(), 4);
      });

      it('gives leaf ‖ 0x00 ‖ data per entry, the message the leaf hashes (RFC 6962 §2.1)', () => {
        // Guards: a separator or order that differs (verify hashes from byte 32 on and compares with the leaf).
        const s = fresh();
        appendLeaves(s, 0, 3);
        const got = s.leafAndData(1, 3);
        assert.deepEqual(got.map(([i]) => i), [1, 2]);
        for (const [i, b] of got) {
          assert.ok(b);
          assert.ok(b.subarray(0, 32).equals(leafOf(i)));
          assert.ok(createHash('sha256').update(b.subarray(32)).digest().equals(leafOf(i)));
        }
      });

      it('keeps every entry of a large append (more than any batch a backend may buffer)', () => {
        // Guards: a backend that batches inserts and drops the last partial batch, or one full batch.
        const s = fresh();
        appendLeaves(s, 0, 300);
        assert.equal(s.entryCount(), 300);
        assert.deepEqual(s.entryData(0, 300).map((e) => e.index), [...Array(300).keys()]);
        assert.ok(s.entry(299)?.data.equals(entryBytes(299)));
      });

      it('finds entries holding some bytes, only within the range asked', () => {
        // Guards: a search that ignores the range (trace would read entries past the head), or compares as text.
        const s = fresh();
        appendLeaves(s, 0, 6);
        const needle = Buffer.from([0x00, 0xff, 0xfe, 0x03]);
        assert.deepEqual(s.indicesContaining(needle, 0, 6), [3]);
        assert.deepEqual(s.indicesContaining(needle, 0, 3), []);
        assert.deepEqual(s.indicesContaining(Buffer.from('{"i":'), 2, 5), [2, 3, 4]);
      });

      it('lists the entries no checkpoint covers, in index order, at most as many as asked', () => {
        // Guards: verify missing entries beyond the head (an append that never committed its checkpoint, or a forgery).
        const s = fresh();
        appendLeaves(s, 0, 3);
        s.appendTransaction((tx) => {
          tx.insertEntry(4, leafOf(4), entryBytes(4));
          tx.insertEntry(3, leafOf(3), entryBytes(3));
          tx.insertEntry(-1, leafOf(9), entryBytes(9));
        });
        assert.deepEqual(s.head()?.size, 3);
        assert.deepEqual(s.entriesOutside(3, 10).map((e) => e.index), [-1, 3, 4]);
        assert.deepEqual(s.entriesOutside(3, 2).map((e) => e.index), [-1, 3]);
        assert.equal(s.maxEntryIndex(), 4, 'whatever the head says');
      });

      it('never replaces an entry once written (docs/design.md invariant 1)', () => {
        // Guards: an insert at an existing index that overwrites it (upsert) instead of failing the transaction.
        const s = fresh();
        appendLeaves(s, 0, 2);
        assert.throws(() => s.appendTransaction((tx) => tx.insertEntry(1, leafOf(7), entryBytes(7))));
        assert.ok(s.entry(1)?.data.equals(entryBytes(1)));
      });
    });

    describe('tree nodes', () => {
      it('serves perfect subtrees from which the roots and proofs of RFC 9162 are computed', () => {
        // Guards: leaves not served as level 0, nodes stored under the wrong (level, index), or nodes written by
        // an earlier transaction not found by the next (Frontier.at reads them through the transaction).
        const s = fresh();
        const n = 13;
        appendLeaves(s, 0, 5);
        appendLeaves(s, 5, 8);
        appendLeaves(s, 8, n);
        const leaves = [...Array(n).keys()].map(leafOf);
        assert.ok(s.perfect(0, 6).equals(leaves[6]!));
        assert.ok(s.perfect(3, 0).equals(naiveRoot(leaves.slice(0, 8))));
        for (const size of [1, 5, 8, n]) assert.ok(rootAt(s, size).equals(naiveRoot(leaves.slice(0, size))), `root at ${size}`);
        for (const m of [0, 4, 7, 12]) assert.deepEqual(inclusionProof(s, m, n), naivePath(leaves, m));
        assert.deepEqual(consistencyProof(s, 5, n), naiveConsistency(leaves, 5));
      });

      it('fails on a node it does not hold, rather than answering something', () => {
        // Guards: a missing node read as undefined or zeros (a wrong root would be signed, or verified).
        const s = fresh();
        appendLeaves(s, 0, 3);
        assert.throws(() => s.perfect(1, 1));
        assert.throws(() => s.perfect(0, 3));
        assert.throws(() => s.perfect(2, 0));
      });

      it('reads node ranges inclusive at both ends, packed only when every node is there', () => {
        // Guards: verify's bulk read of a level missing its last node, or packing a level with a hole in it.
        const s = fresh();
        appendLeaves(s, 0, 8);
        const level1 = s.nodesInRange(1, 0, 3);
        assert.deepEqual([...level1.keys()].sort(), [0, 1, 2, 3]);
        assert.ok(level1.get(2)!.equals(naiveRoot([4, 5].map(leafOf))));
        assert.deepEqual([...s.nodesInRange(1, 1, 2).keys()].sort(), [1, 2]);
        const packed = s.packedHashes(1, 1, 3);
        assert.ok(packed);
        assert.ok(packed.equals(Buffer.concat([1, 2, 3].map((i) => level1.get(i)!))));
        assert.equal(s.packedHashes(1, 2, 4), undefined, 'node (1, 4) is not there');
        assert.equal(s.packedHashes(3, 0, 1), undefined);
      });
    });

    describe('blobs', () => {
      it('returns a blob as stored: codec, exact bytes, and the size it was given; undefined when absent', () => {
        // Guards: bytes re-encoded as text, a size computed from the stored (compressed) bytes, or an absent blob
        // answered with something.
        const s = fresh();
        const gz = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00]);
        const a = sha('report');
        const b = sha('file list');
        s.appendTransaction((tx) => {
          tx.putBlob(a, 'gzip', gz, 6000);
          tx.putBlob(b, 'identity', Buffer.from('file list'), 9);
        });
        assert.deepEqual(s.blob(a), { codec: 'gzip', data: gz, size: 6000 });
        assert.deepEqual(s.blob(b), { codec: 'identity', data: Buffer.from('file list'), size: 9 });
        assert.equal(s.blob(sha('nothing')), undefined);
        assert.deepEqual(s.blobHashes().sort(), [a, b].sort());
      });

      it('accepts the same blob twice (content-addressed), keeping the first', () => {
        // Guards: an append failing because an entry names a blob another entry already stored (encodeEntry puts
        // every large file list, even one stored before).
        const s = fresh();
        const h = sha('x');
        s.appendTransaction((tx) => tx.putBlob(h, 'identity', Buffer.from('x'), 1));
        s.appendTransaction((tx) => tx.putBlob(h, 'identity', Buffer.from('x'), 1));
        assert.deepEqual(s.blob(h), { codec: 'identity', data: Buffer.from('x'), size: 1 });
        assert.equal(s.blobHashes().length, 1);
      });
    });

    describe('append transactions', () => {
      it('returns what the function returns, and commits everything it did', () => {
        const s = fresh();
        assert.equal(s.appendTransaction(() => 42), 42);
      });

      it('leaves nothing of a transaction that throws: entries, nodes, head, checkpoints, blobs, metadata', () => {
        // Guards: a partial append made visible (an entry without its checkpoint, a head without its entries), a
        // backend that commits its insert batches as they fill, or one whose error leaves the write lock held.
        const s = fresh();
        appendLeaves(s, 0, 2, true);
        const blob = sha('lost');
        assert.throws(
          () =>
            s.appendTransaction((tx: AppendTx) => {
              const f = Frontier.at(tx, 2);
              for (let i = 2; i < 300; i++) {
                tx.insertEntry(i, leafOf(i), entryBytes(i));
                f.push(leafOf(i), (l, x, h) => tx.insertNode(l, x, h));
              }
              tx.putBlob(blob, 'identity', Buffer.from('lost'), 4);
              s.setMeta('lost', 'yes');
              tx.setHead(300, 'checkpoint 300\n', true);
              throw new Error('the signer failed');
            }),
          /the signer failed/,
        );
        assert.equal(s.entryCount(), 2);
        assert.equal(s.maxEntryIndex(), 1);
        assert.deepEqual(s.head(), { size: 2, checkpoint: 'checkpoint 2\n' });
        assert.deepEqual(s.keptCheckpoints(), [{ size: 2, checkpoint: 'checkpoint 2\n' }]);
        assert.equal(s.blob(blob), undefined);
        assert.equal(s.meta('lost'), undefined);
        assert.throws(() => s.perfect(1, 1), 'no node of the failed append');
        appendLeaves(s, 2, 3);
        assert.equal(s.head()?.size, 3, 'the store takes the next append');
      });
    });

    describe('metadata', () => {
      it('stores values durably, with what init writes inside an append transaction, and never replaces one', () => {
        // Guards: metadata lost on reopen (the ledger's origin and key), metadata written in init's transaction
        // not committed with it, or an origin silently replaced.
        const s = fresh();
        assert.equal(s.meta('origin'), undefined);
        s.appendTransaction(() => s.setMeta('origin', 'example.com/log'));
        s.setMeta('vkey', 'example.com/log+01234567+AQ==');
        try {
          s.setMeta('origin', 'elsewhere');
        } catch {
          // refusing is as good as ignoring: either way the first value stays
        }
        const r = reopen(s);
        assert.equal(r.meta('origin'), 'example.com/log');
        assert.equal(r.meta('vkey'), 'example.com/log+01234567+AQ==');
      });
    });

    describe('derived indexes', () => {
      const h1 = sha('one');
      const h2 = sha('two');
      /** Runs a (start 0, end 1), b (start 2, no end), c (start 3, end 4), and file rows for them. */
      function filled(): Store {
        const s = fresh();
        s.indexTransaction((tx) => {
          tx.indexRun(run('a1', 0, { time: '2026-01-01T00:00:00.000000000Z' }));
          tx.indexFile(h1, '/m/in.wav', 0, 'input');
          tx.indexRun(run('a1', 1, { startIndex: 0, endIndex: 1, tool: '', status: 'ok', time: '2026-01-01T00:00:09.000000000Z' }));
          tx.indexFile(h1, '/m/in.wav', 1, 'input');
          tx.indexFile(h2, '/m/out.mp4', 1, 'output');
          tx.indexRun(run('b2', 2, { user: 'bob', tool: 'ffprobe', time: '2026-01-02T00:00:00.000000000Z' }));
          tx.indexRun(run('c_%', 3, { time: '2026-01-03T00:00:00.000000000Z' }));
          tx.indexFile(h2, '/m/out.mp4', 3, 'input');
          tx.indexRun(run('c_%', 4, { startIndex: 3, endIndex: 4, tool: '', status: 'failed' }));
          tx.indexFile(null, '/m/unhashed.mp4', 4, 'output');
          tx.setIndexedSize(5);
        });
        return s;
      }

      it('keeps a run as its start described it, with the end its end gave', () => {
        // Guards: the end's row (no tool) replacing the start's, or a second row per run (index-entry.ts indexes both).
        const s = filled();
        assert.deepEqual(s.runById('a1'), { id: 'a1', startIndex: 0, endIndex: 1, tool: 'ffmpeg', user: 'alice', time: '2026-01-01T00:00:00.000000000Z', status: 'ok' });
        assert.deepEqual(s.runs().map((r) => r.id), ['a1', 'b2', 'c_%']);
        assert.equal(s.runById('zz'), undefined);
        assert.equal(s.runByIndex(1)?.id, 'a1', 'by its end');
        assert.equal(s.runByIndex(3)?.id, 'c_%', 'by its start');
        assert.equal(s.runByIndex(9), undefined);
      });

      it('finds files by content and role, ascending', () => {
        // Guards: hits of another role (an input taken for the output that produced it: a false lineage), or
        // unordered hits (run-end.ts takes the last producer before the run).
        const s = filled();
        assert.deepEqual(s.indicesByFileHashRole(h1, 'input'), [0, 1]);
        assert.deepEqual(s.indicesByFileHashRole(h2, 'output'), [1]);
        assert.deepEqual(s.indicesByFileHashRole(h2, 'input'), [3]);
        assert.deepEqual(s.indicesByFileHashRole(sha('none'), 'input'), []);
        assert.deepEqual(s.indicesByFileHashRole('not hex', 'input'), []);
      });

      it('finds runs by id prefix literally, at most as many as asked, oldest first', () => {
        // Guards: a prefix used as a pattern ('%', '_' are user input), or a limit ignored.
        const s = filled();
        assert.deepEqual(s.runsByIdPrefix('c_', 10).map((r) => r.id), ['c_%']);
        assert.deepEqual(s.runsByIdPrefix('c%', 10), []);
        assert.deepEqual(s.runsByIdPrefix('_', 10), []);
        assert.deepEqual(s.runsByIdPrefix('', 2).map((r) => r.id), ['a1', 'b2']);
      });

      it('answers run queries newest first, every condition applied', () => {
        // Guards: `ffaudit log` filters that are dropped or combined with OR, paging that repeats runs.
        const s = filled();
        const ids = (q: Parameters<Store['runsWhere']>[0]) => s.runsWhere(q).map((r) => r.id);
        assert.deepEqual(ids({ limit: 10 }), ['c_%', 'b2', 'a1']);
        assert.deepEqual(ids({ limit: 1 }), ['c_%']);
        assert.deepEqual(ids({ beforeStart: 3, limit: 10 }), ['b2', 'a1']);
        assert.deepEqual(ids({ user: 'bob', limit: 10 }), ['b2']);
        assert.deepEqual(ids({ tool: 'ffmpeg', statuses: ['ok', null], limit: 10 }), ['a1']);
        assert.deepEqual(ids({ statuses: [null], limit: 10 }), ['b2']);
        assert.deepEqual(ids({ statuses: [], limit: 10 }), []);
        assert.deepEqual(ids({ since: '2026-01-02T00:00:00.000000000Z', limit: 10 }), ['c_%', 'b2']);
        assert.deepEqual(ids({ until: '2026-01-02T00:00:00.000000000Z', limit: 10 }), ['b2', 'a1']);
        assert.deepEqual(ids({ fileSha256: h2, limit: 10 }), ['c_%', 'a1']);
        assert.deepEqual(ids({ filePath: '/m/unhashed.mp4', limit: 10 }), ['c_%']);
        assert.deepEqual(ids({ filePath: '/m/in.wav', user: 'bob', limit: 10 }), []);
        assert.deepEqual(
          s.runsBetween('2026-01-02T00:00:00.000000000Z', null).map((r) => r.id),
          ['b2', 'c_%'],
        );
        assert.deepEqual(s.runsBetween(null, '2026-01-01T00:00:00.000000000Z').map((r) => r.id), ['a1']);
      });

      it('gives the rows pointing into a range, for verify to check against the entries', () => {
        // Guards: rows outside the range reported (false mismatches) or rows inside it left out (a forged row
        // never checked: docs/design.md invariant 5).
        const s = filled();
        const d = s.derivedRows(1, 4);
        // In index order; rows of one entry in any order.
        assert.deepEqual(d.files.map(([i]) => i), [1, 1, 3]);
        assert.deepEqual(d.files.map(([i, r]) => `${i} ${r}`).sort(), [`1 input ${h1}`, `1 output ${h2}`, `3 input ${h2}`]);
        assert.deepEqual(d.runs.map((r) => r.id).sort(), ['a1', 'b2', 'c_%']);
        assert.deepEqual(s.derivedRows(2, 3).runs.map((r) => r.id), ['b2']);
      });

      it('finds rows in any part of a long log', () => {
        // Guards: a lookup that stops early in a log split into parts (SQLite keeps one per 65,536 entries).
        const s = fresh();
        s.indexTransaction((tx) => {
          tx.indexFile(h1, '/a', 5, 'output');
          tx.indexFile(h1, '/a', 200_000, 'output');
          tx.indexRun(run('far', 200_000));
          tx.setIndexedSize(200_001);
        });
        assert.deepEqual(s.indicesByFileHashRole(h1, 'output'), [5, 200_000]);
        assert.deepEqual(s.runsWhere({ fileSha256: h1, limit: 5 }).map((r) => r.id), ['far']);
        assert.deepEqual(s.derivedRows(199_999, 200_001).files, [[200_000, `output ${h1}`]]);
      });

      it('keeps a watermark of what it covers, read inside the update too, and clears everything with it', () => {
        // Guards: an index update that redoes or skips entries (updateIndex reads the watermark under the lock),
        // or a clear that leaves rows a rebuild would then duplicate or contradict.
        const s = filled();
        assert.equal(s.indexedSize(), 5);
        assert.equal(s.storedIndexedSize(), 5);
        s.indexTransaction((tx) => assert.equal(tx.indexedSize(), 5));
        s.indexTransaction((tx) => tx.clear());
        assert.equal(s.indexedSize(), 0);
        assert.deepEqual(s.runs(), []);
        assert.deepEqual(s.indicesByFileHashRole(h1, 'input'), []);
        assert.deepEqual(s.runsWhere({ filePath: '/m/in.wav', limit: 5 }), []);
        assert.deepEqual(s.derivedRows(0, 5), { files: [], runs: [] });
      });

      it('leaves nothing of an index update that throws', () => {
        // Guards: a watermark committed without its rows (those entries would never be indexed).
        const s = filled();
        assert.throws(() =>
          s.indexTransaction((tx) => {
            tx.indexRun(run('zz', 9));
            tx.indexFile(h1, '/z', 9, 'output');
            tx.setIndexedSize(10);
            throw new Error('interrupted');
          }),
        );
        assert.equal(s.indexedSize(), 5);
        assert.equal(s.runById('zz'), undefined);
        assert.deepEqual(s.indicesByFileHashRole(h1, 'output'), []);
      });
    });

    describe('cosignatures', () => {
      it('keeps each row exactly, by size then cosigner, once per size, root and key; durable', () => {
        // Guards: a cosignature line or checkpoint altered on the way (verify checks them byte for byte), a second
        // push of the same checkpoint stored twice, two roots cosigned at one size (evidence of a lying server)
        // collapsed into one, or rows that do not survive a reopen.
        const s = fresh();
        assert.deepEqual(s.cosignatures(), []);
        assert.equal(s.lastCosigned(), undefined);
        const rows = [cosig(5, 'b.example/witness'), cosig(3, 'b.example/witness'), cosig(5, 'a.example/mirror')];
        assert.equal(s.addCosignatures(rows), 3);
        assert.equal(s.addCosignatures([cosig(5, 'b.example/witness', { timestamp: 1, line: 'later\n' })]), 0, 'the first row of a size, root and key is kept');
        const other = cosig(5, 'b.example/witness', { root: Buffer.alloc(32, 7) });
        assert.equal(s.addCosignatures([other]), 1, 'another root at the same size is kept beside the first');
        const r = reopen(s);
        assert.deepEqual(
          r.cosignatures().map((c) => [c.size, c.name]),
          [[3, 'b.example/witness'], [5, 'a.example/mirror'], [5, 'b.example/witness'], [5, 'b.example/witness']],
        );
        assert.deepEqual(r.cosignatures(3), [rows[1]]);
        assert.deepEqual(r.cosignatures(4), []);
        const five = r.cosignatures(5).find((c) => c.name === 'b.example/witness' && c.root.equals(rows[0]!.root));
        assert.deepEqual(five, rows[0]);
      });

      it('answers the largest cosigned size, the latest of that size, for a server or a cosigner', () => {
        // Guards: a push that restarts from an older size than the server holds (the witness answers 409 each
        // time), or one that takes another server's or the mirror's size for the witness's.
        const s = fresh();
        s.addCosignatures([
          cosig(7, 'w', { server: 'https://one.example', timestamp: 10 }),
          cosig(7, 'm', { server: 'https://one.example', timestamp: 20 }),
          cosig(9, 'w', { server: 'https://two.example' }),
          cosig(4, 'm', { server: 'https://one.example' }),
        ]);
        assert.equal(s.lastCosigned()?.size, 9);
        assert.deepEqual([s.lastCosigned({ server: 'https://one.example' })?.size, s.lastCosigned({ server: 'https://one.example' })?.name], [7, 'm']);
        assert.equal(s.lastCosigned({ name: 'm' })?.size, 7);
        assert.equal(s.lastCosigned({ server: 'https://one.example', name: 'w' })?.timestamp, 10);
        assert.equal(s.lastCosigned({ server: 'https://three.example' }), undefined);
      });

      it('stores all of a batch or none of it', () => {
        // Guards: half a server's answer stored (a witness cosignature without the checkpoint it signs).
        const s = fresh();
        assert.throws(() => s.addCosignatures([cosig(1, 'w'), cosig(2, 'w', { root: {} as Buffer })]));
        assert.deepEqual(s.cosignatures(), []);
      });
    });

    describe('timestamps', () => {
      it('keeps each token exactly, once, by size then time; renewals beside what they renew; durable', () => {
        // Guards: a token altered on the way (its signature would no longer verify), one stored twice, a renewal
        // losing the hash of the token it covers, or rows that do not survive a reopen.
        const s = fresh();
        assert.deepEqual(s.timestamps(), []);
        const a = stamp(5, 'token a');
        const b = stamp(3, 'token b');
        const renewal = stamp(5, 'token c', { renews: a.tokenHash, genTime: '2026-02-01T00:00:00.000Z' });
        assert.equal(s.addTimestamps([a, b, renewal]), 3);
        assert.equal(s.addTimestamps([{ ...a, tsa: 'https://other.example' }]), 0, 'a token already stored is kept as it was');
        const r = reopen(s);
        assert.deepEqual(r.timestamps(), [b, a, renewal]);
        assert.deepEqual(r.timestamps(5), [a, renewal]);
        assert.deepEqual(r.timestamps(4), []);
      });

      it('stores all of a batch or none of it, and a read-only store refuses', () => {
        const s = fresh();
        assert.throws(() => s.addTimestamps([stamp(1, 'x'), stamp(2, 'y', { token: {} as Buffer })]));
        assert.deepEqual(s.timestamps(), []);
        s.addTimestamps([stamp(1, 'x')]);
        const r = reopen(s, true);
        assert.throws(() => r.addTimestamps([stamp(2, 'y')]));
        assert.equal(r.timestamps().length, 1);
      });
    });

    describe('read-only', () => {
      it('reads everything, refuses every write to the log, and fills its indexes only for itself', () => {
        // Guards: a read-only store that writes anyway (an evidence copy altered), fails to read, or reports
        // indexes rebuilt in memory as the stored ones verify must check.
        const s = fresh();
        s.setMeta('origin', 'example.com/log');
        appendLeaves(s, 0, 4, true);
        const blob = sha('b');
        s.appendTransaction((tx) => tx.putBlob(blob, 'identity', Buffer.from('b'), 1));
        const r = reopen(s, true);
        assert.equal(r.readOnly, true);
        assert.equal(r.meta('origin'), 'example.com/log');
        assert.deepEqual(r.head(), { size: 4, checkpoint: 'checkpoint 4\n' });
        assert.ok(rootAt(r, 4).equals(naiveRoot([0, 1, 2, 3].map(leafOf))));
        assert.deepEqual(r.blob(blob)?.data, Buffer.from('b'));
        assert.throws(() => appendLeaves(r, 4, 5));
        assert.throws(() => r.setMeta('x', 'y'));
        assert.throws(() => r.appendTransaction((tx) => tx.putBlob(sha('c'), 'identity', Buffer.from('c'), 1)));
        assert.throws(() => r.addCosignatures([cosig(4, 'w')]));
        assert.deepEqual(r.cosignatures(), []);
        r.indexTransaction((tx) => {
          tx.indexRun(run('ro', 0));
          tx.setIndexedSize(4);
        });
        assert.equal(r.indexedSize(), 4);
        assert.equal(r.runById('ro')?.startIndex, 0);
        assert.equal(r.storedIndexedSize(), 0, 'what the store itself holds is unchanged');
        const again = reopen(r);
        assert.equal(again.readOnly, false);
        assert.equal(again.entryCount(), 4);
        assert.equal(again.indexedSize(), 0);
        assert.equal(again.runById('ro'), undefined);
        assert.equal(again.meta('x'), undefined);
      });
    });

    describe('close', () => {
      it('keeps everything for the next open, and answers nothing once closed', () => {
        // Guards: writes that only lived in a cache, or a closed store that still answers (stale data).
        const s = fresh();
        appendLeaves(s, 0, 3, true);
        s.indexTransaction((tx) => {
          tx.indexRun(run('k', 0));
          tx.setIndexedSize(3);
        });
        s.close();
        assert.throws(() => s.head());
        assert.throws(() => s.entries(0, 3));
        const r = backend.reopen(s, { readOnly: false });
        open.push(r);
        assert.equal(r.entryCount(), 3);
        assert.ok(rootAt(r, 3).equals(naiveRoot([0, 1, 2].map(leafOf))));
        assert.equal(r.runById('k')?.startIndex, 0);
        assert.equal(r.indexedSize(), 3);
      });
    });
  });
}
