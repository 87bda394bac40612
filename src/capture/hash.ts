/**
 * SHA-256 of files and streams, two ways:
 * - in the foreground (nothing else to do, both cores free: a file FFmpeg has just written), blocks are read into
 *   two reused buffers, the next block being read (libuv thread pool) while the current one is hashed
 *   (node:crypto, i.e. OpenSSL), so the slower of the two sets the pace; regular files up to SYNC_MAX are simply
 *   read and hashed on this thread;
 * - in the background (an input, while FFmpeg runs and wants the CPU), small blocks are read and hashed on one
 *   thread. A block the size of a core's L2 cache is copied by the kernel and hashed while it is still there, which
 *   takes less CPU than big blocks read on another thread (the copy leaves the data in the other core's cache;
 *   BENCHMARKS.md has the figures). Small files are hashed here, a few milliseconds at a time between turns of the
 *   event loop; large ones in a worker thread at low priority (hashInBackground).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Worker as WorkerThread } from 'node:worker_threads';
import { FfauditError } from '../core/errors.js';

/**
 * Foreground block size. Small enough that the two buffers cost little to fault in: a file's hash allocates them
 * afresh, and the page faults of buffers of several MiB cost as much as hashing a small output. Blocks this size
 * hash a large file as fast as far larger ones (BENCHMARKS.md, "Figures behind design choices").
 */
export const READ_BLOCK = 256 << 10;
/** Background hashing: the block size, and how long it holds the event loop before letting pipes and signals in. */
export const SLICE_BLOCK = 128 << 10;
const SLICE_MS = 4;

export interface FileDigest {
  size: number;
  sha256: string;
}

// require, not import(): the bundled capture path runs from V8's code cache, without a dynamic-import loader.
const requireBuiltin = createRequire(import.meta.url);
let fsPromises: typeof FsPromises | undefined;
/**
 * Loads node:fs/promises, which file hashing reads through. Not with this module: loading it takes time a run's
 * start, before FFmpeg, should not spend, and the start does not need it (a run calls this while FFmpeg runs).
 */
export function loadHashing(): typeof FsPromises {
  return (fsPromises ??= requireBuiltin('node:fs/promises') as typeof FsPromises);
}
const open = (path: string | Buffer, flags: string): Promise<FsPromises.FileHandle> => loadHashing().open(path, flags);

