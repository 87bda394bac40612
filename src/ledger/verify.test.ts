/**
 * Tamper tests: each acts as an attacker with write access to the ledger's files, editing the SQLite database
 * through a second connection (better-sqlite3 directly, triggers dropped first), and expects the exact finding.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { formatCheckpointText, parseSignedCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { canonicalBytes } from '../core/canonical-json.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { Frontier, hashChildren, hashLeaf } from '../core/merkle.js';
import { formatVerifierKey, makeEd25519Signer, signNote } from '../core/note.js';
import { isOneErrorLine, runCli, tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { SqliteStore } from '../store/sqlite.js';
import { KEEP_CHECKPOINT_EVERY, Ledger } from './ledger.js';
import type { Problem } from './problems.js';
import type { VerifyReport } from './verify.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const tmp = tempDir('verify');
after(tmp.cleanup);

const SIZE = 10;
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
let template = '';
const templateCheckpoints: string[] = []; // the head checkpoint after each append, by size - 1
let counter = 0;

before(() => {
  const l = Ledger.init(join(tmp.dir, 'template'), { origin: 'example.org/tamper' });
  for (let i = 0; i < SIZE; i++) templateCheckpoints.push(l.append([note(`entry number ${i}`)]).checkpoint);
  template = l.dir;
  l.close();
});

/** A fresh copy of the template ledger (10 entries, appended one at a time). */
function copy(): string {
  const dir = join(tmp.dir, `copy${counter++}`);
  cpSync(template, dir, { recursive: true });
  return dir;
}

/**
 * Opens the ledger's database as an attacker would: a plain SQLite connection, the append-only triggers dropped
 * for the edit. With `restoreTriggers`, the triggers are put back afterwards, hiding the schema change.
 */
function attack(dir: string, edit: (db: BetterSqlite3.Database) => void, restoreTriggers = true): void {
  const db = new Database(join(dir, 'ledger.db'));
  const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
  assert.ok(triggers.length >= 12);
  for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
  edit(db);
  if (restoreTriggers) for (const t of triggers) db.exec(t.sql);
  db.close();
}

/**
 * Verifies in-process with one block, and again with worker threads over blocks of four entries: both must find
 * exactly the same, so every test also checks the block-parallel pass. (Not on a damaged file, where SQLite's own
 * reports depend on the order of reads.)
 */
async function verify(dir: string, trusted?: string): Promise<VerifyReport> {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const whole = await l.verify({ trusted, workers: 0 });
    const blocks = await l.verify({ trusted, workers: 2, blockSize: 4 });
    if (!whole.problems.some((p) => p.kind === 'store-corrupt')) {
      assert.deepEqual(summary(blocks.problems), summary(whole.problems), 'the block-parallel pass finds the same');
    }
    return whole;
  } finally {
    l.close();
  }
}

/** The findings as kind@index, for exact comparison. */
const summary = (problems: readonly Problem[]) => problems.map((p) => (p.index === undefined ? p.kind : `${p.kind}@${p.index}`));

function entryData(dir: string, index: number): Buffer {
  const db = new Database(join(dir, 'ledger.db'), { readonly: true });
  const r = db.prepare('SELECT data FROM entries WHERE idx = ?').get(index) as { data: Buffer };
  db.close();
  return r.data;
}

describe('verify: an untouched ledger', () => {
  it('is intact, with every entry and checkpoint checked (exit 0)', async () => {
    const dir = copy();
    const r = await verify(dir);
    assert.deepEqual(r.problems, []);
    assert.equal(r.ok, true);
    assert.equal(r.size, SIZE);
    assert.equal(r.checked.entries, SIZE);
    const cli = runCli(['--ledger', dir, 'verify', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout), { ok: true, size: SIZE, problems: [] });
    const human = runCli(['--ledger', dir, 'verify']);
    assert.equal(human.status, 0);
    assert.match(human.stdout, /verdict {2}INTACT: all 10 entries are exactly as signed/);
  });

  it('is intact when empty', async () => {
    const l = Ledger.init(join(tmp.dir, `empty${counter++}`));
    l.close();
    const r = await verify(l.dir);
    assert.deepEqual(r.problems, []);
    assert.equal(r.size, 0);
  });
});

