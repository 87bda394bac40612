import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VECTORS_DIR } from '../testing/fixtures.js';
import { formatCheckpointText, signCheckpoint } from './checkpoint.js';
import {
  addSignatureLines,
  COSIGNATURE_TYPE,
  formatCosignerSkey,
  formatCosignerVkey,
  makeCosignatureVerifier,
  makeCosigner,
  parseCosignerSkey,
  parseCosignerVkey,
  splitSignatureLines,
  verifiedCosignatures,
} from './cosignature.js';
import { FfauditError } from './errors.js';
import { checkNote, formatSignerKey, formatVerifierKey, makeEd25519Signer, makeEd25519Verifier, parseNote } from './note.js';

const fails = (fn: () => unknown, code: string, why: string) =>
  assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === code, why);

const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};

// A raw Ed25519 key pair written with node:crypto alone, for the independent checks.
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const privOf = (seed: Buffer) => createPrivateKey({ key: Buffer.concat([PKCS8, seed]), format: 'der', type: 'pkcs8' });
const pubOf = (raw: Buffer) => createPublicKey({ key: Buffer.concat([SPKI, raw]), format: 'der', type: 'spki' });
const rawPub = (seed: Buffer) => {
  const der = createPublicKey(privOf(seed)).export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
};

const WITNESS_SEED = Buffer.alloc(32, 0x11);
const LOG_SEED = Buffer.alloc(32, 0x22);
const ROOT = createHash('sha256').update('root').digest();
const TEXT = formatCheckpointText({ origin: 'studio.example/host-a', size: 42, root: ROOT, extensions: [] });

describe('cosignature/v1: a known answer from an independent implementation (a Sigsum witness)', () => {
  const v = JSON.parse(readFileSync(join(VECTORS_DIR, 'cosignature', 'sigsum-witness-cosignature.json'), 'utf8')) as {
    witnessPublicKeySsh: string;
    witnessKeyHash: string;
    logKeyHash: string;
    size: number;
    rootHash: string;
    timestamp: number;
    signature: string;
  };
  // An OpenSSH ed25519 public key blob: string "ssh-ed25519", string key (each with a u32 length).
  const blob = Buffer.from(v.witnessPublicKeySsh.split(' ')[1]!, 'base64');
  assert.equal(blob.subarray(4, 15).toString(), 'ssh-ed25519');
  const pub = blob.subarray(19);
  const text = `sigsum.org/v1/tree/${v.logKeyHash}\n${v.size}\n${Buffer.from(v.rootHash, 'hex').toString('base64')}\n`;
  const signature = Buffer.concat([u64(BigInt(v.timestamp)), Buffer.from(v.signature, 'hex')]);

  it('the vector is what it says: a Sigsum key hash is SHA-256 of the key, and node:crypto accepts the signature', () => {
    assert.equal(pub.length, 32);
    assert.equal(createHash('sha256').update(pub).digest('hex'), v.witnessKeyHash);
    const message = Buffer.from(`cosignature/v1\ntime ${v.timestamp}\n${text}`);
    assert.ok(verify(null, message, pubOf(pub), Buffer.from(v.signature, 'hex')));
  });

  it('our verifier accepts it and returns its timestamp; any change makes it fail', () => {
    const w = makeCosignatureVerifier('witness.example/sigsum', pub);
    assert.equal(w.verify(text, signature), v.timestamp);
    assert.equal(w.verify(text.replace(`\n${v.size}\n`, `\n${v.size + 1}\n`), signature), undefined);
    assert.equal(w.verify(text, Buffer.concat([u64(BigInt(v.timestamp + 1)), Buffer.from(v.signature, 'hex')])), undefined);
    assert.equal(w.verify(`${text}extension\n`, signature), undefined);
    assert.equal(w.verify(text, signature.subarray(0, 71)), undefined);
  });

  it('as a signature line in a note, under a name of our choosing with its type 0x04 key ID', () => {
    const name = 'witness.example/sigsum';
    const keyId = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x04]), pub])).digest().subarray(0, 4);
    const line = `\u2014 ${name} ${Buffer.concat([keyId, signature]).toString('base64')}\n`;
    // The log's own signature line is someone else's key: ignored, not an error.
    const other = `\u2014 sigsum.org/v1/tree/${v.logKeyHash} ${Buffer.alloc(68, 1).toString('base64')}\n`;
    const note = `${text}\n${other}${line}`;
    const w = parseCosignerVkey(formatCosignerVkey(name, pub));
    assert.deepEqual(verifiedCosignatures(note, [w]), [{ name, timestamp: v.timestamp, line }]);
  });
});

