import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { c2spExamples } from '../testing/fixtures.js';
import { FfauditError } from './errors.js';
import {
  checkNote,
  computeKeyId,
  decodeBase64Strict,
  ED25519_TYPE,
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  makeEd25519Signer,
  makeEd25519Verifier,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  rawPublicKey,
  signNote,
} from './note.js';

const [EXAMPLE_VKEY, EXAMPLE_NOTE, EXAMPLE_CHECKPOINT] = c2spExamples() as [string, string, string];
const SEED = Buffer.alloc(32, 7);

const badInput = (fn: () => unknown, why: string) =>
  assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT', why);

describe('c2sp.org/signed-note examples', () => {
  it('the example blocks were read', () => {
    assert.equal(EXAMPLE_VKEY, 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k\n');
    assert.ok(EXAMPLE_NOTE.startsWith('This is an example message.\n\n\u2014 example.com/foo '));
    assert.ok(EXAMPLE_NOTE.endsWith('=\n'));
    assert.ok(EXAMPLE_CHECKPOINT.startsWith('example.com/behind-the-sofa\n'));
  });

  it('the example verifier key verifies the example note', () => {
    const v = parseVerifierKey(EXAMPLE_VKEY);
    assert.equal(v.name, 'example.com/foo');
    assert.equal(v.keyId.toString('hex'), '530d903a');
    const note = parseNote(EXAMPLE_NOTE);
    assert.equal(note.text, 'This is an example message.\n');
    assert.equal(note.signatures.length, 1);
    assert.equal(note.signatures[0]!.name, 'example.com/foo');
    assert.equal(note.signatures[0]!.signature.length, 64);
    assert.equal(checkNote(note, [v]), 'ok');
  });

  it('computes the example key ID and writes the example verifier key back byte for byte', () => {
    const raw = Buffer.from('AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'base64').subarray(1);
    assert.equal(computeKeyId('example.com/foo', ED25519_TYPE, raw).toString('hex'), '530d903a');
    // The key ID binds the name and the type: either changed gives another ID.
    assert.notEqual(computeKeyId('example.com/bar', ED25519_TYPE, raw).toString('hex'), '530d903a');
    assert.notEqual(computeKeyId('example.com/foo', 0x04, raw).toString('hex'), '530d903a');
    // Independently: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4].
    const independent = createHash('sha256').update(Buffer.concat([Buffer.from('example.com/foo\n\x01', 'latin1'), raw])).digest().subarray(0, 4);
    assert.equal(independent.toString('hex'), '530d903a');
    assert.equal(`${formatVerifierKey('example.com/foo', raw)}\n`, EXAMPLE_VKEY);
  });

  it('altered notes fail', () => {
    const v = parseVerifierKey(EXAMPLE_VKEY);
    // Text changed: the known key's signature no longer verifies.
    assert.equal(checkNote(parseNote(EXAMPLE_NOTE.replace('example message', 'exemple message')), [v]), 'invalid');
    // One signature bit flipped.
    const sigB64 = EXAMPLE_NOTE.split(' ').at(-1)!.trim();
    const sig = Buffer.from(sigB64, 'base64');
    sig[10]! ^= 1;
    assert.equal(checkNote(parseNote(EXAMPLE_NOTE.replace(sigB64, sig.toString('base64'))), [v]), 'invalid');
    // The key ID in the signature changed: no known key signed it.
    const otherId = Buffer.from(sigB64, 'base64');
    otherId[0]! ^= 1;
    assert.equal(checkNote(parseNote(EXAMPLE_NOTE.replace(sigB64, otherId.toString('base64'))), [v]), 'unsigned');
    // The signer's name changed: likewise unknown.
    assert.equal(checkNote(parseNote(EXAMPLE_NOTE.replace('\u2014 example.com/foo', '\u2014 example.com/bar')), [v]), 'unsigned');
    // No verifiers at all.
    assert.equal(checkNote(parseNote(EXAMPLE_NOTE), []), 'unsigned');
  });

  it('ignores signature lines from unknown keys', () => {
    const v = parseVerifierKey(EXAMPLE_VKEY);
    // A name our own keys could not have (a format character) is still a valid name for someone else's key.
    const zwj = `${EXAMPLE_NOTE}\u2014 witness\u200d.example ${Buffer.alloc(68, 2).toString('base64')}\n`;
    assert.equal(checkNote(parseNote(zwj), [v]), 'ok');
    const other = makeEd25519Signer('other.example/key', SEED);
    const withUnknown = `${EXAMPLE_NOTE}\u2014 other.example/key ${Buffer.concat([other.keyId, Buffer.alloc(64, 1)]).toString('base64')}\n`;
    assert.equal(checkNote(parseNote(withUnknown), [v]), 'ok');
    // ... but a known key whose signature fails is fatal, whatever else signed.
    assert.equal(checkNote(parseNote(withUnknown), [v, makeEd25519Verifier(other.name, other.publicKey)]), 'invalid');
  });
});

describe('keys', () => {
  it('signer key text round-trips, in the Go note format', () => {
    const text = formatSignerKey('ffaudit.example/log', SEED);
    const s = makeEd25519Signer('ffaudit.example/log', SEED);
    assert.equal(text, `PRIVATE+KEY+ffaudit.example/log+${s.keyId.toString('hex')}+${Buffer.concat([Buffer.from([1]), SEED]).toString('base64')}`);
    const parsed = parseSignerKey(`${text}\n`);
    assert.equal(parsed.name, 'ffaudit.example/log');
    assert.deepEqual(parsed.keyId, s.keyId);
    assert.deepEqual(parsed.publicKey, s.publicKey);
    const msg = Buffer.from('hello\n');
    assert.deepEqual(parsed.sign(msg), s.sign(msg)); // Ed25519 is deterministic
  });

  it('verifier key text round-trips and matches node:crypto’s own public key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = rawPublicKey(privateKey);
    assert.deepEqual(raw, rawPublicKey(publicKey));
    const vkey = formatVerifierKey('a.example/b', raw);
    const v = parseVerifierKey(vkey);
    assert.deepEqual(v.publicKey, raw);
    assert.equal(formatVerifierKey(v.name, v.publicKey), vkey);
  });

  it('a signed note verifies with node:crypto directly, from the spec', () => {
    const s = makeEd25519Signer('ffaudit.example/log', SEED);
    const note = signNote('line one\nline two\n', [s]);
    assert.match(note, /^line one\nline two\n\n\u2014 ffaudit\.example\/log [A-Za-z0-9+/]+=*\n$/);
    const sig = Buffer.from(note.split(' ').at(-1)!.trim(), 'base64');
    assert.equal(sig.length, 68);
    assert.deepEqual(sig.subarray(0, 4), s.keyId);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), s.publicKey]);
    const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    assert.ok(verify(null, Buffer.from('line one\nline two\n'), pub, sig.subarray(4)));
    assert.equal(checkNote(parseNote(note), [makeEd25519Verifier(s.name, s.publicKey)]), 'ok');
  });

  it('rejects malformed verifier keys with BAD_INPUT', () => {
    const good = EXAMPLE_VKEY.trim();
    badInput(() => parseVerifierKey('example.com/foo+530d903a'), 'two fields');
    badInput(() => parseVerifierKey(good.replace('530d903a', '530d903b')), 'wrong key ID');
    badInput(() => parseVerifierKey(good.replace('530d903a', '530D903A')), 'upper-case key ID');
    badInput(() => parseVerifierKey(good.replace('AekyeRrm', 'AekyeR!m')), 'bad base64');
    badInput(() => parseVerifierKey(good.replace('+AekyeRrm', '+AgkyeRrm')), 'type 0x02');
    badInput(() => parseVerifierKey(good.slice(0, -4)), 'short key');
    badInput(() => parseVerifierKey(`exa mple+530d903a+${good.split('+')[2]!}`), 'space in name');
  });

  it('rejects malformed signer keys with KEY', () => {
    const text = formatSignerKey('a.example/b', SEED);
    const key = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === 'KEY');
    key(() => parseSignerKey(text.replace('PRIVATE+KEY', 'PUBLIC+KEY')));
    key(() => parseSignerKey(text.replace(/\+[0-9a-f]{8}\+/, '+00000000+')));
    key(() => parseSignerKey(text.slice(0, -8)));
    key(() => parseSignerKey('garbage'));
    key(() => parseSignerKey(''));
  });

  it('key names: no spaces, no plus, no control characters, not empty', () => {
    assert.ok(isValidKeyName('example.com/foo'));
    for (const bad of ['', 'a b', 'a+b', 'a\tb', 'a\u00a0b', 'a\u0007b', 'a\u2028b']) assert.ok(!isValidKeyName(bad), JSON.stringify(bad));
  });
});

