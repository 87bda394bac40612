/**
 * The server's cosigner keys (c2sp.org/tlog-cosignature): NAME/witness and NAME/mirror, Ed25519, distinct as the
 * specification requires of an operator running two Ed25519 cosigners, because that cosigned message does not name
 * the cosigner; and an ML-DSA-44 key of the witness (type 0x06), under the same name NAME/witness. One name for the
 * witness's two keys: it is one witness making one statement, the two key IDs differ by their type byte (signed-note
 * §Signatures: the name and key ID together identify the key and its algorithm), and tlog-witness's own example
 * answers add-checkpoint with two lines of one witness name. `serve init` creates the three once; a server
 * initialised before ML-DSA-44 keeps working with Ed25519 alone until `serve key --add-ml-dsa` creates the third.
 * `serve` only reads them, so every process on one database signs as the same cosigners.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';
import { isValidKeyName } from '../core/note.js';
import {
  COSIGNATURE_TYPE,
  cosignerVkey,
  formatCosignerSkey,
  formatMlDsaCosignerSkey,
  makeCosignatureVerifier,
  makeMlDsaCosignatureVerifier,
  ML_DSA_44_COSIGNATURE_TYPE,
  parseCosignerSkey,
  type Cosigner,
  type CosignatureVerifier,
} from '../core/cosignature.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';

export interface ServerKeys {
  witness: Cosigner;
  mirror: Cosigner;
  /** The witness's ML-DSA-44 cosigner (named as `witness`), when the server has one. */
  witnessMlDsa44?: Cosigner | undefined;
}

/** The verifier keys a host and a verifier are given; `witnessMlDsa44` only when the server has that key. */
export interface ServerVkeys {
  witness: string;
  mirror: string;
  witnessMlDsa44?: string | undefined;
}

const FILES = { witness: 'witness.key', mirror: 'mirror.key', witnessMlDsa44: 'witness-ml-dsa44.key' } as const;

function writeNew(path: string, text: string, mode: number, exists: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FfauditError('USAGE', `${path} already exists: ${exists}`);
    throw new FfauditError('IO', `cannot create ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function writeMlDsaKey(dir: string, name: string): void {
  writeNew(join(dir, FILES.witnessMlDsa44), `${formatMlDsaCosignerSkey(name, randomBytes(32), mlDsa44)}\n`, 0o600, 'this server has its ML-DSA-44 witness key already (serve key prints it)');
}

/** Creates NAME/witness (Ed25519 and ML-DSA-44) and NAME/mirror in DIR (created 0700 if missing); refuses to overwrite any. */
export function initServerKeys(dir: string, name: string): ServerVkeys {
  for (const role of ['witness', 'mirror'] as const) {
    if (!isValidKeyName(`${name}/${role}`)) throw new FfauditError('USAGE', `--name: ${JSON.stringify(name)} is not a valid key name (no spaces, no '+')`);
  }
  if (Buffer.byteLength(`${name}/witness`, 'utf8') > 255) throw new FfauditError('USAGE', '--name: at most 246 bytes (an ML-DSA-44 cosignature names its cosigner in at most 255)');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new FfauditError('IO', `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const role of ['witness', 'mirror'] as const) {
    writeNew(join(dir, FILES[role]), `${formatCosignerSkey(`${name}/${role}`, randomBytes(32))}\n`, 0o600, "the server's keys are created once (serve key prints them)");
  }
  writeMlDsaKey(dir, `${name}/witness`);
  return serverVkeys(loadServerKeys(dir));
}

/**
 * Gives a server initialised before ML-DSA-44 its witness key of that type, named as its Ed25519 witness key;
 * refuses when it has one. The running `serve` processes take it at their next start.
 */
export function addMlDsaWitnessKey(dir: string): ServerVkeys {
  const keys = loadServerKeys(dir);
  if (keys.witnessMlDsa44) throw new FfauditError('USAGE', `${join(dir, FILES.witnessMlDsa44)} already exists: this server has its ML-DSA-44 witness key already (serve key prints it)`);
  writeMlDsaKey(dir, keys.witness.name);
  return serverVkeys(loadServerKeys(dir));
}

/** The keys in DIR; the ML-DSA-44 witness key is optional (a server initialised before it has none). */
export function loadServerKeys(dir: string): ServerKeys {
  const text = (file: string): string | undefined => {
    const path = join(dir, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new FfauditError('KEY', `cannot read ${path}: ${code}`);
    }
  };
  const read = (role: 'witness' | 'mirror'): Cosigner => {
    const t = text(FILES[role]);
    if (t === undefined) throw new FfauditError('KEY', `${join(dir, FILES[role])}: no key (run \`ffaudit serve init --name NAME --keys ${dir}\` once)`);
    const c = parseCosignerSkey(t.trim());
    if (c.type !== COSIGNATURE_TYPE) throw new FfauditError('KEY', `${join(dir, FILES[role])}: not an Ed25519 cosigner key`);
    return c;
  };
  const keys: ServerKeys = { witness: read('witness'), mirror: read('mirror') };
  if (keys.witness.publicKey.equals(keys.mirror.publicKey)) throw new FfauditError('KEY', `${dir}: the witness and mirror keys are the same key; they must be distinct`);
  const pq = text(FILES.witnessMlDsa44);
  if (pq !== undefined) {
    const path = join(dir, FILES.witnessMlDsa44);
    const c = parseCosignerSkey(pq.trim(), { mlDsa44 });
    if (c.type !== ML_DSA_44_COSIGNATURE_TYPE) throw new FfauditError('KEY', `${path}: not an ML-DSA-44 cosigner key`);
    if (c.name !== keys.witness.name) throw new FfauditError('KEY', `${path}: the key is named ${JSON.stringify(c.name)}, not ${JSON.stringify(keys.witness.name)} as the witness`);
    keys.witnessMlDsa44 = c;
  }
  return keys;
}

export function serverVkeys(keys: ServerKeys): ServerVkeys {
  return { witness: cosignerVkey(keys.witness), mirror: cosignerVkey(keys.mirror), ...(keys.witnessMlDsa44 ? { witnessMlDsa44: cosignerVkey(keys.witnessMlDsa44) } : {}) };
}

/** Verifiers of the server's own cosignatures: witness, mirror, and the witness's ML-DSA-44 key when there is one. */
export function serverVerifierList(keys: ServerKeys): CosignatureVerifier[] {
  return [
    makeCosignatureVerifier(keys.witness.name, keys.witness.publicKey),
    makeCosignatureVerifier(keys.mirror.name, keys.mirror.publicKey),
    ...(keys.witnessMlDsa44 ? [makeMlDsaCosignatureVerifier(keys.witnessMlDsa44.name, keys.witnessMlDsa44.publicKey, mlDsa44)] : []),
  ];
}
