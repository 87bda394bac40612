/**
 * c2sp.org/tlog-cosignature: the statement by a witness or a mirror that, as of a time, this checkpoint is the
 * largest consistent one it has seen of the log (and, for a mirror, that it holds its entries). Two kinds:
 *
 * - Ed25519 (`cosignature/v1`, signed-note signature type 0x04): the signature covers `cosignature/v1\ntime
 *   <timestamp>\n` followed by the whole checkpoint note text (§Ed25519 signed message).
 * - ML-DSA-44 (type 0x06): the signature covers the `cosigned_message` struct (§ML-DSA-44 signed message), which
 *   names the cosigner and commits to the origin, size and root only, not to extension lines. Node has no ML-DSA
 *   and core/ imports nothing else, so the primitive comes in as an MlDsa44 (pq/ml-dsa44.ts implements it).
 *
 * Either is a note signature line `— <name> base64(key ID ‖ u64 timestamp ‖ signature)`; Cosigner and
 * CosignatureVerifier hide which. Keys enter as seeds and raw public keys; files are the caller's business.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { FfauditError } from './errors.js';
import { parseCheckpointText } from './checkpoint.js';
import {
  computeKeyId,
  decodeBase64Strict,
  ed25519PrivateKeyFromSeed,
  ed25519PublicKeyFromRaw,
  isValidKeyName,
  parseNote,
  rawPublicKey,
} from './note.js';

/** signed-note §Signature types: 0x04 is the timestamped Ed25519 cosignature of tlog-cosignature. */
export const COSIGNATURE_TYPE = 0x04;
/** tlog-cosignature §Format: 0x06 is the ML-DSA-44 cosignature. */
export const ML_DSA_44_COSIGNATURE_TYPE = 0x06;
export type CosignatureType = typeof COSIGNATURE_TYPE | typeof ML_DSA_44_COSIGNATURE_TYPE;

const EM_DASH_PREFIX = '\u2014 ';
/** timestamped_signature: u64 timestamp ‖ 64-byte Ed25519 signature (§Format). */
const TIMESTAMPED_SIGNATURE_BYTES = 8 + 64;
/** §Format: the timestamp MUST NOT exceed 2^63 - 1. */
const MAX_SPEC_TIMESTAMP = 2n ** 63n - 1n;
/** FIPS 204 Table 2, ML-DSA-44: the public key and signature sizes; the key generation seed ξ is 32 bytes. */
const ML_DSA_44_PUBLIC_KEY_BYTES = 1312;
const ML_DSA_44_SIGNATURE_BYTES = 2420;
const ML_DSA_44_SEED_BYTES = 32;

/**
 * ML-DSA-44 (FIPS 204), the primitive the 0x06 cosignatures need, passed in by whoever makes or checks them.
 * `sign` and `verify` are the pure ML-DSA.Sign and ML-DSA.Verify (Algorithms 2 and 3) with the empty context string,
 * the "ML-DSA-44 signature" tlog-cosignature names; `verify` answers false, never throws, for anything that does not
 * verify.
 */