describe('parseNote: malformed input is BAD_INPUT', () => {
  const s = makeEd25519Signer('ffaudit.example/log', SEED);
  const good = signNote('hello\n', [s]);

  it('accepts a well-formed note, DEL and blank lines in its text included (only controls below U+0020 are banned)', () => {
    assert.equal(parseNote(good).text, 'hello\n');
    const v = makeEd25519Verifier(s.name, s.publicKey);
    const odd = signNote('del \u007f here\n\nafter a blank line\n', [s]);
    assert.equal(parseNote(odd).text, 'del \u007f here\n\nafter a blank line\n');
    assert.equal(checkNote(parseNote(odd), [v]), 'ok');
  });

  it('rejects each malformation', () => {
    badInput(() => parseNote(good.replace('\n\n', '\n')), 'missing blank line');
    badInput(() => parseNote('hello\n\n'), 'no signatures');
    badInput(() => parseNote(good.slice(0, -1)), 'no final newline');
    badInput(() => parseNote(good.replace(/ ([A-Za-z0-9+/=]+)\n$/, ' $1!\n')), 'bad base64');
    badInput(() => parseNote(good.replace(/=\n$/, '\n')), 'unpadded base64');
    badInput(() => parseNote(good.replace('\u2014 ', '- ')), 'hyphen, not em dash');
    badInput(() => parseNote(good.replace('\u2014 ffaudit.example/log ', '\u2014 ffaudit.example/log')), 'no space before signature');
    badInput(() => parseNote(`hel\rlo\n${good.slice(6)}`), 'carriage return');
    badInput(() => parseNote(`hel\u0000lo\n${good.slice(6)}`), 'NUL');
    badInput(() => parseNote(`hel\u001blo\n${good.slice(6)}`), 'escape');
    badInput(() => parseNote(`hel\ufffdlo\n${good.slice(6)}`), 'replacement character (invalid UTF-8)');
    badInput(() => parseNote(`${good}\u2014 x.example/y ${Buffer.alloc(3).toString('base64')}\n`), 'signature too short for a key ID');
    const many = Array.from({ length: 101 }, () => good.slice(good.indexOf('\u2014'))).join('');
    badInput(() => parseNote(`hello\n\n${many}`), 'more than 100 signatures');
  });

  it('decodes only strict, padded, standard base64', () => {
    assert.deepEqual(decodeBase64Strict('AAE='), Buffer.from([0, 1]));
    assert.deepEqual(decodeBase64Strict(''), Buffer.alloc(0));
    for (const bad of ['AAE', 'AA-_', 'AAE=\n', ' AAE=', 'AAF=', 'A===', '====', 'AA=A', '=AAA', 'AAA=AAA=']) assert.equal(decodeBase64Strict(bad), null, JSON.stringify(bad));
  });

  it('decodes and rejects megabytes of base64 in one pass (no stack overflow)', () => {
    const bytes = Buffer.alloc(9 << 20, 0xa5);
    bytes[bytes.length - 1] = 7;
    const text = bytes.toString('base64');
    assert.ok(text.length > 8 << 20);
    assert.ok(decodeBase64Strict(text)?.equals(bytes));
    assert.equal(decodeBase64Strict(`${text.slice(0, -4)}AA-=`), null);
    assert.equal(decodeBase64Strict(`*${text.slice(1)}`), null);
    assert.equal(decodeBase64Strict(`${text}AAA`), null);
  });
});