describe('verify: tampering without the signing key', () => {
  it('an edited entry → entry-modified with its index (exit 1, --json shape)', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const data = entryData(dir, 3);
      db.prepare('UPDATE entries SET data = ? WHERE idx = 3').run(Buffer.from(data.toString('utf8').replace('entry number 3', 'entry number 9')));
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-modified@3']);
    const cli = runCli(['--ledger', dir, 'verify', '--json']);
    assert.equal(cli.status, 1);
    const out = JSON.parse(cli.stdout) as { ok: boolean; size: number; problems: { kind: string; index?: number; detail: string }[] };
    assert.equal(out.ok, false);
    assert.equal(out.size, SIZE);
    assert.equal(out.problems.length, 1);
    assert.equal(out.problems[0]!.kind, 'entry-modified');
    assert.equal(out.problems[0]!.index, 3);
    assert.equal(typeof out.problems[0]!.detail, 'string');
    const human = runCli(['--ledger', dir, 'verify']);
    assert.equal(human.status, 1);
    assert.match(human.stdout, /TAMPERED/);
    assert.match(human.stdout, /entry-modified \(entry 3\)/);
  });

  it('dropped triggers alone → triggers-missing', async () => {
    const dir = copy();
    attack(dir, () => undefined, false);
    assert.deepEqual(summary((await verify(dir)).problems), ['triggers-missing']);
  });

  it('a deleted entry → entry-missing with its index (exit 1)', async () => {
    const dir = copy();
    attack(dir, (db) => db.exec('DELETE FROM entries WHERE idx = 4'));
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-missing@4']);
    assert.equal(runCli(['--ledger', dir, 'verify']).status, 1);
  });

  it('the last entry deleted → entry-missing', async () => {
    const dir = copy();
    attack(dir, (db) => db.exec(`DELETE FROM entries WHERE idx = ${SIZE - 1}`));
    assert.deepEqual(summary((await verify(dir)).problems), [`entry-missing@${SIZE - 1}`]);
  });

  it('two entries’ data swapped → entry-modified at both indices', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const a = entryData(dir, 2);
      const b = entryData(dir, 7);
      db.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(b, 2);
      db.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(a, 7);
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-modified@2', 'entry-modified@7']);
  });

  it('a deleted entry re-added with other content → a finding that names it', async () => {
    const dir = copy();
    const forged = canonicalBytes({ ...note('a different story'), time: '2020-01-01T00:00:00.000000000Z' });
    attack(dir, (db) => {
      db.exec('DELETE FROM entries WHERE idx = 6');
      // The attacker even records the new bytes' own leaf hash.
      db.prepare('INSERT INTO entries (idx, leaf, data) VALUES (?, ?, ?)').run(6, hashLeaf(forged), forged);
    });
    const r = await verify(dir);
    assert.equal(r.ok, false);
    // The stored tree still holds the original's hash: it narrows the change to the pair of entries 6 and 7.
    assert.deepEqual(summary(r.problems), ['entry-modified@6']);
    assert.match(r.problems[0]!.detail, /entry 6 or 7 was changed together with its recorded leaf hash/);
  });

  it('an entry and its leaf hash rewritten, the stored tree left alone → entry-modified over the narrowest range', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const data = Buffer.from(entryData(dir, 3).toString('utf8').replace('entry number 3', 'entry number Z'));
      db.prepare('UPDATE entries SET data = ?, leaf = ? WHERE idx = 3').run(data, hashLeaf(data));
      // ... and the pair's node too: the change still shows one level up.
      const leaves = (db.prepare('SELECT leaf FROM entries WHERE idx IN (2, 3) ORDER BY idx').all() as { leaf: Buffer }[]).map((r) => r.leaf);
      db.prepare('UPDATE nodes SET hash = ? WHERE level = 1 AND idx = 1').run(hashChildren(leaves[0]!, leaves[1]!));
    });
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['entry-modified@0']);
    assert.match(r.problems[0]!.detail, /an entry from index 0 to 3/);
  });

  it('a tree node deleted → tree-modified', async () => {
    const dir = copy();
    attack(dir, (db) => db.exec('DELETE FROM nodes WHERE level = 1 AND idx = 4'));
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['tree-modified@8']);
    assert.match(r.problems[0]!.detail, /deleted/);
  });

  it('a kept checkpoint altered → checkpoint-signature-invalid', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const { note } = db.prepare('SELECT note FROM checkpoints WHERE size = 1').get() as { note: string };
      db.prepare('UPDATE checkpoints SET note = ? WHERE size = 1').run(note.replace(/^(.*)\n1\n/, '$1\n2\n'));
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['checkpoint-signature-invalid']);
  });

  it('a row inserted beyond the signed head → entry-unsigned with its index', async () => {
    const dir = copy();
    const extra = canonicalBytes(note('slipped in'));
    attack(dir, (db) => db.prepare('INSERT INTO entries (idx, leaf, data) VALUES (?, ?, ?)').run(SIZE, hashLeaf(extra), extra));
    assert.deepEqual(summary((await verify(dir)).problems), [`entry-unsigned@${SIZE}`]);
    assert.equal(runCli(['--ledger', dir, 'verify']).status, 1);
  });

  it('rows far beyond the head or at negative indices → entry-unsigned, found at once', async () => {
    const dir = copy();
    const extra = canonicalBytes(note('far away'));
    attack(dir, (db) => {
      const ins = db.prepare('INSERT INTO entries (idx, leaf, data) VALUES (?, ?, ?)');
      ins.run(2 ** 50, hashLeaf(extra), extra);
      ins.run(-1, hashLeaf(extra), extra);
    });
    const started = Date.now();
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-unsigned@-1', `entry-unsigned@${2 ** 50}`]);
    assert.ok(Date.now() - started < 5000);
  });

  it('an unsigned head claiming a huge size does not send verify over it', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const { note } = db.prepare('SELECT note FROM head').get() as { note: string };
      db.prepare('UPDATE head SET size = ?, note = ?').run(2 ** 50, note.replace(`\n${SIZE}\n`, `\n${2 ** 50}\n`));
    });
    const started = Date.now();
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['checkpoint-signature-invalid']);
    assert.equal(r.size, SIZE);
    assert.ok(Date.now() - started < 5000);
  });

  it('values of the wrong SQLite type → findings, not a crash', async () => {
    const dir = copy();
    attack(dir, (db) => {
      db.exec('UPDATE entries SET data = 42 WHERE idx = 1');
      db.exec("UPDATE entries SET leaf = 'text' WHERE idx = 2");
      db.exec("UPDATE nodes SET hash = 'text' WHERE level = 1 AND idx = 4");
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-modified@1', 'entry-modified@2', 'tree-modified@8']);
  });

  it('an entry, its leaf hash and every tree node rewritten consistently → root-mismatch (the signed roots)', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const data = Buffer.from(entryData(dir, 5).toString('utf8').replace('entry number 5', 'entry number X'));
      db.prepare('UPDATE entries SET data = ?, leaf = ? WHERE idx = 5').run(data, hashLeaf(data));
      const leaves = (db.prepare('SELECT leaf FROM entries ORDER BY idx').all() as { leaf: Buffer }[]).map((r) => r.leaf);
      db.exec('DELETE FROM nodes');
      const f = new Frontier();
      const ins = db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)');
      for (const leaf of leaves) f.push(leaf, (level, index, hash) => void ins.run(level, index, hash));
    });
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['root-mismatch']);
    assert.equal(r.problems[0]!.size, SIZE);
    assert.match(r.problems[0]!.detail, /from index 1 to 9/);
  });

  it('a tree node changed alone → tree-modified over its range', async () => {
    const dir = copy();
    attack(dir, (db) => db.prepare('UPDATE nodes SET hash = ? WHERE level = 2 AND idx = 1').run(Buffer.alloc(32, 0xee)));
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['tree-modified@4']);
    // Proofs served from that node would not verify; the entries themselves are intact.
    assert.match(r.problems[0]!.detail, /entries 4 to 7/);
  });

  it('the head checkpoint’s text altered → checkpoint-signature-invalid', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const { note } = db.prepare('SELECT note FROM head').get() as { note: string };
      const cp = parseSignedCheckpoint(note);
      const forgedRoot = Buffer.alloc(32, 1).toString('base64');
      db.prepare('UPDATE head SET note = ?').run(note.replace(cp.root.toString('base64'), forgedRoot));
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['checkpoint-signature-invalid']);
    assert.equal(runCli(['--ledger', dir, 'verify']).status, 1);
  });

  it('the head checkpoint’s signature altered → checkpoint-signature-invalid', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const { note } = db.prepare('SELECT note FROM head').get() as { note: string };
      const sigB64 = note.trimEnd().split(' ').at(-1)!;
      const sig = Buffer.from(sigB64, 'base64');
      sig[20]! ^= 0x01;
      db.prepare('UPDATE head SET note = ?').run(note.replace(sigB64, sig.toString('base64')));
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['checkpoint-signature-invalid']);
  });

  it('a checkpoint signed by another key under the same name → checkpoint-signature-invalid', async () => {
    const dir = copy();
    attack(dir, (db) => {
      const { note } = db.prepare('SELECT note FROM head').get() as { note: string };
      const cp = parseSignedCheckpoint(note);
      const other = makeEd25519Signer('example.org/tamper', Buffer.alloc(32, 9));
      db.prepare('UPDATE head SET note = ?').run(signCheckpoint(cp, other));
    });
    assert.deepEqual(summary((await verify(dir)).problems), ['checkpoint-signature-invalid']);
  });

  it('the head rolled back to an older signed checkpoint, later entries deleted → checkpoint-missing (kept history)', async () => {
    const l = Ledger.init(join(tmp.dir, `long${counter++}`), { origin: 'example.org/long' });
    l.append([note('first')]);
    l.append(Array.from({ length: KEEP_CHECKPOINT_EVERY }, (_, i) => note(`bulk ${i}`)));
    l.append([note('after')]);
    const store = SqliteStore.open(join(l.dir, 'ledger.db'));
    const kept = store.keptCheckpoints();
    store.close();
    assert.deepEqual(kept.map((k) => k.size), [1, KEEP_CHECKPOINT_EVERY + 1]);
    l.close();
    attack(l.dir, (db) => {
      // Back to the first signed state, as if nothing had been appended since.
      db.prepare('UPDATE head SET size = 1, note = ?').run(kept[0]!.checkpoint);
      db.exec('DELETE FROM entries WHERE idx >= 1');
    });
    const r = await verify(l.dir);
    assert.equal(r.ok, false);
    const kinds = summary(r.problems);
    assert.equal(kinds[0], 'checkpoint-missing');
    assert.equal(r.problems[0]!.size, KEEP_CHECKPOINT_EVERY + 1);
    // The entries the kept checkpoint covers are named as missing.
    assert.ok(kinds.includes('entry-missing@1') && kinds.includes(`entry-missing@${KEEP_CHECKPOINT_EVERY}`));
  });

  it('the head deleted → checkpoint-missing, and the entries no checkpoint covers are unsigned', async () => {
    const dir = copy();
    attack(dir, (db) => db.exec('DELETE FROM head'));
    const kinds = summary((await verify(dir)).problems);
    assert.equal(kinds[0], 'checkpoint-missing'); // the kept checkpoint at size 1 outlives the head
    assert.ok(kinds.includes(`entry-unsigned@${SIZE - 1}`));
    assert.equal(runCli(['--ledger', dir, 'verify']).status, 1);
  });

  it('an entry’s bytes replaced by something that is not JSON → entry-modified; `entry` refuses it in one line (exit 1)', async () => {
    const dir = copy();
    attack(dir, (db) => db.prepare('UPDATE entries SET data = ? WHERE idx = 2').run(Buffer.from([0xff, 0x00, 0x7b])));
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-modified@2']);
    const pretty = runCli(['--ledger', dir, 'entry', '2']);
    assert.equal(pretty.status, 1);
    assert.ok(isOneErrorLine(pretty.stderr), pretty.stderr);
    // Even the exact bytes are read only checked: what the store holds instead is verify's finding.
    const raw = runCli(['--ledger', dir, 'entry', '2', '--raw']);
    assert.equal(raw.status, 1);
    assert.equal(raw.stderr, 'ffaudit: entry 2 was modified (run ffaudit verify)\n');
    assert.equal(raw.stdoutBytes.length, 0);
  });

  it('the head rolled back without deleting entries → the entries beyond it are unsigned', async () => {
    const dir = copy();
    attack(dir, (db) => db.prepare('UPDATE head SET size = 5, note = ?').run(templateCheckpoints[4]));
    assert.deepEqual(summary((await verify(dir)).problems), [5, 6, 7, 8, 9].map((i) => `entry-unsigned@${i}`));
  });
});

