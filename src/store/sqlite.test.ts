/** The SQLite backend against the store contract (src/testing/store-conformance.ts), each store in a file of its own. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { FfauditError } from '../core/errors.js';
import { storeConformance } from '../testing/store-conformance.js';
import { EXPECTED_TRIGGERS, SqliteStore } from './sqlite.js';
import type { CosignatureRow, Store } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'ffaudit-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

// A store's own path names the private copy a read-only open may read instead of the file: the file is kept here.
const files = new WeakMap<Store, string>();
let n = 0;

storeConformance('SQLite', {
  create() {
    const file = join(root, `ledger-${n++}.db`);
    const s = SqliteStore.open(file, { create: true });
    files.set(s, file);
    return s;
  },
  reopen(closed, { readOnly }) {
    const file = files.get(closed)!;
    const s = SqliteStore.open(file, { readonly: readOnly });
    files.set(s, file);
    return s;
  },
});

describe('layouts 2 and 3 (before cosignatures, timestamps were kept) read as they are, migrated to 4 by the first write', () => {
  const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  const row = (size: number): CosignatureRow => ({
    size,
    root: Buffer.alloc(32, size),
    name: 'audit.example/witness',
    keyId: Buffer.from([1, 2, 3, 4]),
    timestamp: 1_700_000_000,
    line: '\u2014 audit.example/witness AQIDBA==\n',
    checkpoint: `checkpoint ${size}\n`,
    server: 'https://audit.example',
  });
  const raw = (file: string, fn: (db: BetterSqlite3.Database) => void) => {
    const db = new Database(file);
    try {
      fn(db);
    } finally {
      db.close();
    }
  };
  const layoutOf = (file: string) => {
    let v: unknown;
    raw(file, (db) => (v = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get()));
    return v;
  };
  const triggersOf = (file: string) => {
    let v: string[] = [];
    raw(file, (db) => (v = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").pluck().all() as string[]));
    return v;
  };

  /**
   * A database as the code of layout 2 (or 3) left it: made now, then the tables that layout lacks (and with them
   * their triggers) dropped and meta 'schema' set back, its trigger set aside for that and put back. `guard: false`
   * leaves meta's update trigger dropped, as an attacker may have.
   */
  function layout2(opts: { guard?: boolean; layout?: '2' | '3' } = {}): string {
    const layout = opts.layout ?? '2';
    const file = join(root, `layout${layout}-${n++}.db`);
    const s = SqliteStore.open(file, { create: true });
    s.appendTransaction((tx) => {
      s.setMeta('schema', '4');
      tx.insertEntry(0, Buffer.alloc(32, 9), Buffer.from('{}'));
      tx.setHead(1, 'checkpoint 1\n', true);
    });
    s.close();
    raw(file, (db) => {
      db.exec(`${layout === '2' ? 'DROP TABLE cosignatures;' : ''} DROP TABLE timestamps; DROP TRIGGER meta_no_update; UPDATE meta SET value = '${layout}' WHERE key = 'schema'`);
      if (opts.guard !== false) db.exec("CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'ffaudit: meta are append-only'); END");
    });
    assert.equal(layoutOf(file), layout);
    return file;
  }

  it('reads a layout-2 database as it is: no cosignatures, no trigger missing, nothing written by reads or the index fill', () => {
    // Guards: an old ledger refused, reported as tampered (its table's triggers "missing"), or migrated by a
    // command that only reads (an evidence copy changed by looking at it).
    const file = layout2();
    for (const readonly of [false, true]) {
      const s = SqliteStore.open(file, { readonly });
      try {
        assert.deepEqual(s.cosignatures(), []);
        assert.deepEqual(s.cosignatures(1), []);
        assert.equal(s.lastCosigned(), undefined);
        assert.deepEqual(s.missingTriggers(), []);
        assert.equal(s.head()?.size, 1);
        s.indexTransaction((tx) => tx.setIndexedSize(1));
      } finally {
        s.close();
      }
      assert.equal(layoutOf(file), '2');
    }
    const ro = SqliteStore.open(file, { readonly: true });
    try {
      assert.throws(() => ro.addCosignatures([row(1)]), (e: unknown) => e instanceof FfauditError && e.code === 'STORE' && /read-only/.test(e.message));
    } finally {
      ro.close();
    }
    assert.equal(layoutOf(file), '2');
  });

  it('migrates on the first write, whichever it is: the table, its triggers and the layout, all at once', () => {
    // Guards: a migration that leaves the table without its triggers, the layout unrecorded (an older ffaudit
    // would then misread the file), meta's own trigger lost, or one that needs a second write to finish.
    for (const write of ['cosignatures', 'append'] as const) {
      const file = layout2();
      const s = SqliteStore.open(file);
      try {
        if (write === 'cosignatures') assert.equal(s.addCosignatures([row(1)]), 1);
        else s.appendTransaction((tx) => tx.putBlob('0'.repeat(64), 'identity', Buffer.alloc(0), 0));
        assert.deepEqual(s.missingTriggers(), []);
        assert.equal(s.cosignatures().length, write === 'cosignatures' ? 1 : 0);
      } finally {
        s.close();
      }
      assert.equal(layoutOf(file), '4', write);
      assert.deepEqual(triggersOf(file), [...EXPECTED_TRIGGERS].sort(), write);
      const again = SqliteStore.open(file);
      try {
        assert.equal(again.addCosignatures([row(2)]), 1);
        assert.equal(again.cosignatures().length, write === 'cosignatures' ? 2 : 1);
      } finally {
        again.close();
      }
    }
  });

  it('two processes migrating at once: the second finds it done under the write lock', () => {
    // Guards: a second connection that opened the file at layout 2 and migrates again (a failing CREATE, or
    // meta's trigger dropped twice).
    const file = layout2();
    const a = SqliteStore.open(file);
    const b = SqliteStore.open(file);
    try {
      a.addCosignatures([row(1)]);
      b.addCosignatures([row(2)]);
      b.appendTransaction(() => undefined);
      assert.deepEqual(b.cosignatures().map((r) => r.size), [1, 2]);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(layoutOf(file), '4');
    assert.deepEqual(triggersOf(file), [...EXPECTED_TRIGGERS].sort());
  });

  it("keeps a trigger an attacker dropped missing: the migration does not hide the edit from verify", () => {
    const file = layout2({ guard: false });
    const s = SqliteStore.open(file);
    try {
      assert.deepEqual(s.missingTriggers(), ['meta_no_update']);
      s.addCosignatures([row(1)]);
      assert.deepEqual(s.missingTriggers(), ['meta_no_update']);
    } finally {
      s.close();
    }
    assert.equal(layoutOf(file), '4');
  });

  it('a layout-3 database: read as it is (no timestamps, nothing missing), its cosignatures kept by the migration to 4', () => {
    // Guards: a layout-3 ledger reported as tampered for lacking the timestamps table's triggers, a read that
    // migrates, or a migration that loses or re-creates the cosignatures table.
    const file = layout2({ layout: '3' });
    // A cosignature stored while the file was still at layout 3 (as that code wrote it).
    const r1 = row(1);
    raw(file, (db) =>
      db
        .prepare('INSERT INTO cosignatures (size, root, name, key_id, timestamp, line, checkpoint, server) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r1.size, r1.root, r1.name, r1.keyId, r1.timestamp, r1.line, r1.checkpoint, r1.server),
    );
    const s = SqliteStore.open(file);
    try {
      assert.deepEqual(s.timestamps(), []);
      assert.deepEqual(s.missingTriggers(), []);
      s.addCosignatures([row(2)]);
    } finally {
      s.close();
    }
    assert.equal(layoutOf(file), '4');
    assert.deepEqual(triggersOf(file), [...EXPECTED_TRIGGERS].sort());
    const r = SqliteStore.open(file);
    try {
      assert.deepEqual(r.cosignatures(), [r1, row(2)]);
      assert.deepEqual(r.timestamps(), []);
    } finally {
      r.close();
    }
  });

  it('a layout-4 database whose cosignatures or timestamps table was dropped is missing its triggers', () => {
    const file = join(root, `dropped-${n++}.db`);
    const s = SqliteStore.open(file, { create: true });
    s.appendTransaction(() => s.setMeta('schema', '4'));
    s.close();
    raw(file, (db) => db.exec('DROP TABLE cosignatures; DROP TABLE timestamps'));
    const r = SqliteStore.open(file);
    try {
      assert.deepEqual(r.missingTriggers(), ['cosignatures_no_update', 'cosignatures_no_delete', 'timestamps_no_update', 'timestamps_no_delete']);
      assert.deepEqual(r.cosignatures(), []);
      assert.deepEqual(r.timestamps(), []);
    } finally {
      r.close();
    }
  });

  it('refuses a layout it does not know, in one line', () => {
    const file = layout2();
    raw(file, (db) => db.exec("DROP TRIGGER meta_no_update; UPDATE meta SET value = '5' WHERE key = 'schema'"));
    assert.throws(() => SqliteStore.open(file), (e: unknown) => e instanceof FfauditError && e.code === 'STORE' && /has layout "5"; this ffaudit reads layouts 2, 3, and 4$/.test(e.message));
  });
});
