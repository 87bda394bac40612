/**
 * Files written into folders that someone else may also write to (the folder given to `report -o`, a shared
 * directory): nothing is ever written through a name another user could have prepared. A new file is opened with
 * O_CREAT|O_EXCL|O_NOFOLLOW, which fails on anything already at the name, a symbolic link included (open(2): with
 * O_EXCL "symbolic links are not followed"); a replaced file is written under an unpredictable temporary name
 * (crypto random bytes) and renamed over the target, and rename(2) replaces the name itself, never what a
 * symbolic link there points to.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FfauditError } from '../core/errors.js';

const EXCLUSIVE = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

/** Creates `path` for writing; fails (EEXIST) when anything, a dangling symbolic link included, is there. */
export function openExclusive(path: string, mode = 0o600): number {
  return openSync(path, EXCLUSIVE, mode);
}

/** Writes all of `data` at the file's current offset (writeSync may write less than it is given). */
function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * Writes `data` to a new file at `path` (openExclusive: never through anything already there), flushed to disk.
 * On failure the partial file is removed.
 */
export function writeNewFile(path: string, data: string | Uint8Array, mode = 0o600): void {
  const fd = openExclusive(path, mode);
  try {
    writeAll(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw e;
  }
  closeSync(fd);
}

let umaskCache: number | undefined;

/**
 * The process's file mode creation mask, read without changing it (process.umask() with no argument sets it
 * twice, racing with other threads). Where it cannot be read, the strictest mask is assumed.
 */
function currentUmask(): number {
  if (umaskCache === undefined) {
    umaskCache = 0o077;
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m) umaskCache = parseInt(m[1]!, 8);
    } catch {
      // not Linux: keep the strict mask
    }
  }
  return umaskCache;
}

/** Makes a directory entry durable (fsync of the directory): best effort, some file systems refuse it. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // a rename that is not yet durable is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface AtomicFile {
  write(data: string | Uint8Array): void;
  /** Gives the file its mode, flushes it to disk and renames it over the target. */
  commit(): void;
  /** Removes the temporary file; the target is left as it was. */
  abort(): void;
}

/**
 * An unpredictable name beside `path` for the file that will replace it: `.NAME.RANDOM.tmp`, the name cut so that
 * it stays within NAME_MAX however long the target's is.
 */
export function temporaryNameFor(path: string): string {
  const target = resolve(path);
  return join(dirname(target), `.${basename(target).slice(0, 64)}.${randomBytes(16).toString('hex')}.tmp`);
}

/**
 * Completes a file written at `temp` (opened with openExclusive, mode 0600): gives it `mode` less the umask,
 * flushes it to disk, closes it and renames it over `path`.
 */
export function commitTemporary(fd: number, temp: string, path: string, mode: number): void {
  try {
    fchmodSync(fd, mode & ~currentUmask());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const target = resolve(path);
  renameSync(temp, target);
  syncDir(dirname(target));
}

/**
 * A file that appears under `path` complete or not at all. It is written under temporaryNameFor(path), created
 * exclusively with mode 0600 until it is complete, and renamed into place by commit.
 */
export function atomicFile(path: string, mode = 0o644): AtomicFile {
  const temp = temporaryNameFor(path);
  let fd: number | undefined = openExclusive(temp, 0o600);
  return {
    write(data) {
      if (fd === undefined) throw new Error('write after commit or abort');
      writeAll(fd, data);
    },
    commit() {
      if (fd === undefined) throw new Error('commit after commit or abort');
      const f = fd;
      fd = undefined;
      commitTemporary(f, temp, path, mode);
    },
    abort() {
      try {
        if (fd !== undefined) closeSync(fd);
      } finally {
        fd = undefined;
        rmSync(temp, { force: true });
      }
    },
  };
}

/** Writes `data` to `path` through atomicFile. */
export function writeFileAtomically(path: string, data: string | Uint8Array, mode = 0o644): void {
  const f = atomicFile(path, mode);
  try {
    f.write(data);
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

/**
 * A file of the ledger's folder as text, undefined when absent. Opened without blocking and read only when it is a
 * regular file: a FIFO planted at the name by someone who can write the folder would otherwise make every reader,
 * every audited run included, wait for ever. With `noFollow`, a symbolic link at the name is refused too
 * (O_NOFOLLOW).
 */
export function readRegularFile(path: string, noFollow = false): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' && noFollow) throw new FfauditError('USAGE', `refusing ${path}: it is a symbolic link, where the ledger keeps a file of its own`);
    throw new FfauditError('IO', `cannot read ${path}: ${code ?? String(e)}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new FfauditError('USAGE', `refusing ${path}: it is not a regular file`);
    return readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  } finally {
    closeSync(fd);
  }
}
