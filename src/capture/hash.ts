/** SHA-256 of files and streams, read in large blocks so node:crypto (OpenSSL) sets the pace. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FfauditError } from '../core/errors.js';

export const READ_BLOCK = 1 << 20;

export interface FileDigest {
  size: number;
  sha256: string;
}

export async function hashFile(path: string): Promise<FileDigest> {
  const h = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: READ_BLOCK })) {
      h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FfauditError('IO', `cannot read ${path}: ${code ?? String(e)}`);
  }
  return { size, sha256: h.digest('hex') };
}
