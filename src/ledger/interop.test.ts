/**
 * Interoperability: what we sign and hash must verify with someone else's implementation of the same specs.
 * OpenSSL checks the Ed25519 checkpoint signatures and the leaf hashes; a Python (standard library only) RFC 9162
 * verifier, written from the RFC independently of src/core/merkle.ts, checks our inclusion and consistency proofs.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Ledger } from './ledger.js';
import { tempDir } from '../testing/fixtures.js';

const have = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0 || spawnSync(cmd, ['version'], { stdio: 'ignore' }).status === 0;

const PY_VERIFIER = String.raw`
import base64, hashlib, json, sys

def node(l, r): return hashlib.sha256(b'\x01' + l + r).digest()

def verify_inclusion(leaf, index, size, proof, root):
    # RFC 9162 section 2.1.3.2
    if index >= size: return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root

def verify_consistency(size1, size2, proof, root1, root2):
    # RFC 9162 section 2.1.4.2
    if size1 == size2: return not proof and root1 == root2
    if size1 == 0: return not proof
    if not proof: return False
    if size1 & (size1 - 1) == 0: proof = [root1] + proof
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr = node(c, fr); sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return fr == root1 and sr == root2 and sn == 0

b = lambda s: base64.b64decode(s)
def check(case):
    if case['kind'] == 'inclusion':
        leaf = hashlib.sha256(b'\x00' + b(case['entry'])).digest()
        return verify_inclusion(leaf, case['index'], case['size'], [b(h) for h in case['proof']], b(case['root']))
    return verify_consistency(case['size1'], case['size2'], [b(h) for h in case['proof']], b(case['root1']), b(case['root2']))
print(' '.join('ok' if check(c) else 'bad' for c in json.load(sys.stdin)))
`;

/** Runs the Python verifier once over many cases; one verdict ('ok' or 'bad') per case. */
function python(cases: object[]): string[] {
  return execFileSync('python3', ['-c', PY_VERIFIER], { input: JSON.stringify(cases), encoding: 'utf8' }).trim().split(' ');
}

function parseReceipt(text: string) {
  const [head, checkpoint] = [text.slice(0, text.indexOf('\n\n')), text.slice(text.indexOf('\n\n') + 2)];
  const lines = head.split('\n');
  const index = Number(lines[1]!.slice('index '.length));
  const cpLines = checkpoint.split('\n');
  return { index, proof: lines.slice(2), size: Number(cpLines[1]), root: cpLines[2]!, checkpoint };
}

describe('interoperability with independent implementations', () => {
  const tmp = tempDir('interop');
  after(tmp.cleanup);
  const dir = tmp.dir;
  const l = Ledger.init(join(dir, 'l'), { origin: 'interop.example/log' });
  const sizes: { size: number; root: string }[] = [];
  for (let i = 0; i < 13; i++) {
    l.append([{ v: 1, type: 'custody.note', time: '2026-11-28T00:00:00.000000000Z', by: { user: 'u', uid: 1, host: 'h' }, text: `step ${i} — «non-ASCII»`, files: [] }]);
    const cp = l.checkpoint().split('\n');
    sizes.push({ size: Number(cp[1]), root: cp[2]! });
  }

  it('OpenSSL verifies the Ed25519 checkpoint signature with the public key from the vkey', { skip: !have('openssl') && 'openssl is not installed' }, () => {
    const note = l.checkpoint();
    const text = note.slice(0, note.lastIndexOf('\n\n') + 1);
    const sigLine = note.slice(note.lastIndexOf('\n\n') + 2).trim();
    const sig = Buffer.from(sigLine.split(' ').pop()!, 'base64');
    const vkey = l.vkey.split('+');
    const pub = Buffer.from(vkey.slice(2).join('+'), 'base64').subarray(1);
    // SPKI DER for an Ed25519 key (RFC 8410), so OpenSSL reads the raw public key.
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]);
    writeFileSync(join(dir, 'pub.der'), spki);
    writeFileSync(join(dir, 'msg'), text);
    writeFileSync(join(dir, 'sig'), sig.subarray(4));
    const verify = (msgFile: string) =>
      spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.der'), '-keyform', 'DER', '-rawin', '-in', msgFile, '-sigfile', join(dir, 'sig')], { encoding: 'utf8' });
    assert.equal(verify(join(dir, 'msg')).status, 0, 'OpenSSL accepts the signature');
    writeFileSync(join(dir, 'msg2'), text.replace('\n13\n', '\n14\n'));
    assert.notEqual(verify(join(dir, 'msg2')).status, 0, 'OpenSSL rejects an altered checkpoint');
    // The key ID is SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], computed here by OpenSSL.
    writeFileSync(join(dir, 'kid'), Buffer.concat([Buffer.from('interop.example/log\n\x01', 'latin1'), pub]));
    const digest = execFileSync('openssl', ['dgst', '-sha256', '-hex', join(dir, 'kid')], { encoding: 'utf8' }).trim().split(' ').pop()!;
    assert.equal(digest.slice(0, 8), vkey[1]);
    assert.equal(sig.subarray(0, 4).toString('hex'), vkey[1]);
  });

  it('OpenSSL computes the same leaf hashes', { skip: !have('openssl') && 'openssl is not installed' }, () => {
    for (const n of [0, 7, 12]) {
      writeFileSync(join(dir, 'leaf'), Buffer.concat([Buffer.from([0]), l.entry(n)]));
      const digest = execFileSync('openssl', ['dgst', '-sha256', '-hex', join(dir, 'leaf')], { encoding: 'utf8' }).trim().split(' ').pop()!;
      assert.equal(digest, l.treeNode(0, n).toString('hex'));
    }
  });

  it('an independent RFC 9162 verifier accepts our inclusion proofs and rejects altered ones', { skip: !have('python3') && 'python3 is not installed' }, () => {
    const good = [];
    const bad = [];
    for (let n = 0; n < 13; n++) {
      const r = parseReceipt(l.proof(n));
      const entry = l.entry(n).toString('base64');
      good.push({ kind: 'inclusion', entry, index: r.index, size: r.size, proof: r.proof, root: r.root });
      const altered = [...r.proof];
      altered[0] = Buffer.alloc(32, 1).toString('base64');
      bad.push({ kind: 'inclusion', entry, index: r.index, size: r.size, proof: altered, root: r.root });
      bad.push({ kind: 'inclusion', entry, index: (r.index + 1) % 13, size: r.size, proof: r.proof, root: r.root });
    }
    assert.deepEqual(python(good), good.map(() => 'ok'));
    assert.deepEqual(python(bad), bad.map(() => 'bad'));
  });

  it('an independent RFC 9162 verifier accepts our consistency proofs between every pair of sizes', { skip: !have('python3') && 'python3 is not installed' }, () => {
    const cases = [];
    for (const a of sizes) {
      for (const b of sizes) {
        if (a.size > b.size) continue;
        const proof = l.consistency(a.size, b.size).map((h) => h.toString('base64'));
        cases.push({ kind: 'consistency', size1: a.size, size2: b.size, proof, root1: a.root, root2: b.root });
      }
    }
    assert.equal(cases.length, (13 * 14) / 2);
    assert.deepEqual(python(cases), cases.map(() => 'ok'));
    const altered = cases.filter((x) => x.proof.length > 1).map((c) => ({ ...c, root2: c.root1 }));
    assert.deepEqual(python(altered), altered.map(() => 'bad'));
  });
});