describe('cosignature/v1: our cosignatures, checked by hand from the spec text', () => {
  const c = makeCosigner('witness.example/w1', WITNESS_SEED);

  it('key ID = SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key)[:4], and the key is the seed’s', () => {
    assert.equal(COSIGNATURE_TYPE, 0x04);
    assert.deepEqual(c.publicKey, rawPub(WITNESS_SEED));
    const id = createHash('sha256').update(Buffer.concat([Buffer.from('witness.example/w1\n'), Buffer.from([0x04]), c.publicKey])).digest().subarray(0, 4);
    assert.deepEqual(c.keyId, id);
    // Not the note key ID of the same key (type 0x01).
    assert.notDeepEqual(c.keyId, makeEd25519Signer('witness.example/w1', WITNESS_SEED).keyId);
  });

  it('the line is "— name base64(key ID ‖ u64 timestamp ‖ Ed25519 signature)" over the cosignature/v1 message', () => {
    const line = c.cosign(TEXT, 1679315147);
    const m = /^\u2014 witness\.example\/w1 ([A-Za-z0-9+/]+=*)\n$/.exec(line);
    assert.ok(m, line);
    const raw = Buffer.from(m[1]!, 'base64');
    assert.equal(raw.length, 4 + 8 + 64);
    assert.deepEqual(raw.subarray(0, 4), c.keyId);
    assert.equal(raw.readBigUInt64BE(4), 1679315147n);
    // §Ed25519 signed message, rebuilt from the spec's example layout.
    const message = `cosignature/v1\ntime 1679315147\nstudio.example/host-a\n42\n${ROOT.toString('base64')}\n`;
    assert.ok(verify(null, Buffer.from(message), pubOf(rawPub(WITNESS_SEED)), raw.subarray(12)));
    // Ed25519 is deterministic: the same input gives the same line, another time another one.
    assert.equal(c.cosign(TEXT, 1679315147), line);
    assert.notEqual(c.cosign(TEXT, 1679315148), line);
  });

  it('covers extension lines', () => {
    const text = formatCheckpointText({ origin: 'studio.example/host-a', size: 42, root: ROOT, extensions: ['ext one'] });
    const line = c.cosign(text, 7);
    const sig = parseNote(`${text}\n${line}`).signatures[0]!.signature;
    const v = makeCosignatureVerifier(c.name, c.publicKey);
    assert.equal(v.verify(text, sig), 7);
    assert.equal(v.verify(text.replace('ext one', 'ext two'), sig), undefined);
    assert.equal(v.verify(TEXT, sig), undefined);
  });

  it('refuses to cosign anything but checkpoint text, or with a timestamp that is not a safe integer', () => {
    fails(() => c.cosign('studio.example/host-a\n42\n', 1), 'BAD_INPUT', 'two lines');
    fails(() => c.cosign(TEXT.slice(0, -1), 1), 'BAD_INPUT', 'no final newline');
    fails(() => c.cosign('hello\n', 1), 'BAD_INPUT', 'not a checkpoint');
    for (const t of [-1, 1.5, NaN, 2 ** 53]) fails(() => c.cosign(TEXT, t), 'INTERNAL', `timestamp ${t}`);
    fails(() => makeCosigner('bad name', WITNESS_SEED), 'KEY', 'space in name');
    fails(() => makeCosigner('a+b', WITNESS_SEED), 'KEY', 'plus in name');
    fails(() => makeCosigner('w', Buffer.alloc(31)), 'KEY', 'short seed');
  });
});

