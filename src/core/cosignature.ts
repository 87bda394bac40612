/**
 * c2sp.org/tlog-cosignature: Ed25519 cosignatures (`cosignature/v1`, signed-note signature type 0x04), the
 * statement by a witness or a mirror that, as of a time, this checkpoint is the largest consistent one it has seen
 * of the log (and, for a mirror, that it holds its entries).
 *
 * A cosignature is a note signature line `— <name> base64(key ID ‖ u64 timestamp ‖ Ed25519 signature)` whose
 * signature covers `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint note text (§Ed25519 signed
 * message). Keys enter as seeds and raw public keys; files are the caller's business.
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

const EM_DASH_PREFIX = '\u2014 ';
/** timestamped_signature: u64 timestamp ‖ 64-byte Ed25519 signature (§Format). */
const TIMESTAMPED_SIGNATURE_BYTES = 8 + 64;
/** §Format: the timestamp MUST NOT exceed 2^63 - 1. */
const MAX_SPEC_TIMESTAMP = 2n ** 63n - 1n;

export interface Cosigner {
  readonly name: string;
  readonly keyId: Buffer;
  readonly publicKey: Buffer;
  /** One note signature line "— name base64(keyid||u64 timestamp||sig)\n" over checkpointText (note text, ends "\n"). */
  cosign(checkpointText: string, timestamp: number): string;
}

export interface CosignatureVerifier {
  readonly name: string;
  readonly keyId: Buffer;
  readonly publicKey: Buffer;
  /** Checks one parsed signature (from parseNote) on checkpointText; returns its timestamp, or undefined if it fails. */
  verify(checkpointText: string, signature: Buffer): number | undefined;
}

/** §Ed25519 signed message: two header lines, then the note text including its final newline. */
function signedMessage(checkpointText: string, timestamp: bigint | number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`, 'utf8');
}

function checkName(name: string, code: 'KEY' | 'BAD_INPUT'): void {
  if (!isValidKeyName(name)) throw new FfauditError(code, `invalid cosigner name ${JSON.stringify(name)}`);
}

export function makeCosigner(name: string, seed: Uint8Array): Cosigner {
  checkName(name, 'KEY');
  const priv: KeyObject = ed25519PrivateKeyFromSeed(seed);
  const publicKey = rawPublicKey(priv);
  const keyId = computeKeyId(name, COSIGNATURE_TYPE, publicKey);
  return {
    name,
    keyId,
    publicKey,
    cosign(checkpointText, timestamp) {
      // A cosigner states something about a checkpoint (§Format): refuse to sign any other text.
      if (!checkpointText.endsWith('\n')) throw new FfauditError('BAD_INPUT', 'cosigned text must end with a newline');
      parseCheckpointText(checkpointText);
      // POSIX seconds as an exact integer: the timestamp is written in decimal and as a u64, and both must agree.
      if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new FfauditError('INTERNAL', `invalid cosignature timestamp ${timestamp}`);
      const ts = Buffer.alloc(8);
      ts.writeBigUInt64BE(BigInt(timestamp));
      const sig = Buffer.concat([keyId, ts, sign(null, signedMessage(checkpointText, timestamp), priv)]);
      return `${EM_DASH_PREFIX}${name} ${sig.toString('base64')}\n`;
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
    keyId: computeKeyId(name, COSIGNATURE_TYPE, raw),
    publicKey: raw,
    verify(checkpointText, signature) {
      // Untrusted input: the signature bytes come from a note anyone may have written.
      if (!(signature instanceof Uint8Array) || signature.length !== TIMESTAMPED_SIGNATURE_BYTES) return undefined;
      const ts = Buffer.from(signature.buffer, signature.byteOffset, 8).readBigUInt64BE(0);
      if (ts > MAX_SPEC_TIMESTAMP) return undefined; // §Format: MUST NOT exceed 2^63 - 1
      // Valid by the spec but not exactly representable as a number: real POSIX seconds are far below 2^53.
      if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
      const ok = verify(null, signedMessage(checkpointText, ts), pub, signature.subarray(8));
      return ok ? Number(ts) : undefined;
    },
  };
}

/** Verifier key text (signed-note §Verifier keys): `name+<key ID hex>+base64(0x04 ‖ public key)`. */
export function formatCosignerVkey(name: string, publicKey: Uint8Array): string {
  checkName(name, 'KEY');
  if (publicKey.length !== 32) throw new FfauditError('KEY', 'an Ed25519 public key is 32 bytes');
  const id = computeKeyId(name, COSIGNATURE_TYPE, publicKey).toString('hex');
  return `${name}+${id}+${Buffer.concat([Buffer.from([COSIGNATURE_TYPE]), publicKey]).toString('base64')}`;
}

/** `name+id+key`: the name and the hex ID hold no '+', the base64 key may. */
const VKEY_PATTERN = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/;

/** Parses a cosigner verifier key. Untrusted input: BAD_INPUT when malformed, of another type, or mismatched. */
export function parseCosignerVkey(text: string): CosignatureVerifier {
  const m = VKEY_PATTERN.exec(text.trim());
  if (!m) throw new FfauditError('BAD_INPUT', 'a cosigner verifier key is name+keyid+key');
  const [, name, idHex, keyB64] = m as unknown as [string, string, string, string];
  checkName(name, 'BAD_INPUT');
  const key = decodeBase64Strict(keyB64);
  if (!key || key.length !== 33 || key[0] !== COSIGNATURE_TYPE) {
    throw new FfauditError('BAD_INPUT', 'verifier key is not an Ed25519 cosignature (type 0x04) key');
  }
  let v: CosignatureVerifier;
  try {
    v = makeCosignatureVerifier(name, key.subarray(1));
  } catch {
    throw new FfauditError('BAD_INPUT', 'verifier key does not hold a valid Ed25519 public key');
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

const SKEY_PATTERN = /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/;

/** Parses a cosigner signer key; KEY when malformed, of another type, or mismatched. */
export function parseCosignerSkey(text: string): Cosigner {
  const m = SKEY_PATTERN.exec(text.trim());
  if (!m) throw new FfauditError('KEY', 'the key does not hold a PRIVATE+KEY+… cosigner key');
  const [, name, idHex, keyB64] = m as unknown as [string, string, string, string];
  const key = decodeBase64Strict(keyB64);
  if (!key || key.length !== 33 || key[0] !== COSIGNATURE_TYPE) {
    throw new FfauditError('KEY', 'the signer key is not an Ed25519 cosignature (type 0x04) key');
  }
  const c = makeCosigner(name, key.subarray(1));
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
