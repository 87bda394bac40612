/** Small files a user hands to a command (keys, policies, receipts, proofs, entries), read with one set of bounds and errors. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { VerifierKey } from '../core/bundle.js';
import { FfauditError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';

/** Receipts, checkpoints, proofs and entries are small (an entry is below 64 KiB); anything far larger is not ours. */
const MAX_INPUT = 1 << 20;

/**
 * A file given to us, read whole: a regular file, or a pipe (`--entry <(ffaudit entry 3 --raw)`), read up to the
 * bound. Missing or unreadable: could not run (exit 2). `given`: the name as the user typed it, for messages.
 */
export function readSmall(path: string, what: string, given: string = path): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    if (!st.isFile() && !st.isFIFO()) throw new FfauditError('IO', `${what} ${given} is not a regular file`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const b = Buffer.alloc(64 * 1024);
      const n = readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      total += n;
      if (total > MAX_INPUT) throw new FfauditError('BAD_INPUT', `${what} ${given} is larger than ${MAX_INPUT} bytes`);
      chunks.push(b.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot read ${what} ${given}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function readKey(path: string, given: string = path): VerifierKey {
  try {
    return parseVerifierKey(readSmall(path, 'the key file', given).toString('utf8'));
  } catch (e) {
    if (e instanceof FfauditError && e.code === 'BAD_INPUT') throw new FfauditError('USAGE', `${given} does not hold a verifier key (name+keyid+key): ${e.message}`);
    throw e;
  }
}