const ioError = (path: string | Buffer, e: unknown) =>
  e instanceof FfauditError ? e : new FfauditError('IO', `cannot read ${path.toString()}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);

/** Fills `buf` from `position` (or from the file offset when null) as far as the file goes. */
async function readInto(fh: FsPromises.FileHandle, buf: Buffer, position: number | null): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, position === null ? null : position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Hashes from byte 0 with positioned reads (the handle may be shared), or from the file offset (`positioned` false). */
async function pipelined(fh: FsPromises.FileHandle, h: Hash, positioned: boolean, signal?: AbortSignal): Promise<number> {
  let size = 0;
  let filled = Buffer.allocUnsafe(READ_BLOCK);
  let spare = Buffer.allocUnsafe(READ_BLOCK);
  let pending = readInto(fh, filled, positioned ? 0 : null);
  for (;;) {
    const n = await pending;
    signal?.throwIfAborted();
    if (n === 0) return size;
    // A short read means end of file; otherwise start the next read before hashing this block.
    pending = n < READ_BLOCK ? Promise.resolve(0) : readInto(fh, spare, positioned ? size + n : null);
    h.update(n === READ_BLOCK ? filled : filled.subarray(0, n));
    size += n;
    [filled, spare] = [spare, filled];
  }
}

async function inSlices(fh: FsPromises.FileHandle, h: Hash): Promise<number> {
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
 * Regular files up to this size are hashed in the foreground with synchronous reads: for them the thread pool's
 * round trips (and, on a run's first use of it, starting its threads) cost more than the reads (BENCHMARKS.md).
 */
export const SYNC_MAX = 8 << 20;

/** The digest of a small regular file, read synchronously; undefined when the file is larger or not regular. */
function hashSmallFile(path: string | Buffer): FileDigest | undefined {
  // Anything but a small regular file is left to the asynchronous path, unopened: opening a FIFO here would block
  // this thread until a writer came, or (non-blocking) release a waiting writer only to close on it. So is a name
  // that cannot be stat'ed: that path reports the error as every other read failure is reported.
  let before;
  try {
    before = statSync(path);
  } catch {
    return undefined;
  }
  if (!before.isFile() || before.size > SYNC_MAX) return undefined;
  let fd: number;
  try {
    // O_NONBLOCK: should the name be swapped for a FIFO since the stat, the open still does not wait.
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    throw ioError(path, e);
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(READ_BLOCK);
    let size = 0;
    for (let n; (n = readSync(fd, buf, 0, READ_BLOCK, null)) > 0; size += n) h.update(n === READ_BLOCK ? buf : buf.subarray(0, n));
    return { size, sha256: h.digest('hex') };
  } catch (e) {
    throw ioError(path, e);
  } finally {
    closeSync(fd);
  }
}

/**
 * Hashes a file's content as it is now (never a value cached on metadata). `path` may be a raw-byte Buffer.
 * `background`: in slices, letting other work run (see above).
 */
export async function hashFile(path: string | Buffer, opts: { background?: boolean } = {}): Promise<FileDigest> {
  if (!opts.background) {
    const small = hashSmallFile(path);
    if (small) return small;
  }
  let fh: FsPromises.FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(path, e);
  }
  const h = createHash('sha256');
  let size: number;
  try {
    size = await (opts.background ? inSlices(fh, h) : pipelined(fh, h, false));
  } catch (e) {
    throw ioError(path, e);
  } finally {
    await fh.close();
  }
  return { size, sha256: h.digest('hex') };
}

/**
 * A large file hashed in the background goes to a worker thread that lowers its own scheduling priority (nice 19,
 * which on Linux applies to the calling thread only): it then takes only the CPU that FFmpeg leaves idle instead of
 * slowing FFmpeg's own threads, and needs no slicing. Starting the thread costs more than hashing a small file, so small files stay here.
 * It reads the file through a descriptor opened here when the hash starts, with positioned reads, so that a hash
 * at normal priority can share it (see finish): both hash the very file FFmpeg was given, even if its name is
 * moved or replaced before the end of the run. It publishes the bytes hashed so far and the best rate it has
 * reached, in shared memory.
 */
export const WORKER_MIN_BYTES = 64 << 20;
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
try { require('node:os').setPriority(19); } catch {}
const { fd, block, shared, stall } = workerData;
if (stall) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // tests: a worker that never gets the CPU
try {
  const buf = Buffer.allocUnsafe(block), h = createHash('sha256');
  let size = 0, n, mark = size, t = performance.now();
  while ((n = readSync(fd, buf, 0, block, size)) > 0) {
    h.update(n === block ? buf : buf.subarray(0, n));
    size += n;
    Atomics.store(shared, 0, BigInt(size));
    if (size - mark >= 8 << 20) {
      const now = performance.now(), rate = BigInt(Math.floor(((size - mark) * 1000) / Math.max(now - t, 0.001)));
      if (rate > Atomics.load(shared, 1)) Atomics.store(shared, 1, rate);
      mark = size;
      t = now;
    }
  }
  parentPort.postMessage({ size, sha256: h.digest('hex') });
} catch (e) {
  parentPort.postMessage({ error: (e && e.code) || String(e) });
}`;

/** How often the end of a run looks at a background hash, and the least rate an idle core hashes at (bytes/s). */
const WATCH_MS = 100;
const FLOOR_RATE = 160 << 20;

export interface BackgroundHash {
  /** Settles with the background hash alone. */
  digest: Promise<FileDigest>;
  /**
   * The run is over and the digest is wanted now: the background one, unless its niced thread is starved (other
   * work keeps every core busy, where a nice 19 thread gets a small share of one): for two windows of 100 ms running it hashes at
   * under a quarter of the better of its own best rate and 160 MiB/s, and at that rate would finish later than a
   * new hash at that rate; or it failed. Then a hash at normal
   * priority starts here, on the same descriptor; the first of the two to succeed is taken and the other stopped.
   * A worker limited by its disk or network, not by the CPU, keeps its rate and is left alone.
   */
  finish(): Promise<FileDigest>;
  /** Stops whatever still runs (a run that ends without recording) and closes the file. */
  cancel(): void;
}

export interface BackgroundHashTesting {
  /** The worker never starts hashing. */
  stallWorker?: boolean;
  /** Told when the file is open (from then on its name may go). */
  onOpen?: () => void;
  /** Told who produced the digest finish() returned. */
  onOutcome?: (winner: 'worker' | 'fallback') => void;
}

/** Hashes a file while other work runs (an input, while FFmpeg reads it). `size`: what a stat said it was. */
export function hashInBackground(path: string | Buffer, size: number, testing: BackgroundHashTesting = {}): BackgroundHash {
  if (size < WORKER_MIN_BYTES) {
    const digest = hashFile(path, { background: true });
    return { digest, finish: () => digest, cancel: () => undefined };
  }
  const shared = new BigInt64Array(new SharedArrayBuffer(16)); // [bytes hashed, best rate in bytes per second]
  const fallbackAbort = new AbortController();
  let worker: WorkerThread | undefined;
  let cancelled = false;
  const opened = open(path, 'r').then(
    (fh) => {
      testing.onOpen?.();
      return fh;
    },
    (e: unknown) => {
      throw ioError(path, e);
    },
  );
  const digest = opened.then(async (fh) => {
    const { Worker } = requireBuiltin('node:worker_threads') as { Worker: typeof WorkerThread };
    if (cancelled) throw new FfauditError('IO', `hashing ${path.toString()} was cancelled`);
    return new Promise<FileDigest>((resolve, reject) => {
      const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { fd: fh.fd, block: SLICE_BLOCK, shared, stall: testing.stallWorker === true } });
      worker = w;
      w.once('message', (m: FileDigest | { error: string }) => {
        if ('error' in m) reject(new FfauditError('IO', `cannot read ${path.toString()}: ${m.error}`));
        else resolve(m);
        void w.terminate();
      });
      w.once('error', (e) => reject(new FfauditError('IO', `cannot hash ${path.toString()}: ${e.message}`)));
      w.once('exit', () => reject(new FfauditError('IO', `hashing ${path.toString()} was stopped`))); // no-op once settled
    });
  });
  let workerDone = false;
  const workerSettled = digest.then(
    () => undefined,
    () => undefined,
  );
  void workerSettled.then(() => (workerDone = true));

  let fallback: Promise<FileDigest> | undefined;
  let closing = false;
  // The descriptor is closed once neither side can read it any more.
  const closeWhenIdle = () => {
    if (closing) return;
    closing = true;
    void Promise.all([workerSettled, fallback?.catch(() => undefined)]).then(() => opened.then((fh) => fh.close()).catch(() => undefined));
  };
  const stopWorker = () => {
    if (!workerDone) void worker?.terminate();
  };

  let finishing: Promise<FileDigest> | undefined;
  let stopWatch = (): void => undefined;
  const race = (): Promise<FileDigest> =>
    new Promise<FileDigest>((resolve, reject) => {
      let settled = false;
      const failures: unknown[] = [];
      const win = (d: FileDigest, who: 'worker' | 'fallback') => {
        if (settled) return;
        settled = true;
        stopWatch();
        if (who === 'worker') fallbackAbort.abort();
        else stopWorker();
        testing.onOutcome?.(who);
        closeWhenIdle();
        resolve(d);
      };
      // One side failing is final only when the other cannot succeed any more.
      const lose = (e: unknown) => {
        failures.push(e);
        if (settled || failures.length < (fallback ? 2 : 1)) return;
        settled = true;
        stopWatch();
        closeWhenIdle();
        reject(failures[0] instanceof Error ? failures[0] : new FfauditError('IO', String(failures[0])));
      };
      const startFallback = () => {
        if (fallback || cancelled) return;
        stopWatch();
        fallback = opened.then(async (fh) => {
          const h = createHash('sha256');
          const n = await pipelined(fh, h, true, fallbackAbort.signal);
          return { size: n, sha256: h.digest('hex') };
        });
        fallback.then(
          (d) => win(d, 'fallback'),
          (e: unknown) => lose(fallbackAbort.signal.aborted ? new FfauditError('IO', 'superseded') : ioError(path, e)),
        );
      };
      let last = Atomics.load(shared, 0);
      let lastAt = performance.now();
      let slowWindows = 0;
      const watch = setInterval(() => {
        const now = performance.now();
        const done = Atomics.load(shared, 0);
        const rate = (Number(done - last) * 1000) / Math.max(now - lastAt, 1);
        last = done;
        lastAt = now;
        // Against the better of its own best rate and what an idle core manages at the least: a worker starved
        // from the start never had a best rate worth the name.
        const ref = Math.max(Number(Atomics.load(shared, 1)), FLOOR_RATE);
        const slow = rate < ref / 4 && (size - Number(done)) / Math.max(rate, 1) > size / ref;
        // Two windows running: one slow window may be the thread still starting, or a pause.
        slowWindows = slow ? slowWindows + 1 : 0;
        if (slowWindows >= 2) startFallback();
      }, WATCH_MS);
      stopWatch = () => clearInterval(watch);
      digest.then(
        (d) => win(d, 'worker'),
        (e: unknown) => {
          startFallback(); // a worker that failed (start-up, memory) leaves the hash to this thread
          lose(e);
        },
      );
    });

  return {
    digest,
    finish: () => (finishing ??= cancelled ? Promise.reject(new FfauditError('IO', `hashing ${path.toString()} was cancelled`)) : race()),
    cancel() {
      cancelled = true;
      stopWatch();
      fallbackAbort.abort();
      stopWorker();
      closeWhenIdle();
    },
  };
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
