/**
 * The witness's ML-DSA-44 cosignatures on the host: read from a server's answer, verified and stored beside the
 * Ed25519 ones (the cosignatures table keys on the key ID, so each key has its row), checked again by every reader
 * and by `ffaudit verify`; a host whose config predates the key ignores that line; a forged line is refused with
 * INTEGRITY naming the cosigner, and a byte flipped in the stored row by an attacker is `cosignature-invalid`.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { parseCosignerVkey, verifiedCosignatures } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';
import { runCliInProcess } from '../testing/cli.js';
import { cosign, joinServer, serverKeys } from '../testing/cosigners.js';
import { tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';
import { readServerConfig } from './server-config.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const tmp = tempDir('cosignatures-ml-dsa');
after(tmp.cleanup);

const ORIGIN = 'example.org/pq';
const NOW = Math.floor(Date.now() / 1000);
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
let counter = 0;

/** A ledger of 5 entries joined to a server whose witness has both keys (or, with `old`, a config without the second). */
function hostWith(keys: ReturnType<typeof serverKeys>, old = false) {
  const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: ORIGIN });
  joinServer(l.dir, keys, old ? { witnessMlDsa44: undefined } : {});
  let cp = '';
  for (let i = 0; i < 5; i++) cp = l.append([note(`entry ${i}`)]).checkpoint;
  return { l, cp, root: parseSignedCheckpoint(cp).root.toString('hex') };
}

/** The witness's answer to add-checkpoint: its Ed25519 line, then its ML-DSA-44 line; and the mirror's line. */
function answer(keys: ReturnType<typeof serverKeys>, cp: string) {
  return { ed: cosign(keys.witness, cp, NOW - 60), pq: cosign(keys.witnessMlDsa44!, cp, NOW - 60), mirror: cosign(keys.mirror, cp, NOW - 50) };
}

function attack(dir: string, edit: (db: BetterSqlite3.Database) => void): void {
  const db = new Database(join(dir, 'ledger.db'));
  const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
  for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
  edit(db);
  for (const t of triggers) db.exec(t.sql);
  db.close();
}