describe('verify: blobs, the large values kept outside their entries', () => {
  let withBlob = '';
  let blobHash = '';
  before(() => {
    const l = Ledger.init(join(tmp.dir, `blobs${counter++}`), { origin: 'example.org/blobs' });
    l.append([note('small')]);
    l.append([{ ...note('large'), report: 'y'.repeat(70_000) }]);
    l.close();
    withBlob = l.dir;
    const db = new Database(join(withBlob, 'ledger.db'), { readonly: true });
    blobHash = (db.prepare('SELECT sha256 FROM blobs').get() as { sha256: string }).sha256;
    db.close();
  });
  const copyBlobLedger = () => {
    const dir = join(tmp.dir, `blobcopy${counter++}`);
    cpSync(withBlob, dir, { recursive: true });
    return dir;
  };

  it('an intact ledger with a blob verifies', async () => {
    assert.deepEqual((await verify(withBlob)).problems, []);
  });

  it('a blob’s content altered → blob-modified, naming the entry', async () => {
    const dir = copyBlobLedger();
    attack(dir, (db) => db.prepare('UPDATE blobs SET data = ? WHERE sha256 = ?').run(Buffer.from(JSON.stringify('z'.repeat(70_000))), blobHash));
    const r = await verify(dir);
    assert.deepEqual(summary(r.problems), ['blob-modified@1']);
    assert.match(r.problems[0]!.detail, new RegExp(blobHash));
    assert.equal(runCli(['--ledger', dir, 'verify']).status, 1);
  });

  it('a blob deleted → blob-missing, naming the entry', async () => {
    const dir = copyBlobLedger();
    attack(dir, (db) => db.prepare('DELETE FROM blobs WHERE sha256 = ?').run(blobHash));
    assert.deepEqual(summary((await verify(dir)).problems), ['blob-missing@1']);
  });

  it("a run's FFmpeg report deleted → blob-missing, naming the run.end entry that names it (real FFmpeg run)", async () => {
    const l = Ledger.init(join(tmp.dir, `reports${counter++}`), { origin: 'example.org/reports' });
    l.close();
    const run = runCli(['--ledger', l.dir, 'ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=64x48:rate=10', join(tmp.dir, `out${counter++}.mp4`)]);
    assert.equal(run.status, 0, run.stderr);
    const end = JSON.parse(entryData(l.dir, 1).toString('utf8')) as { type: string; report_sha256: unknown };
    assert.equal(end.type, 'run.end');
    assert.ok(typeof end.report_sha256 === 'string');
    const report = end.report_sha256;
    assert.deepEqual((await verify(l.dir)).problems, []);
    const copyOf = () => {
      const dir = join(tmp.dir, `reportcopy${counter++}`);
      cpSync(l.dir, dir, { recursive: true });
      return dir;
    };

    // Triggers put back afterwards: nothing but the missing report shows.
    const hidden = copyOf();
    attack(hidden, (db) => db.prepare('DELETE FROM blobs WHERE sha256 = ?').run(report));
    const r = await verify(hidden);
    assert.deepEqual(summary(r.problems), ['blob-missing@1']);
    assert.match(r.problems[0]!.detail, new RegExp(`blob ${report}, named by entry 1, is missing`));
    const cli = runCli(['--ledger', hidden, 'verify']);
    assert.equal(cli.status, 1);
    assert.match(cli.stdout, /verdict {2}TAMPERED: 1 problem found/);
    assert.match(cli.stdout, /✗ blob-missing \(entry 1\)/);

    // Triggers left dropped, the whole table emptied.
    const open = copyOf();
    attack(open, (db) => db.prepare('DELETE FROM blobs').run(), false);
    assert.deepEqual(summary((await verify(open)).problems), ['triggers-missing', 'blob-missing@1']);

    // The report rewritten: it no longer hashes to the name its entry gives.
    const altered = copyOf();
    attack(altered, (db) => db.prepare("UPDATE blobs SET codec = 'identity', data = ? WHERE sha256 = ?").run(Buffer.from('ffmpeg started\n'), report));
    assert.deepEqual(summary((await verify(altered)).problems), ['blob-modified@1']);
  });
});

