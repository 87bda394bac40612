/**
 * The server's witness with its ML-DSA-44 key: `serve init` makes it beside the Ed25519 ones, `serve key` prints it,
 * a server made before gets it with `serve key --add-ml-dsa` and works with Ed25519 alone until then;
 * add-checkpoint answers both lines (Ed25519 first), the monitoring checkpoint carries both, POST /join gives the
 * host the new key; a host that joined before ignores the second line, one that joined after keeps and checks
 * both. All through the real CLI and real `ffaudit serve` processes on a real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { cosignerVkey, formatCosignerSkey, parseCosignerVkey, splitSignatureLines, verifiedCosignatures } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { Ledger } from '../ledger/ledger.js';
import { readServerConfig } from '../ledger/server-config.js';
import { mlDsa44, verifyMlDsa44 } from '../pq/ml-dsa44.js';
import { runCliInProcess } from '../testing/cli.js';
import { cleanEnv, runCliAsync, tempDir } from '../testing/fixtures.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { startServe } from '../testing/serve-process.js';
import { loadServerKeys } from './keys.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let admin = '';
before(() => {
  if ('url' in pgc) admin = pgc.url;
});
const tmp = tempDir('ml-dsa-witness');
after(tmp.cleanup);

/** `serve key` output as { label: vkey }. */
function vkeysOf(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(/\s+/) as [string, string]).filter(([k]) => ['witness', 'mirror', 'witness_ml_dsa44'].includes(k)));
}