describe('ML-DSA-44 cosignatures kept by a host', () => {
  it('the config keeps the witness_ml_dsa44 vkey; an old config (without it) stays valid', () => {
    const keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
    const { l } = hostWith(keys);
    assert.equal(readServerConfig(l.dir)?.witnessMlDsa44, keys.config.witnessMlDsa44);
    const s = l.server()!;
    assert.equal(s.witnessMlDsa44?.type, 0x06);
    assert.equal(s.witnessMlDsa44?.name, 'audit.example/witness');
    l.close();
    const { l: old } = hostWith(keys, true);
    assert.equal(old.server()!.witnessMlDsa44, undefined);
    old.close();
  });

  it('stores the ML-DSA-44 row beside the Ed25519 one, reads both back checked, and verify is INTACT', async () => {
    const keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
    const { l, cp, root } = hostWith(keys);
    const a = answer(keys, cp);
    const stored = l.addCosignatures(5, root, [a.ed, a.pq], keys.url);
    assert.deepEqual(stored.map((c) => [c.name, c.keyId.toString('hex'), c.line]), [
      ['audit.example/witness', keys.witness.keyId.toString('hex'), a.ed],
      ['audit.example/witness', keys.witnessMlDsa44!.keyId.toString('hex'), a.pq],
    ]);
    l.addCosignatures(5, root, [a.mirror], keys.url);
    const rows = l.cosignatures(5);
    assert.deepEqual(rows.map((r) => r.line).sort(), [a.ed, a.pq, a.mirror].sort());
    // Both witness rows count for the witness; the latest of its name is one of them.
    assert.equal(l.lastCosigned(keys.url, 'audit.example/witness')?.size, 5);
    const r = await l.verify({ workers: 0 });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.cosigned?.map((c) => [c.cosigner, c.size, c.behind]), [
      ['audit.example/mirror', 5, 0],
      ['audit.example/witness', 5, 0],
    ]);
    l.close();
    const cli = await runCliInProcess(['--ledger', l.dir, 'verify', '--no-archive']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /^ {9}audit\.example\/witness \(https:\/\/audit\.example\) cosigned size 5, 1 min ago: up to date$|^ {9}audit\.example\/witness \(https:\/\/audit\.example\) cosigned size 5/m);
    assert.match(cli.stdout, /INTACT: all 5 entries are exactly as signed, and the log extends the checkpoints the server cosigned \(up to size 5\)\./);
  });

  it('a host whose config predates the ML-DSA-44 key ignores that line and stores the Ed25519 one', () => {
    const keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
    const { l, cp, root } = hostWith(keys, true);
    const a = answer(keys, cp);
    const stored = l.addCosignatures(5, root, [a.ed, a.pq], keys.url);
    assert.deepEqual(stored.map((c) => c.line), [a.ed]);
    assert.deepEqual(l.cosignatures().map((c) => c.line), [a.ed]);
    l.close();
  });

  it('a server answering with a forged ML-DSA-44 line is refused with INTEGRITY naming the cosigner, and nothing is stored', () => {
    const keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
    const { l, cp, root } = hostWith(keys);
    const a = answer(keys, cp);
    const raw = Buffer.from(a.pq.trim().split(' ').at(-1)!, 'base64');
    raw[1000]! ^= 0x01;
    const forged = `\u2014 audit.example/witness ${raw.toString('base64')}\n`;
    assert.throws(
      () => l.addCosignatures(5, root, [a.ed, forged], keys.url),
      (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && e.message === "the cosignature by audit.example/witness on the checkpoint of size 5 does not verify with the server's key",
    );
    assert.deepEqual(l.cosignatures(), []);
    l.close();
  });

  it('a byte flipped in the stored ML-DSA-44 row → cosignature-invalid naming the cosigner; the row is no longer read back', async () => {
    const keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
    const { l, cp, root } = hostWith(keys);
    const a = answer(keys, cp);
    l.addCosignatures(5, root, [a.ed, a.pq, a.mirror], keys.url);
    l.close();
    attack(l.dir, (db) => {
      const row = db.prepare('SELECT line FROM cosignatures WHERE key_id = ?').get(keys.witnessMlDsa44!.keyId) as { line: string };
      const raw = Buffer.from(row.line.trim().split(' ').at(-1)!, 'base64');
      raw[2000]! ^= 0x80; // inside the ML-DSA-44 signature
      db.prepare('UPDATE cosignatures SET line = ? WHERE key_id = ?').run(`\u2014 audit.example/witness ${raw.toString('base64')}\n`, keys.witnessMlDsa44!.keyId);
    });
    const again = Ledger.open({ dir: l.dir, explicit: true });
    try {
      const r = await again.verify({ workers: 0 });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.size, p.detail]), [
        ['cosignature-invalid', 5, 'a stored cosignature by "audit.example/witness" its signature does not verify: the cosignatures were edited in the database'],
      ]);
      assert.deepEqual(again.cosignatures().map((c) => c.line).sort(), [a.ed, a.mirror].sort());
    } finally {
      again.close();
    }
    const cli = await runCliInProcess(['--ledger', l.dir, 'verify', '--no-archive']);
    assert.equal(cli.status, 1);
    assert.match(cli.stdout, /✗ cosignature-invalid \(size 5\): a stored cosignature by "audit\.example\/witness" its signature does not verify/);
  });

  it('the stored lines, on the checkpoint, verify as a note with the config keys (what a bundle carries)', () => {
    const keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
    const { l, cp, root } = hostWith(keys);
    const a = answer(keys, cp);
    l.addCosignatures(5, root, [a.ed, a.pq, a.mirror], keys.url);
    const lines = l.cosignatures(5).map((c) => c.line);
    l.close();
    const verifiers = [parseCosignerVkey(keys.config.witness), parseCosignerVkey(keys.config.mirror), parseCosignerVkey(keys.config.witnessMlDsa44!, { mlDsa44 })];
    assert.equal(verifiedCosignatures(cp + lines.join(''), verifiers).length, 3);
  });
});
