/** The log's signing key on disk: Go note signer-key text, in a file of mode 0600. */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { FfauditError } from '../core/errors.js';
import { formatSignerKey, parseSignerKey, type Signer } from '../core/note.js';

export function createKeyFile(path: string, name: string): Signer & { publicKey: Buffer } {
  const text = `${formatSignerKey(name, randomBytes(32))}\n`;
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600); // never overwrite a key
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FfauditError(code === 'EEXIST' ? 'LEDGER_EXISTS' : 'KEY', code === 'EEXIST' ? `a key already exists at ${path}` : `cannot create key file ${path}: ${code}`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return parseSignerKey(text);
}

export function loadKeyFile(path: string): Signer & { publicKey: Buffer } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FfauditError('KEY', `cannot read the signing key ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseSignerKey(text);
}