export interface MlDsa44 {
  /** ML-DSA.KeyGen_internal(ξ) (FIPS 204 Algorithm 6): the key pair a 32-byte seed determines. */
  keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** Where the ML-DSA-44 primitive comes from, for the functions that may meet a 0x06 key. */
export interface CosignatureOptions {
  mlDsa44?: MlDsa44 | undefined;
}

export interface Cosigner {
  readonly name: string;
  readonly type: CosignatureType;
  readonly keyId: Buffer;
  readonly publicKey: Buffer;
  /** One note signature line "— name base64(keyid||u64 timestamp||sig)\n" over checkpointText (note text, ends "\n"). */
  cosign(checkpointText: string, timestamp: number): string;
}

export interface CosignatureVerifier {
  readonly name: string;
  readonly type: CosignatureType;
  readonly keyId: Buffer;
  readonly publicKey: Buffer;
  /** Checks one parsed signature (from parseNote) on checkpointText; returns its timestamp, or undefined if it fails. */
  verify(checkpointText: string, signature: Buffer): number | undefined;
}

/** §Ed25519 signed message: two header lines, then the note text including its final newline. */
function signedMessage(checkpointText: string, timestamp: bigint | number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`, 'utf8');
}

/** The fixed label of §ML-DSA-44 signed message: `subtree/v1`, a newline and a zero byte (12 bytes). */
const SUBTREE_LABEL = Buffer.from('subtree/v1\n\0', 'latin1');

/** What a `cosigned_message` states: the subtree [start, end) of the log `origin` has root `hash`, as of `timestamp`. */
export interface CosignedSubtree {
  cosigner: string;
  timestamp: bigint;
  origin: string;
  start: bigint;
  end: bigint;
  hash: Uint8Array;
}

/** A u8-length-prefixed opaque<1..2^8-1> (RFC 8446 §3.4). */
function opaque8(text: string, what: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  if (b.length < 1 || b.length > 255) throw new FfauditError('BAD_INPUT', `the ${what} must be 1 to 255 bytes to be cosigned with ML-DSA-44`);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/**
 * §ML-DSA-44 signed message: the `cosigned_message` struct, encoded as RFC 8446 §3 says (big-endian integers, each
 * opaque<1..2^8-1> after its one-byte length). BAD_INPUT for a name or origin of 0 or more than 255 bytes, a value
 * outside u64, or a hash that is not 32 bytes.
 */
export function cosignedMessage(m: CosignedSubtree): Buffer {
  for (const [what, v] of [['timestamp', m.timestamp], ['start', m.start], ['end', m.end]] as const) {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new FfauditError('BAD_INPUT', `the ${what} ${v} is not a u64`);
  }
  if (m.hash.length !== 32) throw new FfauditError('BAD_INPUT', 'a cosigned hash is 32 bytes');
  return Buffer.concat([SUBTREE_LABEL, opaque8(m.cosigner, 'cosigner name'), u64(m.timestamp), opaque8(m.origin, 'log origin'), u64(m.start), u64(m.end), m.hash]);
}

/**
 * The message an ML-DSA-44 cosigner signs for a checkpoint (note text) at `timestamp`: start 0, end the size, hash
 * the root, the origin line without its newline; extension lines are not part of it (§ML-DSA-44 signed message).
 */
function checkpointMessage(name: string, checkpointText: string, timestamp: bigint): Buffer {
  const cp = parseCheckpointText(checkpointText);
  return cosignedMessage({ cosigner: name, timestamp, origin: cp.origin, start: 0n, end: BigInt(cp.size), hash: cp.root });
}

function checkName(name: string, code: 'KEY' | 'BAD_INPUT'): void {
  if (!isValidKeyName(name)) throw new FfauditError(code, `invalid cosigner name ${JSON.stringify(name)}`);
}

/** The checks every cosigner makes before signing; the timestamp as a u64. */
function checkCosigned(checkpointText: string, timestamp: number): Buffer {
  // A cosigner states something about a checkpoint (§Format): refuse to sign any other text.
  if (!checkpointText.endsWith('\n')) throw new FfauditError('BAD_INPUT', 'cosigned text must end with a newline');
  parseCheckpointText(checkpointText);
  // POSIX seconds as an exact integer: the timestamp is written in decimal and as a u64, and both must agree.
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new FfauditError('INTERNAL', `invalid cosignature timestamp ${timestamp}`);
  return u64(BigInt(timestamp));
}

/** A signature's u64 timestamp when it is one a verifier can return exactly, else undefined. */
function timestampOf(signature: Uint8Array): bigint | undefined {
  const ts = Buffer.from(signature.buffer, signature.byteOffset, 8).readBigUInt64BE(0);
  if (ts > MAX_SPEC_TIMESTAMP) return undefined; // §Format: MUST NOT exceed 2^63 - 1
  // Valid by the spec but not exactly representable as a number: real POSIX seconds are far below 2^53.
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return ts;
}

function signatureLine(name: string, keyId: Buffer, ts: Buffer, signature: Uint8Array): string {
  return `${EM_DASH_PREFIX}${name} ${Buffer.concat([keyId, ts, signature]).toString('base64')}\n`;
}

export function makeCosigner(name: string, seed: Uint8Array): Cosigner {
  checkName(name, 'KEY');
  const priv: KeyObject = ed25519PrivateKeyFromSeed(seed);
  const publicKey = rawPublicKey(priv);
  const keyId = computeKeyId(name, COSIGNATURE_TYPE, publicKey);
  return {
    name,
    type: COSIGNATURE_TYPE,
    keyId,
    publicKey,
    cosign(checkpointText, timestamp) {
      const ts = checkCosigned(checkpointText, timestamp);
      return signatureLine(name, keyId, ts, sign(null, signedMessage(checkpointText, timestamp), priv));
    },
  };
}

export function makeCosignatureVerifier(name: string, publicKey: Uint8Array): CosignatureVerifier {
  checkName(name, 'KEY');
  let pub: KeyObject;
  try {
    pub = ed25519PublicKeyFromRaw(publicKey);
  } catch (e) {
    throw e instanceof FfauditError ? e : new FfauditError('KEY', 'not a valid Ed25519 public key');
  }
  const raw = Buffer.from(publicKey);
  return {
    name,
    type: COSIGNATURE_TYPE,
    keyId: computeKeyId(name, COSIGNATURE_TYPE, raw),
    publicKey: raw,
    verify(checkpointText, signature) {
      // Untrusted input: the signature bytes come from a note anyone may have written.
      if (!(signature instanceof Uint8Array) || signature.length !== TIMESTAMPED_SIGNATURE_BYTES) return undefined;
      const ts = timestampOf(signature);
      if (ts === undefined) return undefined;
      const ok = verify(null, signedMessage(checkpointText, ts), pub, signature.subarray(8));
      return ok ? Number(ts) : undefined;
    },
  };
}

/** The cosigner_name of §ML-DSA-44 signed message holds at most 255 bytes; a longer name could never cosign. */
function checkMlDsaName(name: string, code: 'KEY' | 'BAD_INPUT'): void {
  checkName(name, code);
  if (Buffer.byteLength(name, 'utf8') > 255) throw new FfauditError(code, `the cosigner name ${JSON.stringify(name.slice(0, 40))}… is longer than the 255 bytes an ML-DSA-44 cosignature can name`);
}

function needMlDsa44(opts: CosignatureOptions, code: 'KEY' | 'BAD_INPUT'): MlDsa44 {
  if (!opts.mlDsa44) throw new FfauditError(code, 'ML-DSA-44 cosignatures (type 0x06) are not supported here');
  return opts.mlDsa44;
}

/**
 * An ML-DSA-44 cosigner from its 32-byte key generation seed. Each cosignature is a hedged ML-DSA.Sign (the
 * primitive's), so two cosignatures of one checkpoint at one time differ; both verify.
 */
export function makeMlDsaCosigner(name: string, seed: Uint8Array, mlDsa44: MlDsa44): Cosigner {
  checkMlDsaName(name, 'KEY');
  if (seed.length !== ML_DSA_44_SEED_BYTES) throw new FfauditError('KEY', 'an ML-DSA-44 seed is 32 bytes');
  const { publicKey, secretKey } = mlDsa44.keygen(seed);
  const pub = Buffer.from(publicKey);
  const keyId = computeKeyId(name, ML_DSA_44_COSIGNATURE_TYPE, pub);
  return {
    name,
    type: ML_DSA_44_COSIGNATURE_TYPE,
    keyId,
    publicKey: pub,
    cosign(checkpointText, timestamp) {
      const ts = checkCosigned(checkpointText, timestamp);
      // §ML-DSA-44 signed message: a zero timestamp makes no statement of the largest tree seen; a witness does.
      if (timestamp === 0) throw new FfauditError('INTERNAL', 'an ML-DSA-44 checkpoint cosignature has a non-zero timestamp');
      return signatureLine(name, keyId, ts, mlDsa44.sign(secretKey, checkpointMessage(name, checkpointText, BigInt(timestamp))));
    },
  };
}

/**
 * A verifier of ML-DSA-44 checkpoint cosignatures. It accepts only what a witness states of a checkpoint: start 0,
 * end the size, hash the root, and a non-zero timestamp (a zero one says nothing of the latest tree, §ML-DSA-44
 * signed message).
 */
export function makeMlDsaCosignatureVerifier(name: string, publicKey: Uint8Array, mlDsa44: MlDsa44): CosignatureVerifier {
  checkMlDsaName(name, 'KEY');
  // Every 1312-byte string decodes to a key (FIPS 204 pkDecode takes any bytes): the length is the whole check.
  if (publicKey.length !== ML_DSA_44_PUBLIC_KEY_BYTES) throw new FfauditError('KEY', 'an ML-DSA-44 public key is 1312 bytes');
  const raw = Buffer.from(publicKey);
  return {
    name,
    type: ML_DSA_44_COSIGNATURE_TYPE,
    keyId: computeKeyId(name, ML_DSA_44_COSIGNATURE_TYPE, raw),
    publicKey: raw,
    verify(checkpointText, signature) {
      // Untrusted input, as for Ed25519.
      if (!(signature instanceof Uint8Array) || signature.length !== 8 + ML_DSA_44_SIGNATURE_BYTES) return undefined;
      const ts = timestampOf(signature);
      if (ts === undefined || ts === 0n) return undefined;
      let message: Buffer;
      try {
        message = checkpointMessage(name, checkpointText, ts);
      } catch {
        return undefined; // not a checkpoint, or an origin no ML-DSA-44 cosignature can name
      }
      return mlDsa44.verify(raw, message, signature.subarray(8)) ? Number(ts) : undefined;
    },
  };
}

/** Verifier key text (signed-note §Verifier keys) of either kind: `name+<key ID hex>+base64(type ‖ public key)`. */
export function cosignerVkey(key: { name: string; type: CosignatureType; publicKey: Uint8Array }): string {
  checkName(key.name, 'KEY');
  const size = key.type === COSIGNATURE_TYPE ? 32 : ML_DSA_44_PUBLIC_KEY_BYTES;
  if (key.publicKey.length !== size) throw new FfauditError('KEY', `a type 0x0${key.type} cosigner public key is ${size} bytes`);
  const id = computeKeyId(key.name, key.type, key.publicKey).toString('hex');
  return `${key.name}+${id}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString('base64')}`;
}

/** Verifier key text of an Ed25519 cosigner: `name+<key ID hex>+base64(0x04 ‖ public key)`. */
export function formatCosignerVkey(name: string, publicKey: Uint8Array): string {
  return cosignerVkey({ name, type: COSIGNATURE_TYPE, publicKey });
}

/** `name+id+key`: the name and the hex ID hold no '+', the base64 key may. */
const VKEY_PATTERN = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/;

/**
 * Parses a cosigner verifier key: Ed25519 (0x04), or ML-DSA-44 (0x06) when `opts` brings the primitive. Untrusted
 * input: BAD_INPUT when malformed, of another type, or mismatched.
 */
export function parseCosignerVkey(text: string, opts: CosignatureOptions = {}): CosignatureVerifier {
  const m = VKEY_PATTERN.exec(text.trim());
  if (!m) throw new FfauditError('BAD_INPUT', 'a cosigner verifier key is name+keyid+key');
  const [, name, idHex, keyB64] = m as unknown as [string, string, string, string];
  checkName(name, 'BAD_INPUT');
  const key = decodeBase64Strict(keyB64);
  let v: CosignatureVerifier;
  if (key?.[0] === ML_DSA_44_COSIGNATURE_TYPE && key.length === 1 + ML_DSA_44_PUBLIC_KEY_BYTES) {
    const mlDsa44 = needMlDsa44(opts, 'BAD_INPUT');
    checkMlDsaName(name, 'BAD_INPUT');
    v = makeMlDsaCosignatureVerifier(name, key.subarray(1), mlDsa44);
  } else {
    if (!key || key.length !== 33 || key[0] !== COSIGNATURE_TYPE) {
      throw new FfauditError('BAD_INPUT', 'verifier key is neither an Ed25519 (type 0x04) nor an ML-DSA-44 (type 0x06) cosigner key');
    }
    try {
      v = makeCosignatureVerifier(name, key.subarray(1));
    } catch {
      throw new FfauditError('BAD_INPUT', 'verifier key does not hold a valid Ed25519 public key');
    }
  }
  if (v.keyId.toString('hex') !== idHex) throw new FfauditError('BAD_INPUT', 'verifier key ID does not match the key');
  return v;
}

/**
 * Signer key text in the shape golang.org/x/mod/sumdb/note uses, with the cosignature type byte:
 * `PRIVATE+KEY+name+<key ID hex>+base64(0x04 ‖ 32-byte seed)`.
 */
export function formatCosignerSkey(name: string, seed: Uint8Array): string {
  const c = makeCosigner(name, seed);
  return `PRIVATE+KEY+${name}+${c.keyId.toString('hex')}+${Buffer.concat([Buffer.from([COSIGNATURE_TYPE]), seed]).toString('base64')}`;
}

/**
 * The same for an ML-DSA-44 cosigner: `PRIVATE+KEY+name+<key ID hex>+base64(0x06 ‖ 32-byte seed ξ)`. The seed is the
 * whole private key, since ML-DSA.KeyGen_internal derives the key pair from it alone (FIPS 204 Algorithm 6): 32
 * bytes instead of the 2560 of the expanded secret key, and the same shape as the Ed25519 seed beside it.
 */
export function formatMlDsaCosignerSkey(name: string, seed: Uint8Array, mlDsa44: MlDsa44): string {
  const c = makeMlDsaCosigner(name, seed, mlDsa44);
  return `PRIVATE+KEY+${name}+${c.keyId.toString('hex')}+${Buffer.concat([Buffer.from([ML_DSA_44_COSIGNATURE_TYPE]), seed]).toString('base64')}`;
}

const SKEY_PATTERN = /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/;

/**
 * Parses a cosigner signer key: Ed25519 (0x04), or ML-DSA-44 (0x06) when `opts` brings the primitive. KEY when
 * malformed, of another type, or mismatched.
 */
export function parseCosignerSkey(text: string, opts: CosignatureOptions = {}): Cosigner {
  const m = SKEY_PATTERN.exec(text.trim());
  if (!m) throw new FfauditError('KEY', 'the key does not hold a PRIVATE+KEY+… cosigner key');
  const [, name, idHex, keyB64] = m as unknown as [string, string, string, string];
  const key = decodeBase64Strict(keyB64);
  if (!key || key.length !== 33 || (key[0] !== COSIGNATURE_TYPE && key[0] !== ML_DSA_44_COSIGNATURE_TYPE)) {
    throw new FfauditError('KEY', 'the signer key is neither an Ed25519 (type 0x04) nor an ML-DSA-44 (type 0x06) cosigner key');
  }
  const c = key[0] === COSIGNATURE_TYPE ? makeCosigner(name, key.subarray(1)) : makeMlDsaCosigner(name, key.subarray(1), needMlDsa44(opts, 'KEY'));
  if (c.keyId.toString('hex') !== idHex) throw new FfauditError('KEY', 'the signer key ID does not match the key');
  return c;
}

/**
 * The verified cosignatures in a whole note (text + signature lines) from the given verifiers. Untrusted input:
 * throws BAD_INPUT only when the note itself is malformed (signed-note §Format). Lines whose name and key ID do not
 * both match a verifier are ignored (signed-note §Signatures, tlog-witness: "MUST ignore any cosignatures from
 * unknown keys"), and so is a known key's line that fails: it is not a cosignature, and the log's own signature
 * line (type 0x01) shares no key ID with a cosigner. Each returned line is the signature line as written, with
 * its newline (strict base64 makes the reconstruction byte-exact).
 */
export function verifiedCosignatures(note: string, verifiers: readonly CosignatureVerifier[]): { name: string; timestamp: number; line: string }[] {
  const parsed = parseNote(note);
  const out: { name: string; timestamp: number; line: string }[] = [];
  const seen = new Set<string>();
  for (const s of parsed.signatures) {
    const v = verifiers.find((k) => k.name === s.name && k.keyId.equals(s.keyId));
    if (!v) continue;
    const timestamp = v.verify(parsed.text, s.signature);
    if (timestamp === undefined) continue;
    const line = `${EM_DASH_PREFIX}${s.name} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}\n`;
    if (seen.has(line)) continue;
    seen.add(line);
    out.push({ name: s.name, timestamp, line });
  }
  return out;
}

/**
 * Splits a body of note signature lines (a witness's or mirror's 200 response, tlog-witness §add-checkpoint: one
 * or more lines, each `— ` … `\n`) into lines, each with its newline. Untrusted input: BAD_INPUT when malformed.
 */
export function splitSignatureLines(body: string): string[] {
  if (body.length === 0 || !body.endsWith('\n')) throw new FfauditError('BAD_INPUT', 'signature lines must end with a newline');
  const lines = body.slice(0, -1).split('\n').map((l) => `${l}\n`);
  for (const l of lines) checkSignatureLine(l);
  return lines;
}

/** One signature line, with its newline: `— <name> <base64 of at least 5 bytes>\n` (signed-note §Format). */
function checkSignatureLine(line: string): { name: string; keyId: Buffer } {
  const bad = () => new FfauditError('BAD_INPUT', 'malformed note signature line');
  if (!line.startsWith(EM_DASH_PREFIX) || !line.endsWith('\n') || line.indexOf('\n') !== line.length - 1) throw bad();
  const rest = line.slice(EM_DASH_PREFIX.length, -1);
  const sp = rest.lastIndexOf(' ');
  if (sp <= 0) throw bad();
  const name = rest.slice(0, sp);
  const sig = decodeBase64Strict(rest.slice(sp + 1));
  if (/[\s+]/u.test(name) || !sig || sig.length < 5) throw bad();
  return { name, keyId: sig.subarray(0, 4) };
}

/**
 * Appends signature lines (each with or without its newline) to a signed note. The note's own lines are kept as
 * they are; a line whose name and key ID are already in the note (or earlier in `lines`) is dropped, so a newer
 * cosignature from the same key never doubles the note. BAD_INPUT on a malformed note or line; the result is
 * checked as a note again, so it stays within signed-note's signature bound.
 */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const parsed = parseNote(note);
  const have = new Set(parsed.signatures.map((s) => `${s.name} ${s.keyId.toString('hex')}`));
  let out = note;
  for (const raw of lines) {
    const line = raw.endsWith('\n') ? raw : `${raw}\n`;
    const { name, keyId } = checkSignatureLine(line);
    const id = `${name} ${keyId.toString('hex')}`;
    if (have.has(id)) continue;
    have.add(id);
    out += line;
  }
  parseNote(out);
  return out;
}
