/**
 * verify against the cosignatures the ledger keeps from its team server: a log that no longer extends a checkpoint
 * the server cosigned is a `rollback` or a `fork`, with the cosigned checkpoint as the proof; a stored cosignature
 * edited in the database is `cosignature-invalid`; and how far the server lags is reported. Each tamper test edits
 * the SQLite file as an attacker with write access (and, where said, the signing key) would.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { formatCheckpointText, openCheckpoint, parseSignedCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { parseCosignerVkey, verifiedCosignatures } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { Frontier, hashLeaf } from '../core/merkle.js';
import { formatVerifierKey, makeEd25519Signer, parseVerifierKey, signNote } from '../core/note.js';
import { runCliInProcess } from '../testing/cli.js';
import { cosign, joinServer, serverKeys, type TestServerKeys } from '../testing/cosigners.js';
import { tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';
import type { Problem } from './problems.js';
import type { VerifyReport } from './verify.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const tmp = tempDir('verify-cosigned');
after(tmp.cleanup);

const SIZE = 10;
const ORIGIN = 'example.org/cosigned';
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
const checkpoints: string[] = []; // the head after each append, by size - 1
let template = '';
let keys: TestServerKeys;
let counter = 0;
const NOW = Math.floor(Date.now() / 1000);

before(() => {
  keys = serverKeys();
  const l = Ledger.init(join(tmp.dir, 'template'), { origin: ORIGIN });
  joinServer(l.dir, keys);
  for (let i = 0; i < SIZE; i++) {
    checkpoints.push(l.append([note(`entry number ${i}`)]).checkpoint);
    const cp = checkpoints[i]!;
    const root = parseSignedCheckpoint(cp).root.toString('hex');
    // The witness cosigned sizes 4 and 8; the mirror only 8 (it cosigns once the entries are mirrored).
    if (i + 1 === 4) l.addCosignatures(4, root, [cosign(keys.witness, cp, NOW - 7200)], keys.url);
    if (i + 1 === 8) l.addCosignatures(8, root, [cosign(keys.witness, cp, NOW - 600), cosign(keys.mirror, cp, NOW - 590)], keys.url);
  }
  template = l.dir;
  l.close();
});

function copy(): string {
  const dir = join(tmp.dir, `copy${counter++}`);
  cpSync(template, dir, { recursive: true });
  return dir;
}

/** Edits the database as an attacker: a plain connection, the append-only triggers dropped and put back. */
function attack(dir: string, edit: (db: BetterSqlite3.Database) => void): void {
  const db = new Database(join(dir, 'ledger.db'));
  const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
  for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
  edit(db);
  for (const t of triggers) db.exec(t.sql);
  db.close();
}

/** The log's own key, as the attacker who stole it. */
function stolenKey(dir: string) {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return l.signer();
  } finally {
    l.close();
  }
}

/** Rebuilds the stored tree from the entries' leaf hashes and signs a head over it (a history rewritten with the key). */
function resign(db: BetterSqlite3.Database, key: ReturnType<typeof stolenKey>): void {
  const leaves = (db.prepare('SELECT leaf FROM entries ORDER BY idx').all() as { leaf: Buffer }[]).map((r) => r.leaf);
  db.exec('DELETE FROM nodes');
  const f = new Frontier();
  const ins = db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)');
  for (const leaf of leaves) f.push(leaf, (level, index, hash) => void ins.run(level, index, hash));
  db.prepare('UPDATE head SET size = ?, note = ?').run(leaves.length, signCheckpoint({ origin: ORIGIN, size: leaves.length, root: f.root(), extensions: [] }, key));
}

/** Rewrites entry i's text (bytes and leaf hash): the tree and head must be rebuilt (resign) to stay self-consistent. */
function rewriteEntry(db: BetterSqlite3.Database, i: number): void {
  const { data } = db.prepare('SELECT data FROM entries WHERE idx = ?').get(i) as { data: Buffer };
  const forged = Buffer.from(data.toString('utf8').replace(`entry number ${i}`, `entry number X${i}`));
  db.prepare('UPDATE entries SET data = ?, leaf = ? WHERE idx = ?').run(forged, hashLeaf(forged), i);
}

