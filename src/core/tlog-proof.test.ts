import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { naiveRoot } from '../testing/fixtures.js';
import { signCheckpoint } from './checkpoint.js';
import { FfauditError } from './errors.js';
import { Frontier, hashLeaf, inclusionProof, type NodeSource } from './merkle.js';
import { makeEd25519Signer, makeEd25519Verifier } from './note.js';
import { formatTlogProof, parseTlogProof, verifyTlogProof } from './tlog-proof.js';

const signer = makeEd25519Signer('ffaudit.example/log', Buffer.alloc(32, 5));
const verifier = makeEd25519Verifier(signer.name, signer.publicKey);
const code = (c: string) => (e: unknown) => e instanceof FfauditError && e.code === c;

const SIZE = 13;
const leaves = Array.from({ length: SIZE }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`)));
const nodes = new Map<string, Buffer>();
const f = new Frontier();
for (const l of leaves) f.push(l, (level, index, hash) => nodes.set(`${level}/${index}`, hash));
const src: NodeSource = { perfect: (level, index) => (level === 0 ? leaves[index]! : nodes.get(`${level}/${index}`)!) };
const checkpoint = signCheckpoint({ origin: signer.name, size: SIZE, root: naiveRoot(leaves), extensions: [] }, signer);

describe('c2sp.org/tlog-proof@v1', () => {
  it('formats the receipt exactly as the spec lays it out', () => {
    const proof = inclusionProof(src, 6, SIZE);
    const text = formatTlogProof(6, proof, checkpoint);
    assert.equal(text, `c2sp.org/tlog-proof@v1\nindex 6\n${proof.map((h) => `${h.toString('base64')}\n`).join('')}\n${checkpoint}`);
    const withExtra = formatTlogProof(6, proof, checkpoint, Buffer.from('xyz'));
    assert.ok(withExtra.startsWith('c2sp.org/tlog-proof@v1\nextra eHl6\nindex 6\n'));
    assert.deepEqual(parseTlogProof(withExtra).extra, Buffer.from('xyz'));
  });

  it('every receipt of the tree verifies end to end', () => {
    for (let i = 0; i < SIZE; i++) {
      const text = formatTlogProof(i, inclusionProof(src, i, SIZE), checkpoint);
      const p = verifyTlogProof(text, leaves[i]!, [verifier], signer.name);
      assert.equal(p.index, i);
      assert.equal(p.checkpoint.size, SIZE);
    }
  });

  it('a receipt for another leaf, index or a forged checkpoint fails', () => {
    const text = formatTlogProof(6, inclusionProof(src, 6, SIZE), checkpoint);
    assert.throws(() => verifyTlogProof(text, leaves[7]!, [verifier]), code('INTEGRITY'));
    assert.throws(() => verifyTlogProof(text.replace('index 6', 'index 7'), leaves[6]!, [verifier]), code('INTEGRITY'));
    assert.throws(() => verifyTlogProof(text.replace(`\n${SIZE}\n`, `\n${SIZE + 1}\n`), leaves[6]!, [verifier]), code('INTEGRITY'));
    const other = makeEd25519Verifier('ffaudit.example/log', makeEd25519Signer('ffaudit.example/log', Buffer.alloc(32, 6)).publicKey);
    assert.throws(() => verifyTlogProof(text, leaves[6]!, [other]), code('INTEGRITY'));
    assert.throws(() => verifyTlogProof(text, leaves[6]!, [verifier], 'another.example/log'), code('BAD_INPUT'));
    // One proof hash changed.
    const firstHash = inclusionProof(src, 6, SIZE)[0]!.toString('base64');
    const changed = Buffer.from(firstHash, 'base64');
    changed[0]! ^= 0x80;
    assert.throws(() => verifyTlogProof(text.replace(firstHash, changed.toString('base64')), leaves[6]!, [verifier]), code('INTEGRITY'));
  });

  it('rejects malformed receipts with BAD_INPUT', () => {
    const proof = inclusionProof(src, 6, SIZE);
    const text = formatTlogProof(6, proof, checkpoint);
    const bad = [
      text.replace('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2'),
      text.replace('index 6', 'index 06'),
      text.replace('index 6', 'index -6'),
      text.replace('index 6', 'index  6'),
      text.replace('index 6', 'idx 6'),
      text.replace('index 6\n', 'index 6\nnot base64!\n'),
      text.replace('index 6\n', `index 6\n${Buffer.alloc(31).toString('base64')}\n`),
      text.replace('index 6\n', 'extra !!\nindex 6\n'),
      text.replace('\n\n', '\n'), // no blank line
      `${text.slice(0, text.indexOf('\n\n') + 2)}not a checkpoint\n`,
      formatTlogProof(6, Array.from({ length: 65 }, () => proof[0]!), checkpoint),
    ];
    for (const t of bad) assert.throws(() => parseTlogProof(t), code('BAD_INPUT'), JSON.stringify(t.slice(0, 80)));
  });
});
