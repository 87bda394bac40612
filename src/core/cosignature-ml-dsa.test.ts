/**
 * ML-DSA-44 cosignatures (c2sp.org/tlog-cosignature, type 0x06): the cosigned_message bytes written out by hand from
 * the struct, the key ID rule, the signature checked with the bare primitive, and every field of the statement
 * (cosigner name, timestamp, origin, size, root) bound by it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { keygenMlDsa44, mlDsa44, signMlDsa44, verifyMlDsa44 } from '../pq/ml-dsa44.js';
import { formatCheckpointText, signCheckpoint } from './checkpoint.js';
import {
  addSignatureLines,
  cosignedMessage,
  cosignerVkey,
  formatMlDsaCosignerSkey,
  makeCosignatureVerifier,
  makeCosigner,
  makeMlDsaCosignatureVerifier,
  makeMlDsaCosigner,
  ML_DSA_44_COSIGNATURE_TYPE,
  parseCosignerSkey,
  parseCosignerVkey,
  verifiedCosignatures,
  type Cosigner,
} from './cosignature.js';
import { FfauditError } from './errors.js';
import { makeEd25519Signer, parseNote } from './note.js';
import { checkpointWitnesses, parseTlogPolicy, quorumMet } from './tlog-policy.js';

const fails = (fn: () => unknown, code: string, why: string | RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === code && (typeof why === 'string' || why.test(e.message)), String(why));

const SEED = Buffer.alloc(32, 0x5a);
const ROOT = createHash('sha256').update('root').digest();
const ORIGIN = 'studio.example/host-a';
const TEXT = formatCheckpointText({ origin: ORIGIN, size: 42, root: ROOT, extensions: [] });
const NAME = 'witness.example/w1';
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
/** The raw signature bytes (u64 timestamp ‖ ML-DSA-44 signature) of a line. */
const sigOf = (line: string) => parseNote(`${TEXT}\n${line}`).signatures[0]!.signature;

describe('ML-DSA-44 cosigned_message (§ML-DSA-44 signed message)', () => {
  it('is the struct, byte for byte, as written out by hand', () => {
    // label[12] "subtree/v1\n\0" | name<1..255> "w" | u64 timestamp 1 | origin<1..255> "o" | u64 start 0 | u64 end 2 | hash[32]
    const want = Buffer.from(
      `${'737562747265652f76310a00'}${'0177'}${'0000000000000001'}${'016f'}${'0000000000000000'}${'0000000000000002'}${'aa'.repeat(32)}`,
      'hex',
    );
    assert.deepEqual(cosignedMessage({ cosigner: 'w', timestamp: 1n, origin: 'o', start: 0n, end: 2n, hash: Buffer.alloc(32, 0xaa) }), want);
  });

  it('refuses what the struct cannot hold', () => {
    const ok = { cosigner: 'w', timestamp: 1n, origin: 'o', start: 0n, end: 2n, hash: Buffer.alloc(32) };
    fails(() => cosignedMessage({ ...ok, cosigner: '' }), 'BAD_INPUT', /cosigner name must be 1 to 255 bytes/);
    fails(() => cosignedMessage({ ...ok, origin: 'x'.repeat(256) }), 'BAD_INPUT', /log origin must be 1 to 255 bytes/);
    fails(() => cosignedMessage({ ...ok, end: 2n ** 64n }), 'BAD_INPUT', /end .* is not a u64/);
    fails(() => cosignedMessage({ ...ok, hash: Buffer.alloc(31) }), 'BAD_INPUT', /32 bytes/);
    // 255 bytes of UTF-8 fit.
    assert.equal(cosignedMessage({ ...ok, origin: 'é'.repeat(127) + 'x' }).length, 12 + 2 + 8 + 1 + 255 + 8 + 8 + 32);
  });
});

