/**
 * c2sp.org/signed-note: signed notes, Ed25519 keys (signature type 0x01), key IDs and verifier keys.
 *
 * Keys never enter this module as files: a Signer or Verifier is a name, a key ID and a function.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { FfauditError } from './errors.js';

export const ED25519_TYPE = 0x01;
const EM_DASH_PREFIX = '\u2014 ';
// Go's note.Open refuses notes with more signatures than this; so do we (bounds work on hostile input).
const MAX_SIGNATURES = 100;

export interface Signer {
  readonly name: string;
  readonly keyId: Buffer; // 4 bytes
  sign(message: Buffer): Buffer;
}

export interface Verifier {
  readonly name: string;
  readonly keyId: Buffer; // 4 bytes
  verify(message: Buffer, signature: Buffer): boolean;
}

/** Key names: non-empty, no Unicode spaces, no '+' (signed-note §Verifier keys). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !/\p{C}/u.test(name);
}

/** key ID = SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key)[:4] (signed-note §Signatures). */
export function computeKeyId(name: string, type: number, publicKey: Uint8Array): Buffer {
  return createHash('sha256')
    .update(Buffer.from(name, 'utf8'))
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

// PKCS#8 / SPKI DER prefixes for a raw 32-byte Ed25519 seed / public key (RFC 8410).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new FfauditError('KEY', 'an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new FfauditError('KEY', 'an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
}