describe('verify: a damaged database file', () => {
  /** The offset of the SQLite page that holds `needle`, and the page size. */
  function pageOf(file: Buffer, needle: string): { start: number; size: number } {
    const size = file.readUInt16BE(16) === 1 ? 65536 : file.readUInt16BE(16);
    const at = file.indexOf(needle);
    assert.ok(at > 0, `${needle} not found in the file`);
    return { start: Math.floor(at / size) * size, size };
  }

  it('bytes flipped in the entries’ page → store-corrupt (exit 1), nothing crashes', async () => {
    const dir = copy();
    const path = join(dir, 'ledger.db');
    const file = readFileSync(path);
    const page = pageOf(file, 'entry number 7');
    // Break the b-tree page's cell pointer array: SQLite's own check finds it.
    for (let i = 8; i < 24; i++) file[page.start + i] = 0xff;
    writeFileSync(path, file);
    const r = await verify(dir);
    assert.equal(r.ok, false);
    assert.ok(summary(r.problems).includes('store-corrupt'), JSON.stringify(summary(r.problems)));
    const cli = runCli(['--ledger', dir, 'verify']);
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stdout, /store-corrupt/);
    const json = runCli(['--ledger', dir, 'verify', '--json']);
    assert.equal(json.status, 1);
    assert.ok((JSON.parse(json.stdout) as { problems: { kind: string }[] }).problems.some((p) => p.kind === 'store-corrupt'));
  });

  it('the page holding the ledger’s metadata damaged → store-corrupt (exit 1), the rest still checked', async () => {
    const dir = copy();
    const path = join(dir, 'ledger.db');
    const file = readFileSync(path);
    const page = pageOf(file, 'example.org/tamper+'); // the vkey value in the meta table
    assert.notEqual(page.start, pageOf(file, 'entry number 7').start);
    for (let i = 8; i < 24; i++) file[page.start + i] = 0xff;
    writeFileSync(path, file);
    const r = await verify(dir);
    // SQLite may list several faults on that page; every finding is about the file, none about the entries.
    assert.ok(r.problems.length > 0 && r.problems.every((p) => p.kind === 'store-corrupt'), JSON.stringify(summary(r.problems)));
    assert.equal(r.checked.entries, SIZE);
    const cli = runCli(['--ledger', dir, 'verify', '--json']);
    assert.equal(cli.status, 1, cli.stderr);
  });

  it('bytes flipped inside an entry’s payload → entry-modified with its index', async () => {
    const dir = copy();
    const path = join(dir, 'ledger.db');
    const file = readFileSync(path);
    const at = file.indexOf('entry number 7');
    file[at + 13] = '8'.charCodeAt(0);
    writeFileSync(path, file);
    assert.deepEqual(summary((await verify(dir)).problems), ['entry-modified@7']);
  });

  it('a file that is no database at all → exit 2 with one line', async () => {
    const dir = copy();
    const path = join(dir, 'ledger.db');
    const file = readFileSync(path);
    file.fill(0x5a, 0, 100); // the header
    writeFileSync(path, file);
    await assert.rejects(verify(dir), (e: unknown) => e instanceof FfauditError && e.code === 'STORE');
    const cli = runCli(['--ledger', dir, 'verify']);
    assert.equal(cli.status, 2);
    assert.ok(isOneErrorLine(cli.stderr), cli.stderr);
    assert.equal(cli.stdout, '');
  });
});

