/**
 * ML-DSA-44 (FIPS 204) for the 0x06 cosignatures of core/cosignature.ts. The lattice arithmetic (KeyGen_internal,
 * Sign_internal, Verify_internal) is @noble/post-quantum's; the pure interface around it (FIPS 204 Algorithms 2
 * and 3: the message formatted with its context string, the randomness drawn) is here, so the known answers of
 * testdata/vectors/ml-dsa check both.
 *
 * The package is loaded at the first key generation, signature or verification, never at import: everything that
 * may meet an ML-DSA-44 key imports this module (a ledger's server config, a policy, the server's keys), the capture
 * path among them, and only what actually makes or checks such a cosignature pays for the package. It is loaded with
 * require, which Node 20.19 and later give ES modules, so synchronous callers can use it.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { MlDsa44 } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';

interface NobleInternal {
  sign(message: Uint8Array, secretKey: Uint8Array, opts: { extraEntropy: Uint8Array }): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}
interface NobleMlDsa44 {
  keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  internal: NobleInternal;
}

let noble: NobleMlDsa44 | undefined;

function load(): NobleMlDsa44 {
  noble ??= (createRequire(import.meta.url)('@noble/post-quantum/ml-dsa.js') as { ml_dsa44: NobleMlDsa44 }).ml_dsa44;
  return noble;
}

/** FIPS 204 Table 2, ML-DSA-44. */
const PUBLIC_KEY_BYTES = 1312;
const SECRET_KEY_BYTES = 2560;
const SIGNATURE_BYTES = 2420;

/**
 * M′ of ML-DSA.Sign and ML-DSA.Verify (FIPS 204 Algorithm 2 line 10, Algorithm 3 line 5), pure: a zero byte, the
 * context's length in one byte, the context (at most 255 bytes), the message.
 */
function pureMessage(message: Uint8Array, context: Uint8Array): Uint8Array {
  if (context.length > 255) throw new FfauditError('INTERNAL', 'an ML-DSA context string is at most 255 bytes');
  return Buffer.concat([Buffer.from([0, context.length]), context, message]);
}

/** ML-DSA.KeyGen_internal(ξ) (FIPS 204 Algorithm 6): the key pair of a 32-byte seed. */
export function keygenMlDsa44(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  if (seed.length !== 32) throw new FfauditError('KEY', 'an ML-DSA-44 seed is 32 bytes');
  return load().keygen(seed);
}

/** ML-DSA.Sign_internal (FIPS 204 Algorithm 7) of an already formatted M′ with the 32 bytes `rnd` (all zero: the deterministic variant). */
export function signMlDsa44Internal(secretKey: Uint8Array, formatted: Uint8Array, rnd: Uint8Array): Uint8Array {
  if (secretKey.length !== SECRET_KEY_BYTES || rnd.length !== 32) throw new FfauditError('KEY', 'an ML-DSA-44 secret key is 2560 bytes and its signing randomness 32');
  return load().internal.sign(formatted, secretKey, { extraEntropy: rnd });
}

/** ML-DSA.Verify_internal (FIPS 204 Algorithm 8); false, never a throw, for anything that is not a valid signature. */
export function verifyMlDsa44Internal(publicKey: Uint8Array, formatted: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  const internal = load().internal;
  try {
    return internal.verify(signature, formatted, publicKey);
  } catch {
    return false; // hostile bytes the library refuses by throwing are not a signature either
  }
}

/** ML-DSA.Sign (FIPS 204 Algorithm 2, pure), hedged: fresh randomness for each signature, as §3.4 recommends. */
export function signMlDsa44(secretKey: Uint8Array, message: Uint8Array, context: Uint8Array = new Uint8Array(0)): Uint8Array {
  return signMlDsa44Internal(secretKey, pureMessage(message, context), randomBytes(32));
}

/** ML-DSA.Verify (FIPS 204 Algorithm 3, pure). */
export function verifyMlDsa44(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, context: Uint8Array = new Uint8Array(0)): boolean {
  return context.length <= 255 && verifyMlDsa44Internal(publicKey, pureMessage(message, context), signature);
}

/** The primitive core/cosignature.ts takes: pure ML-DSA-44 with the empty context string, hedged signing. */
export const mlDsa44: MlDsa44 = {
  keygen: keygenMlDsa44,
  sign: (secretKey, message) => signMlDsa44(secretKey, message),
  verify: (publicKey, message, signature) => verifyMlDsa44(publicKey, message, signature),
};
