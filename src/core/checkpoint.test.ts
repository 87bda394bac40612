import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { c2spExamples } from '../testing/fixtures.js';
import { formatCheckpointText, openCheckpoint, parseCheckpointText, parseSignedCheckpoint, signCheckpoint } from './checkpoint.js';
import { FfauditError } from './errors.js';
import { hashLeaf } from './merkle.js';
import { checkNote, makeEd25519Signer, makeEd25519Verifier } from './note.js';

const EXAMPLE_CHECKPOINT = c2spExamples()[2]!;
const signer = makeEd25519Signer('ffaudit.example/log', Buffer.alloc(32, 3));
const verifier = makeEd25519Verifier(signer.name, signer.publicKey);
const ROOT = hashLeaf(Buffer.from('root'));

const code = (c: string) => (e: unknown) => e instanceof FfauditError && e.code === c;

describe('c2sp.org/tlog-checkpoint', () => {
  it('parses the specification’s example: origin, size, root; the witness line is ignored', () => {
    const cp = parseSignedCheckpoint(EXAMPLE_CHECKPOINT);
    assert.equal(cp.origin, 'example.com/behind-the-sofa');
    assert.equal(cp.size, 20852163);
    assert.equal(cp.root.toString('base64'), 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    assert.deepEqual(cp.extensions, []);
    assert.equal(cp.note, EXAMPLE_CHECKPOINT);
    assert.deepEqual(
      cp.parsed.signatures.map((s) => s.name),
      ['example.com/behind-the-sofa', 'witness.example.com/w1'],
    );
    // Neither key is ours: unknown signature lines are ignored, so the note is merely unsigned for us.
    assert.equal(checkNote(cp.parsed, [verifier]), 'unsigned');
    assert.throws(() => openCheckpoint(EXAMPLE_CHECKPOINT, [verifier]), code('INTEGRITY'));
  });

  it('signs and opens a checkpoint; the exact text is origin, size, base64 root', () => {
    const note = signCheckpoint({ origin: signer.name, size: 5, root: ROOT, extensions: [] }, signer);
    assert.ok(note.startsWith(`ffaudit.example/log\n5\n${ROOT.toString('base64')}\n\n\u2014 ffaudit.example/log `));
    const cp = openCheckpoint(note, [verifier], signer.name);
    assert.equal(cp.size, 5);
    assert.deepEqual(cp.root, ROOT);
    // A witness cosignature line appended later does not disturb the log's own signature.
    const cosigned = `${note}\u2014 witness.example/w ${Buffer.alloc(76, 9).toString('base64')}\n`;
    assert.equal(openCheckpoint(cosigned, [verifier], signer.name).size, 5);
  });

  it('keeps extension lines, signed with the rest', () => {
    const text = formatCheckpointText({ origin: 'o.example/x', size: 0, root: ROOT, extensions: ['ext one', 'ext two'] });
    assert.equal(text, `o.example/x\n0\n${ROOT.toString('base64')}\next one\next two\n`);
    assert.deepEqual(parseCheckpointText(text).extensions, ['ext one', 'ext two']);
  });

  it('rejects an altered or foreign checkpoint', () => {
    const note = signCheckpoint({ origin: signer.name, size: 5, root: ROOT, extensions: [] }, signer);
    assert.throws(() => openCheckpoint(note.replace('\n5\n', '\n6\n'), [verifier]), code('INTEGRITY'));
    assert.throws(() => openCheckpoint(note, [verifier], 'another.example/log'), code('BAD_INPUT'));
    const other = makeEd25519Signer(signer.name, Buffer.alloc(32, 4)); // same name, another key
    const forged = signCheckpoint({ origin: signer.name, size: 5, root: ROOT, extensions: [] }, other);
    assert.throws(() => openCheckpoint(forged, [verifier]), code('INTEGRITY'));
  });

  it('rejects malformed checkpoint text with BAD_INPUT', () => {
    const r = ROOT.toString('base64');
    const bad = [
      `o\n5\n${r}`, // no final newline
      `o\n5\n`, // no root
      `\n5\n${r}\n`, // empty origin
      `o\n05\n${r}\n`, // leading zero
      `o\n-5\n${r}\n`,
      `o\n+5\n${r}\n`,
      `o\n5.0\n${r}\n`,
      `o\n 5\n${r}\n`,
      `o\n9007199254740993\n${r}\n`, // beyond 2^53
      `o\n99999999999999999999\n${r}\n`,
      `o\n5\n${r.slice(0, -4)}\n`, // short root
      `o\n5\n${r.replace('=', '')}\n`, // unpadded
      `o\n5\n${Buffer.alloc(33).toString('base64')}\n`,
      `o\n5\n${r}\n\next\n`, // an empty extension line
    ];
    for (const t of bad) assert.throws(() => parseCheckpointText(t), code('BAD_INPUT'), JSON.stringify(t));
    assert.throws(() => parseSignedCheckpoint(`o\n5\n${r}\n`), code('BAD_INPUT'), 'no signatures');
    assert.throws(() => parseSignedCheckpoint('not a checkpoint'), code('BAD_INPUT'));
    // A blank line inside the text: the note splits at the last one, leaving an empty extension line.
    const withBlank = signCheckpoint({ origin: signer.name, size: 5, root: ROOT, extensions: [] }, signer).replace(`${r}\n`, `${r}\n\nextra\n`);
    assert.throws(() => parseSignedCheckpoint(withBlank), code('BAD_INPUT'));
  });
});