describe('cosignature timestamps (tlog-cosignature §Format)', () => {
  const c = makeCosigner('witness.example/w1', WITNESS_SEED);
  const v = makeCosignatureVerifier(c.name, c.publicKey);
  // Signatures over a chosen timestamp, made here with node:crypto so any u64 can be tried.
  const signedAt = (ts: bigint) =>
    Buffer.concat([u64(ts), sign(null, Buffer.from(`cosignature/v1\ntime ${ts}\n${TEXT}`), privOf(WITNESS_SEED))]);

  it('accepts 0 and the largest safe integer', () => {
    assert.equal(v.verify(TEXT, signedAt(0n)), 0);
    assert.equal(v.verify(TEXT, signedAt(BigInt(Number.MAX_SAFE_INTEGER))), Number.MAX_SAFE_INTEGER);
  });

  it('refuses timestamps above 2^63 - 1 (MUST NOT exceed), even correctly signed', () => {
    assert.equal(v.verify(TEXT, signedAt(2n ** 63n)), undefined);
    assert.equal(v.verify(TEXT, signedAt(2n ** 64n - 1n)), undefined);
  });

  it('ignores timestamps it cannot return exactly (above 2^53 - 1), rather than rounding them', () => {
    assert.equal(v.verify(TEXT, signedAt(2n ** 53n)), undefined);
    assert.equal(v.verify(TEXT, signedAt(2n ** 63n - 1n)), undefined);
  });
});

describe('cosigner keys', () => {
  const c = makeCosigner('witness.example/w1', WITNESS_SEED);

  it('vkey: name+keyid+base64(0x04 ‖ key), round trip', () => {
    const vkey = formatCosignerVkey(c.name, c.publicKey);
    assert.equal(vkey, `witness.example/w1+${c.keyId.toString('hex')}+${Buffer.concat([Buffer.from([4]), c.publicKey]).toString('base64')}`);
    const v = parseCosignerVkey(`${vkey}\n`);
    assert.equal(v.name, c.name);
    assert.deepEqual(v.keyId, c.keyId);
    assert.deepEqual(v.publicKey, c.publicKey);
    assert.equal(v.verify(TEXT, parseNote(`${TEXT}\n${c.cosign(TEXT, 5)}`).signatures[0]!.signature), 5);
  });

  it('vkey: malformed, of another type, or with a wrong key ID is BAD_INPUT', () => {
    const vkey = formatCosignerVkey(c.name, c.publicKey);
    const [name, id, key] = vkey.split('+', 3) as [string, string, string];
    const keyB64 = vkey.slice(name.length + id.length + 2);
    fails(() => parseCosignerVkey(formatVerifierKey(c.name, c.publicKey)), 'BAD_INPUT', 'a type 0x01 note key');
    fails(() => parseCosignerVkey(`${name}+00000000+${keyB64}`), 'BAD_INPUT', 'wrong key ID');
    fails(() => parseCosignerVkey(`other.example+${id}+${keyB64}`), 'BAD_INPUT', 'key ID of another name');
    fails(() => parseCosignerVkey(`${name}+${id}`), 'BAD_INPUT', 'two parts');
    fails(() => parseCosignerVkey(`${name}+${id.toUpperCase()}+${keyB64}`), 'BAD_INPUT', 'upper-case ID');
    fails(() => parseCosignerVkey(`${name}+${id}+${keyB64.slice(0, -4)}`), 'BAD_INPUT', 'short key');
    fails(() => parseCosignerVkey(`${name}+${id}+${keyB64}=`), 'BAD_INPUT', 'not canonical base64');
    fails(() => parseCosignerVkey(`bad name+${id}+${keyB64}`), 'BAD_INPUT', 'space in name');
    fails(() => parseCosignerVkey(''), 'BAD_INPUT', 'empty');
    assert.ok(key.length > 0);
  });

  it('skey: PRIVATE+KEY+name+keyid+base64(0x04 ‖ seed), round trip; errors are KEY', () => {
    const skey = formatCosignerSkey(c.name, WITNESS_SEED);
    assert.ok(skey.startsWith(`PRIVATE+KEY+witness.example/w1+${c.keyId.toString('hex')}+`));
    const back = parseCosignerSkey(`${skey}\n`);
    assert.deepEqual(back.publicKey, c.publicKey);
    assert.equal(back.cosign(TEXT, 9), c.cosign(TEXT, 9));
    fails(() => parseCosignerSkey(formatSignerKey(c.name, WITNESS_SEED)), 'KEY', 'a type 0x01 signer key');
    fails(() => parseCosignerSkey(skey.replace(c.keyId.toString('hex'), '00000000')), 'KEY', 'wrong key ID');
    fails(() => parseCosignerSkey(skey.replace('PRIVATE+KEY+', '')), 'KEY', 'no prefix');
    fails(() => parseCosignerSkey(formatCosignerVkey(c.name, c.publicKey)), 'KEY', 'a vkey');
  });
});

