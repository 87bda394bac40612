/**
 * The one checked read path (Ledger.entry, entries, scanEntries): an entry is returned only when it is proven part
 * of the tree the latest checkpoint signs. The attacks edit the SQLite file directly, as someone with write
 * access to the ledger's files (but not the signing key) would.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { canonicalBytes } from '../core/canonical-json.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { hashLeaf } from '../core/merkle.js';
import { tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';
import { readEntry } from './runs.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const tmp = tempDir('checked-read');
after(tmp.cleanup);

const SIZE = 13; // not a power of two: the right edge of the tree is ragged
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
let counter = 0;

function ledger(): Ledger {
  const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: 'example.org/checked' });
  for (let i = 0; i < SIZE; i++) l.append([note(`entry ${i}`)]);
  return l;
}

/** Rewrites entry `index` in the database file: its bytes, and with `leaf` its recorded leaf hash to match them. */
function rewrite(l: Ledger, index: number, leaf: boolean): void {
  const db = new Database(join(l.dir, 'ledger.db'));
  db.exec('DROP TRIGGER IF EXISTS entries_no_update');
  const forged = canonicalBytes({ ...note('rewritten'), v: 1 });
  db.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(forged, index);
  if (leaf) db.prepare('UPDATE entries SET leaf = ? WHERE idx = ?').run(hashLeaf(forged), index);
  db.close();
}

const refused = (index: number, why: RegExp) => (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && e.message.includes(`entry ${index} `) && why.test(e.message);

describe('the checked read path', () => {
  let l: Ledger;
  before(() => {
    l = ledger();
  });
  after(() => l.close());

  it('reads every entry of an intact log, one at a time and as ranges', () => {
    const one = Array.from({ length: SIZE }, (_, i) => l.entry(i));
    assert.deepEqual(l.entries(0, SIZE), one);
    for (const [a, b] of [[0, 1], [3, 9], [8, 13], [12, 13], [5, 5]] as const) assert.deepEqual(l.entries(a, b), one.slice(a, b));
    assert.equal((readEntry(l, 7) as unknown as { text: string }).text, 'entry 7');
    assert.throws(() => l.entry(SIZE), (e: unknown) => e instanceof FfauditError && e.code === 'NOT_FOUND');
    assert.throws(() => l.entries(2, SIZE + 1), (e: unknown) => e instanceof FfauditError && e.code === 'NOT_FOUND');
  });

  it('refuses an entry whose bytes were rewritten in the database', () => {
    const m = ledger();
    try {
      rewrite(m, 6, false);
      assert.throws(() => m.entry(6), refused(6, /was modified/));
      assert.throws(() => m.entries(4, 8), refused(6, /was modified/));
      assert.equal((readEntry(m, 5) as unknown as { text: string }).text, 'entry 5');
    } finally {
      m.close();
    }
  });

  it('refuses an entry rewritten together with its recorded leaf hash: the signed root no longer folds', () => {
    const m = ledger();
    try {
      rewrite(m, 6, true);
      assert.throws(() => m.entry(6), refused(6, /signed checkpoint/));
      assert.throws(() => readEntry(m, 6), refused(6, /signed checkpoint/));
      assert.throws(() => m.entries(0, SIZE), refused(6, /signed checkpoint/));
      // A scan refuses the rewritten entry and its neighbour, whose proof needs the rewritten leaf hash (RFC 9162
      // §2.1.3), and reads the rest.
      const scan = m.scanEntries(0, SIZE);
      assert.deepEqual(scan.filter((r) => 'error' in r).map((r) => r.index), [6, 7]);
      assert.equal((readEntry(m, 5) as unknown as { text: string }).text, 'entry 5');
      assert.equal((readEntry(m, 12) as unknown as { text: string }).text, 'entry 12');
    } finally {
      m.close();
    }
  });

  it('refuses every entry when the ragged right edge of the tree was rewritten: no proof can be completed', () => {
    const m = ledger();
    try {
      rewrite(m, SIZE - 1, true);
      assert.deepEqual(m.scanEntries(0, SIZE).filter((r) => 'data' in r), []);
    } finally {
      m.close();
    }
  });

  it('refuses every read when the latest checkpoint is not signed by the ledger key', () => {
    const m = ledger();
    try {
      const db = new Database(join(m.dir, 'ledger.db'));
      db.exec('DROP TRIGGER IF EXISTS head_no_shrink');
      const cp = db.prepare('SELECT note FROM head').pluck().get() as string;
      db.prepare('UPDATE head SET note = ?').run(cp.replace(/— (\S+) (\S+)/, (_, name: string, sig: string) => `— ${name} ${Buffer.from(Buffer.from(sig, 'base64').map((b, k) => (k === 10 ? b ^ 1 : b))).toString('base64')}`));
      db.close();
      assert.throws(() => m.entry(0), (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && /latest checkpoint does not verify/.test(e.message));
    } finally {
      m.close();
    }
  });
});
