/**
 * SHA-256 of files and streams. Files are read in large blocks into two reused buffers, the next block being read
 * (libuv thread pool) while the current one is hashed (node:crypto, i.e. OpenSSL), so the slower of the two sets the
 * pace and the event loop stays free to pump FFmpeg's pipes.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { FfauditError } from '../core/errors.js';

export const READ_BLOCK = 4 << 20;

export interface FileDigest {
  size: number;
  sha256: string;
}

async function readInto(fh: FileHandle, buf: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Hashes a file's content as it is now (never a value cached on metadata). `path` may be a raw-byte Buffer. */
export async function hashFile(path: string | Buffer): Promise<FileDigest> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FfauditError('IO', `cannot read ${path.toString()}: ${code ?? String(e)}`);
  }
  const h = createHash('sha256');
  let size = 0;
  try {
    let filled = Buffer.allocUnsafe(READ_BLOCK);
    let spare = Buffer.allocUnsafe(READ_BLOCK);
    let pending = readInto(fh, filled);
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      // A short read means end of file; otherwise start the next read before hashing this block.
      pending = n < READ_BLOCK ? Promise.resolve(0) : readInto(fh, spare);
      h.update(n === READ_BLOCK ? filled : filled.subarray(0, n));
      size += n;
      [filled, spare] = [spare, filled];
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FfauditError('IO', `cannot read ${path.toString()}: ${code ?? String(e)}`);
  } finally {
    await fh.close();
  }
  return { size, sha256: h.digest('hex') };
}

/** Hashes the bytes of a stream as they pass through (FFmpeg's stdin or stdout): recorded as `pipe:0` / `pipe:1`. */
export class StreamDigest {
  private readonly h: Hash = createHash('sha256');
  size = 0;

  update(chunk: Buffer): void {
    this.h.update(chunk);
    this.size += chunk.length;
  }

  digest(): FileDigest {
    return { size: this.size, sha256: this.h.digest('hex') };
  }
}