describe('verifiedCosignatures', () => {
  const log = makeEd25519Signer('studio.example/host-a', LOG_SEED);
  const cpNote = signCheckpoint({ origin: 'studio.example/host-a', size: 42, root: ROOT, extensions: [] }, log);
  const w1 = makeCosigner('witness.example/w1', WITNESS_SEED);
  const w2 = makeCosigner('witness.example/w2', Buffer.alloc(32, 0x33));
  const v1 = makeCosignatureVerifier(w1.name, w1.publicKey);
  const v2 = makeCosignatureVerifier(w2.name, w2.publicKey);

  it('returns each verified line with its name and timestamp, and ignores the log’s signature', () => {
    const l1 = w1.cosign(TEXT, 100);
    const l2 = w2.cosign(TEXT, 200);
    const note = addSignatureLines(cpNote, [l1, l2]);
    assert.deepEqual(verifiedCosignatures(note, [v1, v2]), [
      { name: w1.name, timestamp: 100, line: l1 },
      { name: w2.name, timestamp: 200, line: l2 },
    ]);
    assert.deepEqual(verifiedCosignatures(note, [v2]), [{ name: w2.name, timestamp: 200, line: l2 }]);
    assert.deepEqual(verifiedCosignatures(note, []), []);
    assert.deepEqual(verifiedCosignatures(cpNote, [v1, v2]), []);
    // The log's signature still verifies on the cosigned note.
    assert.equal(checkNote(parseNote(note), [makeEd25519Verifier(log.name, log.publicKey)]), 'ok');
  });

  it('ignores lines whose name or key ID is unknown, even when the other matches (signed-note §Signatures)', () => {
    const l1 = w1.cosign(TEXT, 100);
    const sameNameOtherKey = makeCosignatureVerifier(w1.name, w2.publicKey);
    const sameKeyOtherName = makeCosignatureVerifier('witness.example/w9', w1.publicKey);
    const note = `${cpNote}${l1}`;
    assert.deepEqual(verifiedCosignatures(note, [sameNameOtherKey, sameKeyOtherName]), []);
    // A line that claims w1's name and key ID under another key: w1's verifier finds it does not verify.
    const forged = makeCosigner(w1.name, Buffer.alloc(32, 0x44)).cosign(TEXT, 100);
    const raw = Buffer.from(forged.trim().split(' ').at(-1)!, 'base64');
    w1.keyId.copy(raw, 0);
    const claimed = `\u2014 ${w1.name} ${raw.toString('base64')}\n`;
    assert.deepEqual(verifiedCosignatures(`${cpNote}${claimed}`, [v1]), []);
    // A cosignature of other text, carried on this note, does not count.
    const otherText = formatCheckpointText({ origin: 'studio.example/host-a', size: 43, root: ROOT, extensions: [] });
    assert.deepEqual(verifiedCosignatures(`${cpNote}${w1.cosign(otherText, 100)}`, [v1]), []);
  });

  it('refuses a timestamp above 2^63 - 1 on a note, and a signature of the wrong length', () => {
    const raw = Buffer.concat([w1.keyId, u64(2n ** 63n), sign(null, Buffer.from(`cosignature/v1\ntime ${2n ** 63n}\n${TEXT}`), privOf(WITNESS_SEED))]);
    assert.deepEqual(verifiedCosignatures(`${cpNote}\u2014 ${w1.name} ${raw.toString('base64')}\n`, [v1]), []);
    const short = Buffer.concat([w1.keyId, Buffer.alloc(1)]);
    assert.deepEqual(verifiedCosignatures(`${cpNote}\u2014 ${w1.name} ${short.toString('base64')}\n`, [v1]), []);
  });

  it('returns two cosignatures of one key at two times, but a repeated line once', () => {
    const a = w1.cosign(TEXT, 100);
    const b = w1.cosign(TEXT, 101);
    const got = verifiedCosignatures(`${cpNote}${a}${b}${a}`, [v1]);
    assert.deepEqual(got.map((x) => x.timestamp), [100, 101]);
  });

  it('is safe on hostile notes: BAD_INPUT for malformed ones, bounded work', () => {
    const l1 = w1.cosign(TEXT, 100);
    fails(() => verifiedCosignatures(TEXT, [v1]), 'BAD_INPUT', 'no signatures');
    fails(() => verifiedCosignatures(`${cpNote}${l1.slice(0, -1)}`, [v1]), 'BAD_INPUT', 'no final newline');
    fails(() => verifiedCosignatures(`${cpNote}\u2014 ${w1.name} !!!!\n`, [v1]), 'BAD_INPUT', 'bad base64');
    fails(() => verifiedCosignatures(`${cpNote}${l1}`.replace('\n\n', '\n\u0007\n\n'), [v1]), 'BAD_INPUT', 'control character');
    fails(() => verifiedCosignatures(`${cpNote}${l1.repeat(101)}`, [v1]), 'BAD_INPUT', 'too many signatures');
  });
});