describe('the ML-DSA-44 witness key of `serve init` and `serve key`', () => {
  it('serve init makes it (0600) under NAME/witness beside the Ed25519 keys; serve key prints it last', async () => {
    const dir = join(tmp.dir, 'init');
    const r = await runCliInProcess(['serve', 'init', '--name', 'audit.example.com', '--keys', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(join(dir, 'witness-ml-dsa44.key')).mode & 0o777, 0o600);
    const k = await runCliInProcess(['serve', 'key', '--keys', dir]);
    assert.deepEqual(k.stdout.split('\n').map((l) => l.split(' ')[0]), ['witness', 'mirror', 'witness_ml_dsa44', '']);
    const v = vkeysOf(k.stdout);
    assert.equal(r.stdout, `created the server keys in ${dir}\n${k.stdout}`);
    const pq = parseCosignerVkey(v.witness_ml_dsa44!, { mlDsa44 });
    const ed = parseCosignerVkey(v.witness!);
    assert.equal(pq.type, 0x06);
    assert.equal(pq.name, 'audit.example.com/witness');
    assert.equal(ed.name, pq.name);
    assert.notDeepEqual(pq.keyId, ed.keyId);
    assert.equal(pq.publicKey.length, 1312);
    // The key file holds the 32-byte seed: PRIVATE+KEY+name+keyid+base64(0x06 ‖ seed).
    const skey = readFileSync(join(dir, 'witness-ml-dsa44.key'), 'utf8');
    assert.match(skey, new RegExp(`^PRIVATE\\+KEY\\+audit\\.example\\.com/witness\\+${pq.keyId.toString('hex')}\\+([A-Za-z0-9+/]{44})\\n$`));
    const material = Buffer.from(skey.trim().slice(`PRIVATE+KEY+audit.example.com/witness+${pq.keyId.toString('hex')}+`.length), 'base64');
    assert.equal(material.length, 33);
    assert.equal(material[0], 0x06);
  });

  it('a server made before has no such key and keeps its two; --add-ml-dsa adds it once', async () => {
    const dir = join(tmp.dir, 'old');
    assert.equal((await runCliInProcess(['serve', 'init', '--name', 'old.example', '--keys', dir])).status, 0);
    const before = readFileSync(join(dir, 'witness.key'));
    rmSync(join(dir, 'witness-ml-dsa44.key')); // the layout of a server initialised before ML-DSA-44
    const two = await runCliInProcess(['serve', 'key', '--keys', dir]);
    assert.deepEqual(Object.keys(vkeysOf(two.stdout)), ['witness', 'mirror']);
    assert.equal(loadServerKeys(dir).witnessMlDsa44, undefined);
    const added = await runCliInProcess(['serve', 'key', '--add-ml-dsa', '--keys', dir]);
    assert.equal(added.status, 0, added.stderr);
    const v = vkeysOf(added.stdout);
    assert.equal(`witness ${v.witness}\nmirror  ${v.mirror}\n`, two.stdout, 'the Ed25519 keys are untouched');
    assert.equal(parseCosignerVkey(v.witness_ml_dsa44!, { mlDsa44 }).name, 'old.example/witness');
    assert.deepEqual(readFileSync(join(dir, 'witness.key')), before);
    const again = await runCliInProcess(['serve', 'key', '--add-ml-dsa', '--keys', dir]);
    assert.equal(again.status, 2);
    assert.equal(again.stderr, `ffaudit: ${join(dir, 'witness-ml-dsa44.key')} already exists: this server has its ML-DSA-44 witness key already (serve key prints it)\n`);
    assert.equal(vkeysOf((await runCliInProcess(['serve', 'key', '--keys', dir])).stdout).witness_ml_dsa44, v.witness_ml_dsa44);
  });

  it('refuses a key file of the wrong type or name (KEY)', async () => {
    const dir = join(tmp.dir, 'bad');
    assert.equal((await runCliInProcess(['serve', 'init', '--name', 'bad.example', '--keys', dir])).status, 0);
    const file = join(dir, 'witness-ml-dsa44.key');
    const good = readFileSync(file, 'utf8');
    const refused = (re: RegExp) => assert.throws(() => loadServerKeys(dir), (e: unknown) => e instanceof FfauditError && e.code === 'KEY' && re.test(e.message));
    writeFileSync(file, `${formatCosignerSkey('bad.example/witness', Buffer.alloc(32, 3))}\n`);
    refused(/witness-ml-dsa44\.key: not an ML-DSA-44 cosigner key$/);
    writeFileSync(file, good.replace('bad.example/witness', 'bad.example/mirror'));
    refused(/key ID does not match/);
    const k = await runCliInProcess(['serve', 'key', '--keys', dir]);
    assert.equal(k.status, 2);
    assert.match(k.stderr, /^ffaudit: the signer key ID does not match the key\n$/);
  });
});

describe('the witness answers with both keys; hosts keep what they know', { skip }, () => {
  it('Ed25519 alone before --add-ml-dsa; then two lines, GET …/checkpoint carries both, /join gives the key, old and new hosts each read right', async () => {
    const db = await createDatabase(admin);
    const keys = join(tmp.dir, 'server-keys');
    const ffaudit = async (args: readonly string[], input?: string) => {
      const r = await runCliAsync(args, cleanEnv(), input);
      assert.equal(r.status, 0, `ffaudit ${args.join(' ')}: ${r.stderr}`);
      return r;
    };
    await ffaudit(['serve', 'init', '--name', 'audit.test', '--keys', keys]);
    rmSync(join(keys, 'witness-ml-dsa44.key')); // a server initialised before ML-DSA-44
    let server = await startServe(db, keys);
    const joined = new Map<string, string>();
    const enrol = async (name: string) => {
      const dir = join(tmp.dir, name);
      await ffaudit(['--ledger', dir, 'init', '--origin', `${name}.test/ffaudit`]);
      const token = await ffaudit(['serve', 'hosts', 'add', name, '--db', db]);
      joined.set(dir, (await ffaudit(['--ledger', dir, 'join', server.url], token.stdout)).stdout);
      return dir;
    };
    const rows = (dir: string) => {
      const l = Ledger.open({ dir, explicit: true });
      try {
        return l.cosignatures().map((c) => ({ size: c.size, name: c.name, keyId: c.keyId.toString('hex') }));
      } finally {
        l.close();
      }
    };
    try {
      assert.match(server.log(), /; no ML-DSA-44 witness key \(serve key --add-ml-dsa\)\n/);
      const old = await enrol('before');
      assert.equal(readServerConfig(old)?.witnessMlDsa44, undefined, 'the server had no ML-DSA-44 key to give');
      await ffaudit(['--ledger', old, 'note', 'first']);
      await ffaudit(['--ledger', old, 'push']);
      const k0 = vkeysOf((await ffaudit(['serve', 'key', '--keys', keys])).stdout);
      const edId = parseCosignerVkey(k0.witness!).keyId.toString('hex');
      assert.deepEqual(rows(old).filter((r) => r.name === 'audit.test/witness'), [{ size: 1, name: 'audit.test/witness', keyId: edId }]);

      // The upgrade: the key is added, the server restarted.
      await server.stop();
      const k = vkeysOf((await ffaudit(['serve', 'key', '--add-ml-dsa', '--keys', keys])).stdout);
      const pq = parseCosignerVkey(k.witness_ml_dsa44!, { mlDsa44 });
      // Back on the same address: the hosts' configs name it.
      server = await startServe(db, keys, ['--listen', new URL(server.url).host]);
      assert.match(server.log(), new RegExp(`; witness ML-DSA-44 key ID ${pq.keyId.toString('hex')}\\n`));

      // A host enrolled now learns the key from POST /join, exactly as serve key prints it.
      const fresh = await enrol('after');
      assert.equal(readServerConfig(fresh)?.witnessMlDsa44, k.witness_ml_dsa44);
      assert.ok(joined.get(fresh)!.endsWith(`\nwitness_ml_dsa44 ${k.witness_ml_dsa44}\n`), joined.get(fresh));
      assert.doesNotMatch(joined.get(old)!, /witness_ml_dsa44/);
      await ffaudit(['--ledger', fresh, 'note', 'one']);
      await ffaudit(['--ledger', fresh, 'note', 'two']);
      await ffaudit(['--ledger', fresh, 'push']);
      assert.deepEqual(
        rows(fresh).filter((r) => r.name === 'audit.test/witness').map((r) => r.keyId).sort(),
        [edId, pq.keyId.toString('hex')].sort(),
        'both witness rows kept',
      );
      const v = await ffaudit(['--ledger', fresh, 'verify', '--no-archive']);
      assert.match(v.stdout, /INTACT: all 2 entries are exactly as signed, and the log extends the checkpoints the server cosigned \(up to size 2\)\./);

      // The host that joined before: the witness now answers two lines; it keeps the one it knows, nothing fails.
      await ffaudit(['--ledger', old, 'note', 'second']);
      const pushed = await ffaudit(['--ledger', old, 'push']);
      assert.match(pushed.stdout + pushed.stderr, /witness: 2/);
      assert.deepEqual(rows(old).filter((r) => r.name === 'audit.test/witness').map((r) => [r.size, r.keyId]), [[1, edId], [2, edId]]);
      await ffaudit(['--ledger', old, 'verify', '--no-archive']);

      // add-checkpoint straight from the wire: the same checkpoint again (old size = its size, same root) is cosigned
      // again, with two lines, Ed25519 first, each verifying with the key `serve key` printed.
      const l = Ledger.open({ dir: fresh, explicit: true });
      const cp = l.checkpoint();
      l.close();
      const res = await fetch(`${server.url}/add-checkpoint`, { method: 'POST', body: `old 2\n\n${cp}` });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      const lines = splitSignatureLines(body);
      assert.equal(lines.length, 2);
      const ed = parseCosignerVkey(k.witness!);
      assert.deepEqual(verifiedCosignatures(cp + lines[0]!, [ed]).length, 1);
      assert.deepEqual(verifiedCosignatures(cp + lines[1]!, [pq]).length, 1);
      // The ML-DSA-44 line, checked with the bare primitive over the cosigned_message written out by hand.
      const raw = Buffer.from(lines[1]!.trim().split(' ').at(-1)!, 'base64');
      const { origin, size, root } = parseSignedCheckpoint(cp);
      const u64 = (n: bigint) => Buffer.from(n.toString(16).padStart(16, '0'), 'hex');
      const message = Buffer.concat([
        Buffer.from('subtree/v1\n\0'),
        Buffer.from([18]),
        Buffer.from('audit.test/witness'),
        raw.subarray(4, 12),
        Buffer.from([origin.length]),
        Buffer.from(origin),
        u64(0n),
        u64(BigInt(size)),
        root,
      ]);
      assert.ok(verifyMlDsa44(pq.publicKey, message, raw.subarray(12)));
      assert.equal(createHash('sha256').update(Buffer.concat([Buffer.from('audit.test/witness\n'), Buffer.from([6]), pq.publicKey])).digest().subarray(0, 4).toString('hex'), raw.subarray(0, 4).toString('hex'));

      // GET /witness/<hex sha256(origin)>/checkpoint: the log's signature and both witness lines.
      const served = await (await fetch(`${server.url}/witness/${createHash('sha256').update(origin).digest('hex')}/checkpoint`)).text();
      assert.equal(verifiedCosignatures(served, [ed, pq]).length, 2);
      assert.equal(cosignerVkey(pq), k.witness_ml_dsa44);
    } finally {
      await server.stop();
    }
  });
});
