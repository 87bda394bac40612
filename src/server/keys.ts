/**
 * The server's two cosigner keys (c2sp.org/tlog-cosignature): NAME/witness and NAME/mirror, distinct as the
 * specification requires of an operator running two Ed25519 cosigners, because the cosigned message does not name
 * the cosigner. `serve init` creates them once; `serve` only reads them, so every process on one database signs as
 * the same cosigners.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';
import { isValidKeyName } from '../core/note.js';
import { formatCosignerSkey, formatCosignerVkey, parseCosignerSkey, type Cosigner } from '../core/cosignature.js';

export interface ServerKeys {
  witness: Cosigner;
  mirror: Cosigner;
}

const FILES = { witness: 'witness.key', mirror: 'mirror.key' } as const;

function writeNew(path: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FfauditError('USAGE', `${path} already exists: the server's keys are created once (serve key prints them)`);
    throw new FfauditError('IO', `cannot create ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Creates NAME/witness and NAME/mirror in DIR (created 0700 if missing); refuses to overwrite either. */
export function initServerKeys(dir: string, name: string): { witness: string; mirror: string } {
  for (const role of ['witness', 'mirror'] as const) {
    if (!isValidKeyName(`${name}/${role}`)) throw new FfauditError('USAGE', `--name: ${JSON.stringify(name)} is not a valid key name (no spaces, no '+')`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new FfauditError('IO', `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const out = { witness: '', mirror: '' };
  for (const role of ['witness', 'mirror'] as const) {
    const seed = randomBytes(32);
    writeNew(join(dir, FILES[role]), `${formatCosignerSkey(`${name}/${role}`, seed)}\n`, 0o600);
    out[role] = formatCosignerVkey(`${name}/${role}`, parseCosignerSkey(formatCosignerSkey(`${name}/${role}`, seed)).publicKey);
  }
  return out;
}

export function loadServerKeys(dir: string): ServerKeys {
  const read = (role: 'witness' | 'mirror'): Cosigner => {
    const path = join(dir, FILES[role]);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new FfauditError('KEY', code === 'ENOENT' ? `${path}: no key (run \`ffaudit serve init --name NAME --keys ${dir}\` once)` : `cannot read ${path}: ${code}`);
    }
    return parseCosignerSkey(text.trim());
  };
  const keys = { witness: read('witness'), mirror: read('mirror') };
  if (keys.witness.publicKey.equals(keys.mirror.publicKey)) throw new FfauditError('KEY', `${dir}: the witness and mirror keys are the same key; they must be distinct`);
  return keys;
}

export function serverVkeys(keys: ServerKeys): { witness: string; mirror: string } {
  return { witness: formatCosignerVkey(keys.witness.name, keys.witness.publicKey), mirror: formatCosignerVkey(keys.mirror.name, keys.mirror.publicKey) };
}
