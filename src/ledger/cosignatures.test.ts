/**
 * Cosignatures in the ledger: what Ledger.addCosignatures accepts (only lines that verify with the server keys of
 * the config, over a checkpoint the ledger's own key signed), what it ignores, what it refuses, and the checked
 * reads back. Also the ledger of the previous layout (testdata/fixture-ledger, layout 2), migrated by its first
 * write and read as it is until then.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { makeCosigner } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { cosign, joinServer, serverKeys } from '../testing/cosigners.js';
import { tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';
import { readServerConfig } from './server-config.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const FIXTURE = fileURLToPath(new URL('../../testdata/fixture-ledger/ledger', import.meta.url));
const tmp = tempDir('cosignatures');
after(tmp.cleanup);
let counter = 0;
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
const code = (c: string) => (e: unknown) => e instanceof FfauditError && e.code === c;
const rootHex = (note: string) => parseSignedCheckpoint(note).root.toString('hex');

function fresh(entries = 3): Ledger {
  const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: `example.org/cosig-${counter}` });
  for (let i = 0; i < entries; i++) l.append([note(`n${i}`)]);
  return l;
}

const layoutOf = (dir: string) => {
  const db = new Database(join(dir, 'ledger.db'), { readonly: true });
  try {
    return db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get();
  } finally {
    db.close();
  }
};

describe('Ledger.addCosignatures', () => {
  it('stores the lines of the configured witness and mirror, each verified; ignores other keys; reads them back checked', () => {
    // Guards: a cosignature stored without its checkpoint, a line of an unknown key kept (the specifications say
    // ignore), or a read that returns what no server key signed.
    const l = fresh();
    const keys = serverKeys();
    joinServer(l.dir, keys);
    const cp = l.checkpoint();
    const stranger = makeCosigner('elsewhere.example/witness', Buffer.alloc(32, 1));
    const got = l.addCosignatures(3, rootHex(cp), [cosign(keys.witness, cp, 1_800_000_000), cosign(stranger, cp), cosign(keys.mirror, cp, 1_800_000_001).trimEnd()], keys.url);
    assert.deepEqual(got.map((c) => [c.name, c.timestamp]), [[keys.witness.name, 1_800_000_000], [keys.mirror.name, 1_800_000_001]]);
    assert.ok(got.every((c) => c.checkpoint === cp && c.size === 3 && c.server === keys.url && c.line.endsWith('\n')));
    assert.deepEqual(l.cosignatures().map((c) => c.name).sort(), [keys.mirror.name, keys.witness.name]);
    assert.deepEqual(l.cosignatures(2), []);
    assert.equal(l.lastCosigned(keys.url, keys.witness.name)?.timestamp, 1_800_000_000);
    assert.equal(l.lastCosigned('https://other.example'), undefined);
    // Again (a retried push): nothing doubles.
    l.addCosignatures(3, rootHex(cp), [cosign(keys.witness, cp, 1_800_000_500)], keys.url);
    assert.equal(l.cosignatures(3).length, 2);
    l.close();
  });

  it('takes the checkpoint the lines were returned for, when the head has moved on since', () => {
    // Guards: a push whose answer arrives after another run appended: the cosignature would be lost (no
    // checkpoint of that size at hand) or stored against the wrong checkpoint.
    const l = fresh(2);
    const keys = serverKeys();
    joinServer(l.dir, keys);
    const sent = l.checkpoint();
    l.append([note('meanwhile')]);
    assert.throws(() => l.addCosignatures(2, rootHex(sent), [cosign(keys.witness, sent)], keys.url), code('NOT_FOUND'));
    assert.equal(l.addCosignatures(2, rootHex(sent), [cosign(keys.witness, sent)], keys.url, sent).length, 1);
    assert.equal(l.lastCosigned()?.size, 2);
    // The kept first checkpoint (size 1: kept when the log was empty before) is found without being given.
    l.close();
  });

  it('refuses a forged line, a checkpoint not signed by the ledger, a mismatched size or root; stores nothing then', () => {
    // Guards: a server (or a man in the middle) that answers with garbage or someone else's signature getting it
    // stored as if the server had cosigned.
    const l = fresh();
    const keys = serverKeys();
    joinServer(l.dir, keys);
    const cp = l.checkpoint();
    const good = cosign(keys.witness, cp);
    const forged = cosign(makeCosigner(keys.witness.name, Buffer.alloc(32, 2)), cp).replace(/ \S+\n$/, ` ${Buffer.concat([keys.witness.keyId, Buffer.alloc(72, 3)]).toString('base64')}\n`);
    assert.throws(() => l.addCosignatures(3, rootHex(cp), [good, forged], keys.url), code('INTEGRITY'));
    assert.throws(() => l.addCosignatures(3, rootHex(cp), ['not a signature line'], keys.url), code('INTEGRITY'));
    // The witness's signature over another checkpoint text.
    const other = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: l.origin });
    other.append([note('x')]);
    other.append([note('y')]);
    other.append([note('z')]);
    const theirs = other.checkpoint();
    other.close();
    assert.throws(() => l.addCosignatures(3, rootHex(theirs), [cosign(keys.witness, theirs)], keys.url, theirs), code('INTEGRITY'), "another key's checkpoint");
    assert.throws(() => l.addCosignatures(3, rootHex(cp), [cosign(keys.witness, theirs)], keys.url), code('INTEGRITY'), 'a line over another checkpoint');
    assert.throws(() => l.addCosignatures(2, rootHex(cp), [good], keys.url, cp), code('BAD_INPUT'));
    assert.throws(() => l.addCosignatures(3, 'ab', [good], keys.url), code('BAD_INPUT'));
    assert.deepEqual(l.cosignatures(), []);
    l.close();
  });

  it('needs a joined server; and a row edited in the database is not read back', () => {
    const l = fresh();
    const keys = serverKeys();
    const cp = l.checkpoint();
    assert.throws(() => l.addCosignatures(3, rootHex(cp), [cosign(keys.witness, cp)], keys.url), code('USAGE'));
    joinServer(l.dir, keys);
    l.addCosignatures(3, rootHex(cp), [cosign(keys.witness, cp, 100)], keys.url);
    l.append([note('more')]);
    const cp4 = l.checkpoint();
    l.addCosignatures(4, rootHex(cp4), [cosign(keys.witness, cp4, 200)], keys.url);
    const db = new Database(join(l.dir, 'ledger.db'));
    db.exec('DROP TRIGGER cosignatures_no_update');
    db.prepare('UPDATE cosignatures SET timestamp = 999 WHERE size = 4').run();
    db.close();
    assert.deepEqual(l.cosignatures().map((c) => c.size), [3], 'the edited row is not taken back');
    assert.equal(l.lastCosigned()?.size, 3, 'the latest row that checks out');
    l.close();
  });
});

describe('a ledger of the previous layout (testdata/fixture-ledger, layout 2)', () => {
  it('is read as it is (no cosignatures, nothing written), and migrated by its first write of cosignatures', () => {
    // Guards: an old ledger refused, changed by a command that only reads, or its cosignatures lost on migration.
    const dir = join(tmp.dir, `fixture${counter++}`);
    cpSync(FIXTURE, dir, { recursive: true });
    assert.equal(layoutOf(dir), '2');
    const keys = serverKeys();
    joinServer(dir, keys);
    const l = Ledger.open({ dir, explicit: true });
    try {
      assert.deepEqual(l.cosignatures(), []);
      assert.equal(l.lastCosigned(), undefined);
      l.searchIndex(); // the derived indexes are filled: not a write of the log
      assert.equal(layoutOf(dir), '2');
      const cp = l.checkpoint();
      // The fixture has no signing key: storing cosignatures needs none.
      const got = l.addCosignatures(l.size(), rootHex(cp), [cosign(keys.witness, cp), cosign(keys.mirror, cp)], keys.url);
      assert.equal(got.length, 2);
      assert.equal(layoutOf(dir), '4');
      assert.equal(l.cosignatures().length, 2);
    } finally {
      l.close();
    }
    const again = Ledger.open({ dir, explicit: true });
    try {
      assert.equal(again.cosignatures().length, 2);
      assert.equal(again.lastCosigned(keys.url, keys.mirror.name)?.size, 11);
    } finally {
      again.close();
    }
    assert.equal(readServerConfig(dir)?.url, keys.url);
    assert.match(readFileSync(join(dir, 'config.json'), 'utf8'), /"witness": "audit\.example\/witness\+/);
  });
});