/** The raw 32-byte public key of an Ed25519 private or public key object. */
export function rawPublicKey(key: KeyObject): Buffer {
  // createPublicKey accepts a private key object but refuses a public one, so a public key is exported as it is.
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

export function makeEd25519Signer(name: string, seed: Uint8Array): Signer & { publicKey: Buffer } {
  if (!isValidKeyName(name)) throw new FfauditError('KEY', `invalid key name ${JSON.stringify(name)}`);
  const priv = ed25519PrivateKeyFromSeed(seed);
  const publicKey = rawPublicKey(priv);
  return {
    name,
    publicKey,
    keyId: computeKeyId(name, ED25519_TYPE, publicKey),
    sign: (message) => sign(null, message, priv),
  };
}

export function makeEd25519Verifier(name: string, publicKey: Uint8Array): Verifier & { publicKey: Buffer } {
  const pub = ed25519PublicKeyFromRaw(publicKey);
  return {
    name,
    publicKey: Buffer.from(publicKey),
    keyId: computeKeyId(name, ED25519_TYPE, publicKey),
    verify: (message, signature) => signature.length === 64 && verify(null, message, pub, signature),
  };
}

/** Verifier key text: `name+<key ID, 8 hex digits>+base64(0x01 ‖ public key)`. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  const id = computeKeyId(name, ED25519_TYPE, publicKey).toString('hex');
  return `${name}+${id}+${Buffer.concat([Buffer.from([ED25519_TYPE]), publicKey]).toString('base64')}`;
}

/** True for the 64 characters of the standard base64 alphabet (RFC 4648 §4). */
function isBase64Char(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
}

/**
 * Strict standard base64 (RFC 4648 §4, padded): Buffer.from is lenient, so the text is checked first, in one
 * linear pass (a regular expression over it recursed once per group and overflowed the stack on a few MiB).
 * The alphabet only, a length that is a multiple of 4, at most two '=' and only at the end; and the text must be
 * the canonical encoding of what it decodes to, which rejects non-zero padding bits (§3.5).
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0) return null;
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  if (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  if (text.length - end > 0 && end % 4 < 2) return null; // '=' may only complete a group of 2 or 3 characters
  for (let i = 0; i < end; i++) if (!isBase64Char(text.charCodeAt(i))) return null;
  const b = Buffer.from(text, 'base64');
  return b.toString('base64') === text ? b : null;
}

/** Splits at the first n-1 '+' signs; null when there are fewer. */
function splitPlus(text: string, n: number): string[] | null {
  const out: string[] = [];
  let rest = text;
  for (let i = 0; i < n - 1; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return null;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

/** Parses a verifier key line. Untrusted input. */
export function parseVerifierKey(text: string): Verifier & { publicKey: Buffer } {
  // The key name has no '+', the base64 key may: split at the first two only.
  const parts = splitPlus(text.trim(), 3);
  if (!parts) throw new FfauditError('BAD_INPUT', 'a verifier key is name+keyid+key');
  const [name, idHex, keyB64] = parts as [string, string, string];
  if (!isValidKeyName(name)) throw new FfauditError('BAD_INPUT', 'verifier key has an invalid name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new FfauditError('BAD_INPUT', 'verifier key ID is not 8 hex digits');
  const key = decodeBase64Strict(keyB64);
  if (!key || key.length !== 33 || key[0] !== ED25519_TYPE) {
    throw new FfauditError('BAD_INPUT', 'verifier key is not an Ed25519 (type 0x01) key');
  }
  const v = makeEd25519Verifier(name, key.subarray(1));
  if (v.keyId.toString('hex') !== idHex) throw new FfauditError('BAD_INPUT', 'verifier key ID does not match the key');
  return v;
}

/**
 * Signer key text, as golang.org/x/mod/sumdb/note writes it, so our key files interoperate with Go tooling:
 * `PRIVATE+KEY+name+<key ID hex>+base64(0x01 ‖ 32-byte seed)`.
 */
export function formatSignerKey(name: string, seed: Uint8Array): string {
  const s = makeEd25519Signer(name, seed);
  return `PRIVATE+KEY+${name}+${s.keyId.toString('hex')}+${Buffer.concat([Buffer.from([ED25519_TYPE]), seed]).toString('base64')}`;
}

export function parseSignerKey(text: string): Signer & { publicKey: Buffer } {
  const parts = splitPlus(text.trim(), 5);
  if (!parts || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new FfauditError('KEY', 'the key file does not hold a PRIVATE+KEY+… signer key');
  }
  const [, , name, idHex, keyB64] = parts as [string, string, string, string, string];
  const key = decodeBase64Strict(keyB64);
  if (!key || key.length !== 33 || key[0] !== ED25519_TYPE) throw new FfauditError('KEY', 'the signer key is not an Ed25519 key');
  const s = makeEd25519Signer(name, key.subarray(1));
  if (s.keyId.toString('hex') !== idHex) throw new FfauditError('KEY', 'the signer key ID does not match the key');
  return s;
}

export interface NoteSignature {
  name: string;
  keyId: Buffer;
  signature: Buffer;
}

export interface Note {
  text: string;
  signatures: NoteSignature[];
}

/** Signs `text` (which must end in a newline) with each signer and returns the note's text. */
export function signNote(text: string, signers: readonly Signer[]): string {
  if (!text.endsWith('\n')) throw new FfauditError('INTERNAL', 'note text must end with a newline');
  const msg = Buffer.from(text, 'utf8');
  const lines = signers.map((s) => {
    const sig = Buffer.concat([s.keyId, s.sign(msg)]);
    return `${EM_DASH_PREFIX}${s.name} ${sig.toString('base64')}\n`;
  });
  return `${text}\n${lines.join('')}`;
}

/**
 * Splits a note into its text and signature lines (signed-note §Format). Untrusted input: throws BAD_INPUT on
 * anything malformed; does not check signatures.
 */
export function parseNote(note: string): Note {
  // signed-note §Format: valid UTF-8 without ASCII control characters (below U+0020) other than newline. Text
  // decoded from bytes carries invalid UTF-8 as U+FFFD, so that is refused too.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f\ufffd]/.test(note)) throw new FfauditError('BAD_INPUT', 'note holds control characters or invalid UTF-8');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new FfauditError('BAD_INPUT', 'note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const sigText = note.slice(split + 2);
  if (!sigText.endsWith('\n')) throw new FfauditError('BAD_INPUT', 'note signatures do not end with a newline');
  const signatures: NoteSignature[] = [];
  for (const line of sigText.slice(0, -1).split('\n')) {
    if (!line.startsWith(EM_DASH_PREFIX)) throw new FfauditError('BAD_INPUT', 'malformed note signature line');
    const rest = line.slice(EM_DASH_PREFIX.length);
    const sp = rest.lastIndexOf(' ');
    const name = rest.slice(0, sp);
    const sig = decodeBase64Strict(rest.slice(sp + 1));
    // Any name the spec allows (non-empty, no Unicode spaces, no '+'): lines from keys we do not know are ignored
    // later, not refused here, so a witness with an unusual name does not make the whole note unreadable.
    if (sp <= 0 || /[\s+]/u.test(name) || !sig || sig.length < 5) {
      throw new FfauditError('BAD_INPUT', 'malformed note signature line');
    }
    signatures.push({ name, keyId: sig.subarray(0, 4), signature: sig.subarray(4) });
    if (signatures.length > MAX_SIGNATURES) throw new FfauditError('BAD_INPUT', 'note has too many signatures');
  }
  if (signatures.length === 0) throw new FfauditError('BAD_INPUT', 'note has no signatures');
  return { text, signatures };
}

export type NoteVerdict = 'ok' | 'unsigned' | 'invalid';

/**
 * Checks a parsed note against known verifiers: signatures from unknown keys are ignored; 'invalid' when a known
 * key's signature fails, 'unsigned' when no known key signed, else 'ok'.
 */
export function checkNote(note: Note, verifiers: readonly Verifier[]): NoteVerdict {
  const msg = Buffer.from(note.text, 'utf8');
  let verified = 0;
  for (const s of note.signatures) {
    const v = verifiers.find((k) => k.name === s.name && k.keyId.equals(s.keyId));
    if (!v) continue;
    if (!v.verify(msg, s.signature)) return 'invalid';
    verified++;
  }
  return verified > 0 ? 'ok' : 'unsigned';
}
