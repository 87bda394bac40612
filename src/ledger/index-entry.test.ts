import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import type { EntryBase } from '../core/entry.js';
import { tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { INDEX_SEGMENT, SqliteStore } from '../store/sqlite.js';
import { Ledger } from './ledger.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const tmp = tempDir('index');
after(tmp.cleanup);
let counter = 0;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const note = (i: number): EntryBase => ({
  v: 1,
  type: 'custody.note',
  time: nowRfc3339(),
  by: currentAuthor(),
  text: `note ${i}`,
  files: [{ path: `/media/clip-${i}.mov`, size: i, sha256: sha(`clip ${i}`) }],
});
function rows(l: Ledger, sql: string): unknown[] {
  const db = new Database(join(l.dir, 'ledger.db'), { readonly: true });
  try {
    return db.prepare(sql).raw().all();
  } finally {
    db.close();
  }
}
/** The size the indexes stored in the database cover, read from the file itself. */
function storedIndexedSize(l: Ledger): number {
  const store = SqliteStore.open(join(l.dir, 'ledger.db'));
  try {
    return store.indexedSize();
  } finally {
    store.close();
  }
}
const count = (l: Ledger, table: string) => (rows(l, `SELECT count(*) FROM ${table}`)[0] as number[])[0];

describe('the derived search indexes', () => {
  it('are not written by appends, and are brought up to the head by their first reader', () => {
    const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: 'test.example/index' });
    for (let i = 0; i < 5; i++) l.append([note(i)]);
    l.append([note(5), note(6)]);
    assert.equal(count(l, 'file_by_hash'), 0);
    assert.equal(count(l, 'file_by_path'), 0);
    assert.equal(storedIndexedSize(l), 0);
    assert.deepEqual(l.searchIndex().indicesByFileHashRole(sha('clip 3'), 'note'), [3]);
    assert.equal(storedIndexedSize(l), 7);
    assert.equal(count(l, 'file_by_hash'), 7);
    // Only what is new is indexed next time, and nothing twice.
    l.append([note(7)]);
    assert.deepEqual(l.searchIndex().indicesByFileHashRole(sha('clip 7'), 'note'), [7]);
    assert.equal(count(l, 'file_by_hash'), 8);
    assert.equal(count(l, 'file_by_path'), 8);
    l.close();
  });

  it('are rebuilt whole when dropped, and skip entries that do not parse', () => {
    const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: 'test.example/index' });
    for (let i = 0; i < 4; i++) l.append([note(i)]);
    l.searchIndex();
    const dbPath = join(l.dir, 'ledger.db');
    l.close();
    const db = new Database(dbPath);
    db.exec('DROP TABLE index_state; DROP TABLE file_by_hash; DROP TRIGGER entries_no_update');
    db.prepare("UPDATE entries SET data = CAST('not json' AS BLOB) WHERE idx = 1").run();
    db.close();
    const again = Ledger.open({ dir: l.dir, explicit: true });
    assert.equal(storedIndexedSize(again), 0);
    const index = again.searchIndex();
    assert.equal(storedIndexedSize(again), 4);
    assert.equal(count(again, 'file_by_hash'), 3);
    assert.equal(count(again, 'file_by_path'), 4); // the rows from before stay; none is added twice
    assert.deepEqual(index.indicesByFileHashRole(sha('clip 2'), 'note'), [2]);
    assert.deepEqual(index.indicesByFileHashRole(sha('clip 1'), 'note'), []);
    again.close();
  });

  it('index a run whose file lists were moved into a blob', () => {
    const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: 'test.example/index' });
    // 2,000 inputs with long paths take the list over the entry's 64 KiB bound: it goes to a blob.
    const inputs = Array.from({ length: 2000 }, (_, i) => ({ path: `/media/${'deep/'.repeat(8)}input-${i}.wav`, size: i, sha256: sha(`in ${i}`) }));
    const start = { v: 1, type: 'run.start', time: nowRfc3339(), by: currentAuthor(), run: 'r1', tool: 'ffmpeg', inputs };
    const [at] = l.append([start]).indices;
    assert.match(l.entry(at!).toString('utf8'), /"inputs":\{"\$blob"/);
    const index = l.searchIndex();
    assert.deepEqual(index.indicesByFileHashRole(sha('in 1999'), 'input'), [at]);
    assert.equal(index.runById('r1')?.startIndex, at);
    l.close();
  });

  it('find files across index segments, and only in the segments the indexed log can have', { timeout: 20_000 }, () => {
    const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: 'test.example/index' });
    const db = new Database(join(l.dir, 'ledger.db'));
    // Rows as the updater writes them, in segments 0, 3 and 7: a lookup must visit every segment.
    const put = db.prepare("INSERT INTO file_by_hash (seg, sha256, idx, role) VALUES (?, ?, ?, 'note')");
    for (const [seg, idx] of [[0, 5], [3, 3 * INDEX_SEGMENT + 1], [7, 7 * INDEX_SEGMENT + 9]] as const) put.run(seg, Buffer.from(sha('same'), 'hex'), idx);
    put.run(3, Buffer.from(sha('other'), 'hex'), 3 * INDEX_SEGMENT + 2);
    // A forged row far beyond the log: a lookup must neither return it nor count segments up to it.
    put.run(2 ** 40, Buffer.from(sha('same'), 'hex'), 2 ** 40 * INDEX_SEGMENT);
    db.prepare('INSERT INTO index_state (id, size) VALUES (1, ?)').run(8 * INDEX_SEGMENT);
    db.close();
    // The store's own lookups, read as they stand (searchIndex() would first rebuild the indexes from the entries).
    const store = SqliteStore.open(join(l.dir, 'ledger.db'));
    assert.deepEqual(store.indicesByFileHashRole(sha('same'), 'note'), [5, 3 * INDEX_SEGMENT + 1, 7 * INDEX_SEGMENT + 9]);
    assert.deepEqual(store.indicesByFileHashRole(sha('other'), 'note'), [3 * INDEX_SEGMENT + 2]);
    assert.deepEqual(store.runsWhere({ fileSha256: sha('same'), limit: 10 }), []);
    store.close();
    l.close();
  });

  it('survive an entry whose fields are hostile values, and a watermark no fill could have written', () => {
    const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: 'test.example/index' });
    for (let i = 0; i < 3; i++) l.append([note(i)]);
    const dir = l.dir;
    l.close();
    const db = new Database(join(dir, 'ledger.db'));
    db.exec('DROP TRIGGER entries_no_update');
    // Objects where strings belong: String() of {"toString":1} throws, and must not stop the indexes for good.
    const hostile = { v: 1, type: 'run.start', time: nowRfc3339(), by: { user: { toString: 1 } }, run: { toString: 1 }, tool: [], inputs: [{ path: '/x', sha256: { toString: 1 } }] };
    db.prepare('UPDATE entries SET data = ? WHERE idx = 1').run(Buffer.from(JSON.stringify(hostile)));
    db.close();
    const again = Ledger.open({ dir, explicit: true });
    const index = again.searchIndex();
    assert.equal(storedIndexedSize(again), 3);
    assert.deepEqual(index.indicesByFileHashRole(sha('clip 2'), 'note'), [2]);
    const db2 = new Database(join(dir, 'ledger.db'));
    db2.prepare('UPDATE index_state SET size = 1000000000').run();
    db2.exec('DELETE FROM file_by_hash');
    db2.close();
    // The watermark says far more than the log holds: the indexes are rebuilt rather than frozen.
    assert.deepEqual(again.searchIndex().indicesByFileHashRole(sha('clip 0'), 'note'), [0]);
    assert.equal(storedIndexedSize(again), 3);
    again.close();
  });
});
