/**
 * SHA-256 of files and streams, two ways:
 * - in the foreground (nothing else to do, both cores free: a file FFmpeg has just written), large blocks are read
 *   into two reused buffers, the next block being read (libuv thread pool) while the current one is hashed
 *   (node:crypto, i.e. OpenSSL), so the slower of the two sets the pace;
 * - in the background (an input, while FFmpeg runs and wants the CPU), small blocks are read and hashed on this
 *   thread, a few milliseconds at a time between turns of the event loop. A block the size of a core's L2 cache is
 *   copied by the kernel and hashed while it is still there: about 0.9 s of CPU per GiB on a 2-core EPYC VM,
 *   where big blocks read on another thread cost 1.4 s (the copy leaves the data in the other core's cache).
 */
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { open, type FileHandle } from 'node:fs/promises';
import { FfauditError } from '../core/errors.js';

export const READ_BLOCK = 4 << 20;
/** Background hashing: the block size, and how long it holds the event loop before letting pipes and signals in. */
export const SLICE_BLOCK = 128 << 10;
const SLICE_MS = 4;

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

async function pipelined(fh: FileHandle, h: Hash, signal?: AbortSignal): Promise<number> {
  let size = 0;
  let filled = Buffer.allocUnsafe(READ_BLOCK);
  let spare = Buffer.allocUnsafe(READ_BLOCK);
  let pending = readInto(fh, filled);
  for (;;) {
    const n = await pending;
    signal?.throwIfAborted();
    if (n === 0) return size;
    // A short read means end of file; otherwise start the next read before hashing this block.
    pending = n < READ_BLOCK ? Promise.resolve(0) : readInto(fh, spare);
    h.update(n === READ_BLOCK ? filled : filled.subarray(0, n));
    size += n;
    [filled, spare] = [spare, filled];
  }
}

async function inSlices(fh: FileHandle, h: Hash): Promise<number> {
  let size = 0;
  const buf = Buffer.allocUnsafe(SLICE_BLOCK);
  for (;;) {
    const until = performance.now() + SLICE_MS;
    do {
      const n = readSync(fh.fd, buf, 0, SLICE_BLOCK, null);
      if (n === 0) return size;
      h.update(n === SLICE_BLOCK ? buf : buf.subarray(0, n));
      size += n;
    } while (performance.now() < until);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * A large file hashed in the background goes to a worker thread that lowers its own scheduling priority (nice 19,
 * which on Linux applies to the calling thread only): it then takes only the CPU that FFmpeg leaves idle instead of
 * slowing FFmpeg's own threads, and needs no slicing. The thread costs ~50 ms of start-up, so small files stay here.
 * It counts the bytes it has hashed in shared memory, so that the end of a run can tell whether it is starved.
 */
export const WORKER_MIN_BYTES = 64 << 20;
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
try { require('node:os').setPriority(19); } catch {}
let fd;
try {
  fd = openSync(typeof workerData.path === 'string' ? workerData.path : Buffer.from(workerData.path), 'r');
  const block = workerData.block, buf = Buffer.allocUnsafe(block), h = createHash('sha256'), done = workerData.progress;
  let size = 0, n;
  while ((n = readSync(fd, buf, 0, block, null)) > 0) {
    h.update(n === block ? buf : buf.subarray(0, n));
    size += n;
    Atomics.store(done, 0, BigInt(size));
  }
  parentPort.postMessage({ size, sha256: h.digest('hex') });
} catch (e) {
  parentPort.postMessage({ error: (e && e.code) || String(e) });
} finally {
  if (fd !== undefined) closeSync(fd);
}`;

/** How often the end of a run looks at a background hash, and the least progress that is not starvation. */
const WATCH_MS = 100;
const STARVED_BYTES = 16 << 20; // per WATCH_MS: 160 MB/s, where an idle core hashes ~1.2 GB/s

export interface BackgroundHash {
  /** Settles with the background hash. */
  digest: Promise<FileDigest>;
  /**
   * The run is over and the digest is wanted now: the background one, unless its niced thread is starved (other
   * work keeps every core busy, where nice 19 gets ~1.5% of one). Then a hash at normal priority starts here, and
   * the first of the two to finish is taken; the other is stopped.
   */
  finish(): Promise<FileDigest>;
}

/** Hashes a file while other work runs (an input, while FFmpeg reads it). `size`: what a stat said it was. */
export function hashInBackground(
  path: string | Buffer,
  size: number,
  opts: { starvedBytes?: number; watchMs?: number; onFallback?: () => void } = {},
): BackgroundHash {
  if (size < WORKER_MIN_BYTES) {
    const digest = hashFile(path, { background: true });
    return { digest, finish: () => digest };
  }
  const progress = new BigInt64Array(new SharedArrayBuffer(8));
  let settled = false;
  let worker: Worker | undefined;
  const digest = import('node:worker_threads').then(
    ({ Worker }) =>
      new Promise<FileDigest>((resolve, reject) => {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, block: SLICE_BLOCK, progress } });
        worker = w;
        w.once('message', (m: FileDigest | { error: string }) => {
          if ('error' in m) reject(new FfauditError('IO', `cannot read ${path.toString()}: ${m.error}`));
          else resolve(m);
          void w.terminate();
        });
        w.once('error', (e) => reject(new FfauditError('IO', `cannot hash ${path.toString()}: ${e.message}`)));
      }),
  );
  digest.then(
    () => (settled = true),
    () => (settled = true),
  );
  const starved = opts.starvedBytes ?? STARVED_BYTES;
  const finish = (): Promise<FileDigest> => {
    if (settled) return digest;
    return new Promise<FileDigest>((resolve, reject) => {
      const abort = new AbortController();
      let fallback = false;
      let last = Atomics.load(progress, 0);
      const watch = setInterval(() => {
        const now = Atomics.load(progress, 0);
        if (now - last < BigInt(starved)) {
          clearInterval(watch);
          fallback = true;
          opts.onFallback?.();
          hashFile(path, { signal: abort.signal }).then(
            (d) => {
              void worker?.terminate();
              resolve(d);
            },
            (e: Error) => {
              if (!abort.signal.aborted) reject(e);
            },
          );
        }
        last = now;
      }, opts.watchMs ?? WATCH_MS);
      digest.then(
        (d) => {
          clearInterval(watch);
          abort.abort();
          resolve(d);
        },
        (e: Error) => {
          clearInterval(watch);
          if (!fallback) reject(e); // otherwise the hash here decides
        },
      );
    });
  };
  return { digest, finish };
}

/**
 * Hashes a file's content as it is now (never a value cached on metadata). `path` may be a raw-byte Buffer.
 * `background`: in slices, letting other work run (see above). `signal`: stops it (rejects).
 */
export async function hashFile(path: string | Buffer, opts: { background?: boolean; signal?: AbortSignal } = {}): Promise<FileDigest> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FfauditError('IO', `cannot read ${path.toString()}: ${code ?? String(e)}`);
  }
  const h = createHash('sha256');
  let size: number;
  try {
    size = await (opts.background ? inSlices(fh, h) : pipelined(fh, h, opts.signal));
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