describe('ML-DSA-44 cosigner and verifier', () => {
  const c = makeMlDsaCosigner(NAME, SEED, mlDsa44);
  const v = makeMlDsaCosignatureVerifier(NAME, c.publicKey, mlDsa44);

  it('key ID = SHA-256(name ‖ "\\n" ‖ 0x06 ‖ 1312-byte public key)[:4]; the key is the seed’s (ML-DSA.KeyGen_internal)', () => {
    assert.equal(ML_DSA_44_COSIGNATURE_TYPE, 0x06);
    assert.equal(c.type, 0x06);
    assert.deepEqual(c.publicKey, Buffer.from(keygenMlDsa44(SEED).publicKey));
    assert.equal(c.publicKey.length, 1312);
    const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${NAME}\n`), Buffer.from([0x06]), c.publicKey])).digest().subarray(0, 4);
    assert.deepEqual(c.keyId, id);
    assert.deepEqual(v.keyId, id);
  });

  it('the line is "— name base64(key ID ‖ u64 timestamp ‖ 2420-byte signature)" over the cosigned_message; the bare primitive agrees', () => {
    const line = c.cosign(TEXT, 1679315147);
    const m = /^\u2014 witness\.example\/w1 ([A-Za-z0-9+/]+=*)\n$/.exec(line);
    assert.ok(m, line.slice(0, 80));
    const raw = Buffer.from(m[1]!, 'base64');
    assert.equal(raw.length, 4 + 8 + 2420);
    assert.deepEqual(raw.subarray(0, 4), c.keyId);
    assert.equal(raw.readBigUInt64BE(4), 1679315147n);
    // The message built from the struct with the checkpoint's values: pure ML-DSA, empty context.
    const message = Buffer.concat([
      Buffer.from('subtree/v1\n\0', 'latin1'),
      Buffer.from([NAME.length]),
      Buffer.from(NAME),
      u64(1679315147n),
      Buffer.from([ORIGIN.length]),
      Buffer.from(ORIGIN),
      u64(0n),
      u64(42n),
      ROOT,
    ]);
    assert.ok(verifyMlDsa44(c.publicKey, message, raw.subarray(12)));
    assert.equal(v.verify(TEXT, raw.subarray(4)), 1679315147);
    // Hedged: another cosignature of the same statement has other bytes, and verifies as well.
    const again = c.cosign(TEXT, 1679315147);
    assert.notEqual(again, line);
    assert.equal(v.verify(TEXT, sigOf(again)), 1679315147);
  });

  it('binds the cosigner name, the timestamp, the origin, the size and the root; not the extension lines', () => {
    const sig = sigOf(c.cosign(TEXT, 1000));
    assert.equal(v.verify(TEXT, sig), 1000);
    // Another name with the same key: the message names the cosigner (the Ed25519 one does not).
    assert.equal(makeMlDsaCosignatureVerifier('witness.example/w2', c.publicKey, mlDsa44).verify(TEXT, sig), undefined);
    const changedTs = Buffer.from(sig);
    changedTs.writeBigUInt64BE(1001n, 0);
    assert.equal(v.verify(TEXT, changedTs), undefined);
    assert.equal(v.verify(formatCheckpointText({ origin: 'studio.example/host-b', size: 42, root: ROOT, extensions: [] }), sig), undefined);
    assert.equal(v.verify(formatCheckpointText({ origin: ORIGIN, size: 43, root: ROOT, extensions: [] }), sig), undefined);
    const otherRoot = Buffer.from(ROOT);
    otherRoot[31]! ^= 1;
    assert.equal(v.verify(formatCheckpointText({ origin: ORIGIN, size: 42, root: otherRoot, extensions: [] }), sig), undefined);
    // §ML-DSA-44 signed message: extension lines are not in the signed message.
    assert.equal(v.verify(formatCheckpointText({ origin: ORIGIN, size: 42, root: ROOT, extensions: ['ext'] }), sig), 1000);
    // One flipped bit in the signature.
    const flipped = Buffer.from(sig);
    flipped[500]! ^= 0x10;
    assert.equal(v.verify(TEXT, flipped), undefined);
  });

  it('refuses a zero timestamp (no statement of the latest tree), one above 2^63 - 1, and a signature of the wrong size', () => {
    const { secretKey } = keygenMlDsa44(SEED);
    const at = (ts: bigint) =>
      Buffer.concat([u64(ts), signMlDsa44(secretKey, cosignedMessage({ cosigner: NAME, timestamp: ts, origin: ORIGIN, start: 0n, end: 42n, hash: ROOT }))]);
    assert.equal(v.verify(TEXT, at(7n)), 7, 'the helper makes valid cosignatures');
    assert.equal(v.verify(TEXT, at(0n)), undefined);
    assert.equal(v.verify(TEXT, at(2n ** 63n)), undefined);
    assert.equal(v.verify(TEXT, at(2n ** 53n)), undefined, 'not exactly representable');
    const sig = at(7n);
    assert.equal(v.verify(TEXT, sig.subarray(0, -1)), undefined);
    assert.equal(v.verify(TEXT, Buffer.concat([sig, Buffer.alloc(1)])), undefined);
    assert.equal(v.verify(TEXT, Buffer.alloc(0)), undefined);
    fails(() => c.cosign(TEXT, 0), 'INTERNAL', /non-zero timestamp/);
  });

  it('refuses to cosign what is not a checkpoint, or a checkpoint whose origin no cosigned_message can hold', () => {
    fails(() => c.cosign('hello\n', 1), 'BAD_INPUT', 'not a checkpoint');
    fails(() => c.cosign(TEXT.slice(0, -1), 1), 'BAD_INPUT', 'no final newline');
    const long = formatCheckpointText({ origin: 'o'.repeat(256), size: 1, root: ROOT, extensions: [] });
    fails(() => c.cosign(long, 1), 'BAD_INPUT', /log origin must be 1 to 255 bytes/);
    // A verifier never throws on such a note: it is simply not cosigned.
    assert.equal(v.verify(long, sigOf(c.cosign(TEXT, 1))), undefined);
    fails(() => makeMlDsaCosigner('w'.repeat(256), SEED, mlDsa44), 'KEY', /longer than the 255 bytes/);
    fails(() => makeMlDsaCosigner('bad name', SEED, mlDsa44), 'KEY', 'space');
    fails(() => makeMlDsaCosigner(NAME, Buffer.alloc(31), mlDsa44), 'KEY', /32 bytes/);
    fails(() => makeMlDsaCosignatureVerifier(NAME, Buffer.alloc(32), mlDsa44), 'KEY', /1312 bytes/);
  });
});

describe('ML-DSA-44 keys as text', () => {
  const c = makeMlDsaCosigner(NAME, SEED, mlDsa44);

  it('vkey: name+keyid+base64(0x06 ‖ 1312-byte key), parsed only with the primitive; round trip', () => {
    const vkey = cosignerVkey(c);
    assert.equal(vkey, `${NAME}+${c.keyId.toString('hex')}+${Buffer.concat([Buffer.from([6]), c.publicKey]).toString('base64')}`);
    fails(() => parseCosignerVkey(vkey), 'BAD_INPUT', /ML-DSA-44 cosignatures \(type 0x06\) are not supported here/);
    const v = parseCosignerVkey(`${vkey}\n`, { mlDsa44 });
    assert.equal(v.type, 0x06);
    assert.equal(v.name, NAME);
    assert.deepEqual(v.publicKey, c.publicKey);
    assert.equal(v.verify(TEXT, sigOf(c.cosign(TEXT, 5))), 5);
    const keyB64 = vkey.slice(NAME.length + 10);
    fails(() => parseCosignerVkey(`${NAME}+00000000+${keyB64}`, { mlDsa44 }), 'BAD_INPUT', /key ID does not match/);
    fails(() => parseCosignerVkey(`other.example+${c.keyId.toString('hex')}+${keyB64}`, { mlDsa44 }), 'BAD_INPUT', /key ID does not match/);
    const short = Buffer.concat([Buffer.from([6]), c.publicKey.subarray(1)]).toString('base64');
    fails(() => parseCosignerVkey(`${NAME}+${c.keyId.toString('hex')}+${short}`, { mlDsa44 }), 'BAD_INPUT', /neither an Ed25519/);
  });

  it('skey: PRIVATE+KEY+name+keyid+base64(0x06 ‖ 32-byte seed), round trip; errors are KEY', () => {
    const skey = formatMlDsaCosignerSkey(NAME, SEED, mlDsa44);
    assert.equal(skey, `PRIVATE+KEY+${NAME}+${c.keyId.toString('hex')}+${Buffer.concat([Buffer.from([6]), SEED]).toString('base64')}`);
    fails(() => parseCosignerSkey(skey), 'KEY', /not supported here/);
    const back: Cosigner = parseCosignerSkey(`${skey}\n`, { mlDsa44 });
    assert.equal(back.type, 0x06);
    assert.deepEqual(back.publicKey, c.publicKey);
    assert.equal(makeMlDsaCosignatureVerifier(NAME, c.publicKey, mlDsa44).verify(TEXT, sigOf(back.cosign(TEXT, 9))), 9);
    fails(() => parseCosignerSkey(skey.replace(c.keyId.toString('hex'), '00000000'), { mlDsa44 }), 'KEY', /key ID does not match/);
    fails(() => parseCosignerSkey(skey.replace('+Bl', '+B1'), { mlDsa44 }), 'KEY', 'a type 0x07 key');
  });
});

describe('ML-DSA-44 beside Ed25519: one witness name, two keys', () => {
  const log = makeEd25519Signer(ORIGIN, Buffer.alloc(32, 0x22));
  const note = signCheckpoint({ origin: ORIGIN, size: 42, root: ROOT, extensions: [] }, log);
  const ed = makeCosigner(NAME, Buffer.alloc(32, 0x11));
  const pq = makeMlDsaCosigner(NAME, SEED, mlDsa44);
  const verifiers = [makeCosignatureVerifier(NAME, ed.publicKey), makeMlDsaCosignatureVerifier(NAME, pq.publicKey, mlDsa44)];

  it('the key IDs differ by the type byte, so both lines stay on a note and each verifies with its own key', () => {
    assert.notDeepEqual(ed.keyId, pq.keyId);
    const l1 = ed.cosign(TEXT, 100);
    const l2 = pq.cosign(TEXT, 100);
    const both = addSignatureLines(note, [l1, l2]);
    assert.equal(both, `${note}${l1}${l2}`);
    assert.deepEqual(verifiedCosignatures(both, verifiers), [
      { name: NAME, timestamp: 100, line: l1 },
      { name: NAME, timestamp: 100, line: l2 },
    ]);
    // A verifier of one kind ignores the other kind's line (another key ID), it does not fail it.
    assert.deepEqual(verifiedCosignatures(both, [verifiers[0]!]), [{ name: NAME, timestamp: 100, line: l1 }]);
    // An ML-DSA-44 signature under the Ed25519 key ID is not an Ed25519 signature.
    const raw = Buffer.from(l2.trim().split(' ').at(-1)!, 'base64');
    ed.keyId.copy(raw, 0);
    assert.deepEqual(verifiedCosignatures(`${note}\u2014 ${NAME} ${raw.toString('base64')}\n`, verifiers), []);
  });
});

describe('tlog-policy with an ML-DSA-44 witness', () => {
  const log = makeEd25519Signer(ORIGIN, Buffer.alloc(32, 0x22));
  const note = signCheckpoint({ origin: ORIGIN, size: 42, root: ROOT, extensions: [] }, log);
  const pq = makeMlDsaCosigner(NAME, SEED, mlDsa44);
  const policyText = `witness PQ ${cosignerVkey(pq)}\nquorum PQ\n`;

  it('accepts a 0x06 witness key given the primitive, refuses it (naming the line) without', () => {
    fails(() => parseTlogPolicy(Buffer.from(policyText)), 'BAD_INPUT', /^policy line 1: the witness key is an ML-DSA-44 \(type 0x06\) cosigner key, which cannot be checked here$/);
    const p = parseTlogPolicy(Buffer.from(policyText), { mlDsa44 });
    assert.equal(p.witnessKeys.get('PQ')?.type, 0x06);
  });

  it('counts a valid 0x06 cosignature toward the quorum and reports a forged one as failed', () => {
    const p = parseTlogPolicy(Buffer.from(policyText), { mlDsa44 });
    assert.deepEqual(checkpointWitnesses(p, note), { witnessed: new Set(), failed: [] });
    const line = pq.cosign(TEXT, 77);
    const w = checkpointWitnesses(p, `${note}${line}`);
    assert.deepEqual([...w.witnessed], ['PQ']);
    assert.ok(quorumMet(p, w.witnessed));
    assert.deepEqual(verifiedCosignatures(`${note}${line}`, [...p.witnessKeys.values()]), [{ name: NAME, timestamp: 77, line }]);
    const raw = Buffer.from(line.trim().split(' ').at(-1)!, 'base64');
    raw[100]! ^= 1;
    const forged = checkpointWitnesses(p, `${note}\u2014 ${NAME} ${raw.toString('base64')}\n`);
    assert.deepEqual(forged, { witnessed: new Set(), failed: ['PQ'] });
  });
});