async function verify(dir: string): Promise<VerifyReport> {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const whole = await l.verify({ workers: 0 });
    const blocks = await l.verify({ workers: 2, blockSize: 4 });
    assert.deepEqual(summary(blocks.problems), summary(whole.problems), 'the block-parallel pass finds the same');
    return whole;
  } finally {
    l.close();
  }
}

const summary = (problems: readonly Problem[]) => problems.map((p) => (p.size === undefined ? p.kind : `${p.kind}@${p.size}`));

/** A proof must stand on its own: the log's signature and the server's cosignatures, over the checkpoint named. */
function assertProof(p: Problem, size: number, cosigners: number): void {
  assert.ok(p.proof, 'the finding carries its proof');
  const cp = openCheckpoint(p.proof, [parseVerifierKey(vkey)], ORIGIN);
  assert.equal(cp.size, size);
  assert.equal(verifiedCosignatures(p.proof, [parseCosignerVkey(keys.config.witness), parseCosignerVkey(keys.config.mirror)]).length, cosigners);
}
let vkey = '';

before(() => {
  const l = Ledger.open({ dir: template, explicit: true });
  vkey = l.vkey;
  l.close();
});

describe('verify against the cosignatures the ledger keeps', () => {
  it('an untouched ledger: intact, and the server lag per cosigner (2 entries behind)', async () => {
    const dir = copy();
    const r = await verify(dir);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.cosigned?.map((c) => [c.cosigner, c.server, c.size, c.behind]),
      [
        [keys.mirror.name, keys.url, 8, 2],
        [keys.witness.name, keys.url, 8, 2],
      ],
    );
    assert.equal(r.cosigned?.[1]?.timestamp, NOW - 600);
    const json = await runCliInProcess(['--ledger', dir, 'verify', '--json', '--no-archive']);
    assert.equal(json.status, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { ok: boolean; cosigned: { cosigner: string; size: number; behind: number }[] };
    assert.equal(out.ok, true);
    assert.deepEqual(out.cosigned.map((c) => [c.size, c.behind]), [[8, 2], [8, 2]]);
    const human = await runCliInProcess(['--ledger', dir, 'verify', '--no-archive']);
    assert.match(human.stdout, /^cosigned audit\.example\/mirror \(https:\/\/audit\.example\) cosigned size 8, 1[0-9] min ago: 2 entries behind$/m);
    assert.match(human.stdout, /^ {9}audit\.example\/witness \(https:\/\/audit\.example\) cosigned size 8, 10 min ago: 2 entries behind$/m);
    assert.match(human.stdout, /INTACT: all 10 entries are exactly as signed, and the log extends the checkpoints the server cosigned \(up to size 8\)\./);
  });

  it('entries removed with the key (head re-signed at 6) → rollback at the largest cosigned size, proven by its cosigned checkpoint', async () => {
    const dir = copy();
    attack(dir, (db) => {
      db.exec('DELETE FROM entries WHERE idx >= 6');
      db.exec('DELETE FROM nodes WHERE (idx + 1) * (1 << level) > 6');
      db.prepare('UPDATE head SET size = 6, note = ?').run(checkpoints[5]);
    });
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['rollback@8']);
    assertProof(r.problems[0]!, 8, 2);
    const cli = await runCliInProcess(['--ledger', dir, 'verify', '--no-archive']);
    assert.equal(cli.status, 1);
    assert.match(cli.stdout, /✗ rollback \(size 8\): the log holds 6 entries but the server already cosigned a checkpoint of 8/);
    assert.match(cli.stdout, /proof \(the cosigned checkpoint, signed by the log's key and the server's\):\n {6}example\.org\/cosigned\n {6}8\n {6}\S+=\n\n {6}— example\.org\/cosigned /);
    assert.match(cli.stdout, / {6}— audit\.example\/mirror \S+\n {6}— audit\.example\/witness \S+\n/);
    assert.match(cli.stdout, /^cosigned audit\.example\/mirror \(https:\/\/audit\.example\) cosigned size 8, 10 min ago: 2 entries more than the log holds$/m);
  });

  it('history rewritten with the key from entry 2 → one fork, at the first cosigned size it breaks (4), naming the later one', async () => {
    const dir = copy();
    const key = stolenKey(dir);
    attack(dir, (db) => {
      rewriteEntry(db, 2);
      resign(db, key);
    });
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['fork@4']);
    assert.match(r.problems[0]!.detail, /nor do they at 1 later cosigned size/);
    assertProof(r.problems[0]!, 4, 1);
  });

  it('rewritten from entry 6 → fork at 8 only (the checkpoint cosigned at 4 is still extended)', async () => {
    const dir = copy();
    const key = stolenKey(dir);
    attack(dir, (db) => {
      rewriteEntry(db, 6);
      resign(db, key);
    });
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['fork@8']);
    assertProof(r.problems[0]!, 8, 2);
  });

  it('an entry edited without the key → entry-modified, not a fork as well', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const { data } = db.prepare('SELECT data FROM entries WHERE idx = 3').get() as { data: Buffer };
      db.prepare('UPDATE entries SET data = ? WHERE idx = 3').run(Buffer.from(data.toString('utf8').replace('number 3', 'number 9')));
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-modified']);
  });

  it('the ledger re-keyed (key and checkpoints replaced) → fork: the server cosigned checkpoints of another key', async () => {
    const dir = copy();
    const thief = makeEd25519Signer(ORIGIN, Buffer.alloc(32, 0x42));
    attack(dir, (db) => {
      db.prepare("UPDATE meta SET value = ? WHERE key = 'vkey'").run(formatVerifierKey(thief.name, thief.publicKey));
      const again = (n: string) => signNote(formatCheckpointText(parseSignedCheckpoint(n)), [thief]);
      const { note: head } = db.prepare('SELECT note FROM head').get() as { note: string };
      db.prepare('UPDATE head SET note = ?').run(again(head));
      for (const k of db.prepare('SELECT size, note FROM checkpoints').all() as { size: number; note: string }[]) db.prepare('UPDATE checkpoints SET note = ? WHERE size = ?').run(again(k.note), k.size);
    });
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['fork@8']);
    assert.match(r.problems[0]!.detail, /signed by another key than this ledger's current one/);
  });

  it('a stored cosignature edited → cosignature-invalid; one of a key the config does not name is ignored', async () => {
    const dir = copy();
    attack(dir, (db) => db.exec(`UPDATE cosignatures SET timestamp = timestamp + 1 WHERE size = 4`));
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['cosignature-invalid@4']);
    // Joined to another server since: the old server's rows are not this one's, so they are neither checked nor counted.
    const moved = copy();
    joinServer(moved, serverKeys('other.example'));
    const m = await verify(moved);
    assert.deepEqual(m.problems, []);
    assert.equal(m.cosigned, null);
  });

  it('a ledger of the previous layout (no cosignatures table) verifies intact, read-only as it is', async () => {
    const dir = copy();
    const db = new Database(join(dir, 'ledger.db'));
    db.exec("DROP TABLE cosignatures; DROP TRIGGER meta_no_update; UPDATE meta SET value = '2' WHERE key = 'schema'");
    db.exec("CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'ffaudit: meta are append-only'); END");
    db.close();
    const r = await verify(dir);
    assert.deepEqual(r.problems, []);
    assert.equal(r.cosigned, null);
    const layout = new Database(join(dir, 'ledger.db'), { readonly: true });
    assert.equal(layout.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get(), '2');
    layout.close();
  });
});