describe('verify --trusted: tampering with the signing key', () => {
  it('an older copy of the whole ledger restored → verify alone passes, --trusted finds rollback', async () => {
    const dir = copy();
    const old = join(tmp.dir, `old${counter++}`);
    cpSync(dir, old, { recursive: true });
    const l = Ledger.open({ dir, explicit: true });
    l.append([note('eleven'), note('twelve')]);
    const newer = l.checkpoint();
    l.close();
    const trustedFile = join(tmp.dir, `trusted${counter++}.checkpoint`);
    writeFileSync(trustedFile, newer);
    // The attacker puts the old copy back.
    cpSync(old, dir, { recursive: true, force: true });
    assert.deepEqual((await verify(dir)).problems, []);
    const r = await verify(dir, newer);
    assert.deepEqual(summary(r.problems), ['rollback']);
    assert.equal(r.problems[0]!.size, SIZE + 2);
    const cli = runCli(['--ledger', dir, 'verify', '--trusted', trustedFile, '--json']);
    assert.equal(cli.status, 1);
    assert.equal((JSON.parse(cli.stdout) as { problems: { kind: string }[] }).problems[0]!.kind, 'rollback');
  });

  it('a trusted checkpoint whose signature line is megabytes long is read, not a stack overflow', () => {
    const dir = copy();
    const cp = templateCheckpoints[SIZE - 1]!;
    const at = cp.lastIndexOf(' ');
    const withSignature = (sig: string) => {
      const f = join(tmp.dir, `long${counter++}.checkpoint`);
      writeFileSync(f, `${cp.slice(0, at + 1)}${sig}\n`);
      return runCli(['--ledger', dir, 'verify', '--trusted', f]);
    };
    // Not base64 at its very end: malformed, one line, exit 2.
    const bad = withSignature(`${'A'.repeat(12 << 20)}*`);
    assert.equal(bad.status, 2, bad.stderr);
    assert.ok(isOneErrorLine(bad.stderr), bad.stderr);
    assert.match(bad.stderr, /^ffaudit: the trusted checkpoint is malformed: /);
    // Well-formed but not this key's signature: the finding verify gives any checkpoint it did not sign.
    const forged = withSignature('A'.repeat(12 << 20));
    assert.equal(forged.status, 1, forged.stderr);
    assert.match(forged.stdout, /✗ fork \(size \d+\): the trusted checkpoint is not signed by this ledger's current key/);
    assert.doesNotMatch(bad.stderr + forged.stderr, /call stack/);
  });

  it('an entry deleted, checked against a trusted checkpoint → entry-missing, not a fork', async () => {
    const dir = copy();
    attack(dir, (db) => db.exec('DELETE FROM entries WHERE idx = 4'));
    assert.deepEqual(summary((await verify(dir, templateCheckpoints[SIZE - 1])).problems), ['entry-missing@4']);
  });

  it('the log extends a trusted checkpoint of any earlier size → intact', async () => {
    const dir = copy();
    for (let s = 1; s <= SIZE; s++) assert.deepEqual((await verify(dir, templateCheckpoints[s - 1])).problems, [], `size ${s}`);
  });

  it('a different history built with the same key → fork', async () => {
    // The attacker copies the key (and config) into a second ledger and writes other entries, as many and more.
    const forkDir = join(tmp.dir, `fork${counter++}`);
    const f = Ledger.init(forkDir, { origin: 'example.org/tamper', keyPath: join(template, 'signing.key') });
    for (let i = 0; i < SIZE + 3; i++) f.append([note(`forged ${i}`)]);
    f.close();
    const trusted = templateCheckpoints[SIZE - 1]!;
    assert.deepEqual((await verify(forkDir)).problems, []); // self-consistent, as a key holder can make it
    const r = await verify(forkDir, trusted);
    assert.deepEqual(summary(r.problems), ['fork']);
    assert.equal(r.problems[0]!.size, SIZE);
    const trustedFile = join(tmp.dir, `trusted${counter++}.checkpoint`);
    writeFileSync(trustedFile, trusted);
    const cli = runCli(['--ledger', forkDir, 'verify', '--trusted', trustedFile]);
    assert.equal(cli.status, 1);
    assert.match(cli.stdout, /fork/);
  });

  it('history rewritten from one entry on, with the key → fork against a trusted checkpoint after it', async () => {
    const dir = copy();
    const signer = Ledger.open({ dir, explicit: true });
    const key = signer.signer();
    signer.close();
    attack(dir, (db) => {
      const data = Buffer.from(entryData(dir, 8).toString('utf8').replace('entry number 8', 'entry number Y'));
      db.prepare('UPDATE entries SET data = ?, leaf = ? WHERE idx = 8').run(data, hashLeaf(data));
      const leaves = (db.prepare('SELECT leaf FROM entries ORDER BY idx').all() as { leaf: Buffer }[]).map((r) => r.leaf);
      db.exec('DELETE FROM nodes');
      const f = new Frontier();
      const ins = db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)');
      for (const leaf of leaves) f.push(leaf, (level, index, hash) => void ins.run(level, index, hash));
      db.prepare('UPDATE head SET note = ?').run(signCheckpoint({ origin: 'example.org/tamper', size: SIZE, root: f.root(), extensions: [] }, key));
    });
    assert.deepEqual((await verify(dir)).problems, []);
    assert.deepEqual((await verify(dir, templateCheckpoints[7])).problems, []); // the first 8 entries are untouched
    assert.deepEqual(summary((await verify(dir, templateCheckpoints[8])).problems), ['fork']);
    assert.deepEqual(summary((await verify(dir, templateCheckpoints[9])).problems), ['fork']);
  });

  it('a ledger re-keyed (new vkey in its metadata, checkpoints re-signed) → --trusted catches it', async () => {
    const dir = copy();
    const thief = makeEd25519Signer('example.org/tamper', Buffer.alloc(32, 0x42));
    attack(dir, (db) => {
      db.prepare("UPDATE meta SET value = ? WHERE key = 'vkey'").run(formatVerifierKey(thief.name, thief.publicKey));
      const resign = (note: string) => signNote(formatCheckpointText(parseSignedCheckpoint(note)), [thief]);
      const { note } = db.prepare('SELECT note FROM head').get() as { note: string };
      db.prepare('UPDATE head SET note = ?').run(resign(note));
      for (const k of db.prepare('SELECT size, note FROM checkpoints').all() as { size: number; note: string }[]) {
        db.prepare('UPDATE checkpoints SET note = ? WHERE size = ?').run(resign(k.note), k.size);
      }
    });
    writeFileSync(join(dir, 'vkey'), `${formatVerifierKey(thief.name, thief.publicKey)}\n`);
    assert.deepEqual((await verify(dir)).problems, []); // on its own, a re-keyed ledger is self-consistent
    const r = await verify(dir, templateCheckpoints[SIZE - 1]);
    assert.deepEqual(summary(r.problems), ['fork']);
    assert.match(r.problems[0]!.detail, /key/);
  });

  it('a malformed or foreign trusted checkpoint is an error (BAD_INPUT), not a finding', async () => {
    const dir = copy();
    const bad = (t: string) => assert.rejects(verify(dir, t), (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT');
    await bad('not a checkpoint');
    await bad(templateCheckpoints[0]!.replace('\n\n', '\n'));
    const other = makeEd25519Signer('example.org/other', Buffer.alloc(32, 1));
    await bad(signCheckpoint({ origin: 'example.org/other', size: 1, root: Buffer.alloc(32), extensions: [] }, other));
  });
});
