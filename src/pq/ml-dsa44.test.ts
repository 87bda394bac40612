/**
 * ML-DSA-44 against NIST's ACVP known answers (testdata/vectors/ml-dsa, provenance in its README): key generation
 * from a seed, deterministic Sign_internal, and the pure ML-DSA.Verify with and without a context string, accepting
 * and rejecting as the vectors say. Then the properties the cosignatures rely on: the primitive core/ is given signs
 * pure ML-DSA with the empty context, hedged, and refuses what it must without throwing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VECTORS_DIR } from '../testing/fixtures.js';
import { keygenMlDsa44, mlDsa44, signMlDsa44, signMlDsa44Internal, verifyMlDsa44, verifyMlDsa44Internal } from './ml-dsa44.js';

interface Group<T> {
  parameterSet: string;
  tests: T[];
}
const vectors = <T, G = object>(name: string) =>
  JSON.parse(readFileSync(join(VECTORS_DIR, 'ml-dsa', name), 'utf8')) as { mode: string; source: { commit: string }; testGroups: (Group<T> & G)[] };
const hex = (s: string) => Buffer.from(s, 'hex');
const HEX = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

describe('ML-DSA-44: NIST ACVP known answers', () => {
  it('keyGen: the key pair of each seed is the expected one, byte for byte', () => {
    const v = vectors<{ tcId: number; seed: string; pk: string; sk: string }>('keygen.json');
    const tests = v.testGroups.filter((g) => g.parameterSet === 'ML-DSA-44').flatMap((g) => g.tests);
    assert.deepEqual(tests.map((t) => t.tcId), [1, 2]);
    for (const t of tests) {
      const k = keygenMlDsa44(hex(t.seed));
      assert.equal(HEX(k.publicKey), t.pk, `tcId ${t.tcId}: public key`);
      assert.equal(HEX(k.secretKey), t.sk, `tcId ${t.tcId}: secret key`);
    }
  });

  it('sigGen (deterministic, Sign_internal): the expected signature, and it verifies', () => {
    const v = vectors<{ tcId: number; message: string; signature: string }, { deterministic: boolean; pk: string; sk: string }>('siggen.json');
    const [g] = v.testGroups;
    assert.ok(g && g.parameterSet === 'ML-DSA-44' && g.deterministic);
    assert.deepEqual(g.tests.map((t) => t.tcId), [1, 3]);
    for (const t of g.tests) {
      assert.equal(HEX(signMlDsa44Internal(hex(g.sk), hex(t.message), Buffer.alloc(32))), t.signature, `tcId ${t.tcId}`);
      assert.ok(verifyMlDsa44Internal(hex(g.pk), hex(t.message), hex(t.signature)), `tcId ${t.tcId} verifies`);
      // Internal, not pure: the same bytes as a pure message are another M′ and do not verify.
      assert.equal(verifyMlDsa44(hex(g.pk), hex(t.message), hex(t.signature)), false);
    }
  });

  it('sigVer (pure, external interface): accepts and rejects exactly as the expected results say', () => {
    const v = vectors<{ tcId: number; pk: string; message: string; context: string; signature: string; testPassed: boolean }, { signatureInterface: string; preHash: string }>('sigver.json');
    const [g] = v.testGroups;
    assert.ok(g && g.parameterSet === 'ML-DSA-44' && g.signatureInterface === 'external' && g.preHash === 'pure');
    assert.deepEqual(g.tests.map((t) => [t.tcId, t.testPassed, t.context.length / 2]), [[1, false, 255], [7, true, 137], [8, true, 0]]);
    for (const t of g.tests) assert.equal(verifyMlDsa44(hex(t.pk), hex(t.message), hex(t.signature), hex(t.context)), t.testPassed, `tcId ${t.tcId}`);
  });
});

describe('ML-DSA-44: the primitive the cosignatures use', () => {
  const sigver = vectors<{ tcId: number; pk: string; message: string; context: string; signature: string }>('sigver.json').testGroups[0]!.tests;
  const empty = sigver.find((t) => t.tcId === 8)!; // a valid signature with the empty context string
  const withContext = sigver.find((t) => t.tcId === 7)!;

  it('verifies pure ML-DSA with the empty context: the ACVP case passes, and a context string or one flipped byte anywhere fails', () => {
    const pk = hex(empty.pk);
    const msg = hex(empty.message);
    const sig = hex(empty.signature);
    assert.ok(mlDsa44.verify(pk, msg, sig));
    // The other valid ACVP signature was made with a context: not one of ours.
    assert.equal(mlDsa44.verify(hex(withContext.pk), hex(withContext.message), hex(withContext.signature)), false);
    for (const at of [0, 40, 1000, sig.length - 90, sig.length - 1]) {
      const bad = Buffer.from(sig);
      bad[at]! ^= 0x01;
      assert.equal(mlDsa44.verify(pk, msg, bad), false, `signature byte ${at}`);
    }
    const badMsg = Buffer.from(msg);
    badMsg[0]! ^= 0x80;
    assert.equal(mlDsa44.verify(pk, badMsg, sig), false);
    const badKey = Buffer.from(pk);
    badKey[100]! ^= 0x01;
    assert.equal(mlDsa44.verify(badKey, msg, sig), false);
  });

  it('answers false, never throws, for a key or signature of the wrong size', () => {
    const pk = hex(empty.pk);
    const msg = hex(empty.message);
    const sig = hex(empty.signature);
    assert.equal(mlDsa44.verify(pk, msg, sig.subarray(1)), false);
    assert.equal(mlDsa44.verify(pk, msg, Buffer.concat([sig, Buffer.alloc(1)])), false);
    assert.equal(mlDsa44.verify(pk.subarray(1), msg, sig), false);
    assert.equal(mlDsa44.verify(pk, msg, Buffer.alloc(0)), false);
  });

  it('signs pure, empty context, hedged: two signatures of one message differ, each verifies, neither under another context', () => {
    const { publicKey, secretKey } = mlDsa44.keygen(Buffer.alloc(32, 7));
    const msg = Buffer.from('subtree/v1\n\0 a message');
    const a = mlDsa44.sign(secretKey, msg);
    const b = mlDsa44.sign(secretKey, msg);
    assert.equal(a.length, 2420);
    assert.notDeepEqual(a, b, 'hedged: fresh randomness each time');
    for (const s of [a, b]) {
      assert.ok(mlDsa44.verify(publicKey, msg, s));
      // M′ = 0 ‖ 0 ‖ M (FIPS 204 Algorithm 2 line 10) under the internal interface: the formatting is the pure one.
      assert.ok(verifyMlDsa44Internal(publicKey, Buffer.concat([Buffer.from([0, 0]), msg]), s));
      assert.equal(verifyMlDsa44(publicKey, msg, s, Buffer.from('ctx')), false);
    }
    assert.ok(verifyMlDsa44(publicKey, msg, signMlDsa44(secretKey, msg, Buffer.from('ctx')), Buffer.from('ctx')));
  });
});