describe('addSignatureLines and splitSignatureLines', () => {
  const log = makeEd25519Signer('studio.example/host-a', LOG_SEED);
  const cpNote = signCheckpoint({ origin: 'studio.example/host-a', size: 42, root: ROOT, extensions: [] }, log);
  const w1 = makeCosigner('witness.example/w1', WITNESS_SEED);
  const w2 = makeCosigner('witness.example/w2', Buffer.alloc(32, 0x33));

  it('appends after the note’s own lines and keeps them byte for byte', () => {
    const l1 = w1.cosign(TEXT, 100);
    const out = addSignatureLines(cpNote, [l1.slice(0, -1)]);
    assert.equal(out, `${cpNote}${l1}`);
    assert.equal(addSignatureLines(cpNote, []), cpNote);
  });

  it('drops a line whose name and key ID the note already has, or that came earlier in the list', () => {
    const first = addSignatureLines(cpNote, [w1.cosign(TEXT, 100)]);
    const again = addSignatureLines(first, [w1.cosign(TEXT, 200), w2.cosign(TEXT, 300), w2.cosign(TEXT, 301)]);
    assert.equal(again, `${first}${w2.cosign(TEXT, 300)}`);
    // A line with the log's name but another key ID is another key: added.
    const other = makeCosigner(log.name, WITNESS_SEED).cosign(TEXT, 1);
    assert.equal(addSignatureLines(cpNote, [other]), `${cpNote}${other}`);
  });

  it('refuses malformed notes and lines', () => {
    const l1 = w1.cosign(TEXT, 100);
    fails(() => addSignatureLines(TEXT, [l1]), 'BAD_INPUT', 'not a signed note');
    fails(() => addSignatureLines(cpNote, ['- witness.example/w1 AAAAAAA=']), 'BAD_INPUT', 'hyphen');
    fails(() => addSignatureLines(cpNote, [`${l1}${l1}`]), 'BAD_INPUT', 'two lines in one');
    fails(() => addSignatureLines(cpNote, ['\u2014 w1 AAAA']), 'BAD_INPUT', 'signature shorter than 5 bytes');
    fails(() => addSignatureLines(cpNote, ['\u2014 a+b AAAAAAA=']), 'BAD_INPUT', 'plus in name');
    const many = Array.from({ length: 120 }, (_, i) => makeCosigner(`w${i}`, WITNESS_SEED).cosign(TEXT, 1));
    fails(() => addSignatureLines(cpNote, many), 'BAD_INPUT', 'past the note signature bound');
  });

  it('splits a witness response body into lines', () => {
    const l1 = w1.cosign(TEXT, 100);
    const l2 = w2.cosign(TEXT, 200);
    assert.deepEqual(splitSignatureLines(`${l1}${l2}`), [l1, l2]);
    fails(() => splitSignatureLines(''), 'BAD_INPUT', 'empty');
    fails(() => splitSignatureLines(l1.slice(0, -1)), 'BAD_INPUT', 'no newline');
    fails(() => splitSignatureLines(`${l1}\n`), 'BAD_INPUT', 'blank line');
    fails(() => splitSignatureLines(`hello\n`), 'BAD_INPUT', 'not a signature line');
  });
});
