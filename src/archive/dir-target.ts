/**
 * An archive in a directory. Every file is written once: its bytes go to a private temporary file, which is
 * fsync'ed, made read-only and then hard-linked into place; link(2) fails when the name exists, so no file is
 * ever replaced, and a write killed half-way leaves no partial file under its real name. The latest
 * `checkpoint` is a symbolic link to `checkpoints/<size>`, swapped atomically by rename(2): the link changes,
 * no file is rewritten. Where the privileges allow (CAP_LINUX_IMMUTABLE and a file system that supports it),
 * written files are also made immutable with chattr +i.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { FfauditError } from '../core/errors.js';
import { writeNewFile } from '../ledger/safe-files.js';
import { CHECKPOINT, checkpointHistoryPath } from './layout.js';
import type { Retention } from './retention.js';
import type { ArchiveTarget, LockStatus, StoredObject } from './target.js';

const INCOMING = '.incoming';
const CHATTR_BATCH = 500;
const STALE_INCOMING_MS = 10 * 60_000;

function ioError(what: string, e: unknown): FfauditError {
  return new FfauditError('ARCHIVE', `${what}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
}

/** Object names are relative paths of plain elements: nothing may escape the archive directory. */
function checkName(name: string): void {
  if (name === '' || name.startsWith('/') || name.split('/').some((p) => p === '' || p === '.' || p === '..' || p === INCOMING)) {
    throw new FfauditError('INTERNAL', `bad archive object name ${JSON.stringify(name)}`);
  }
}

export class DirTarget implements ArchiveTarget {
  readonly location: string;
  readonly parallelListing = false;
  readonly exclusiveCreate = true;
  private readonly dir: string;
  private readonly written: string[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.location = dir;
  }

  static open(dir: string, create: boolean): DirTarget {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read ${dir}`, e);
      if (!create) throw new FfauditError('ARCHIVE', `no archive at ${dir}`);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        isDir = true;
      } catch (e2) {
        throw ioError(`cannot create ${dir}`, e2);
      }
    }
    if (!isDir) throw new FfauditError('ARCHIVE', `${dir} is not a directory`);
    return new DirTarget(dir);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const top = prefix.includes('/') ? prefix.slice(0, prefix.indexOf('/')) : '';
    const walk = (rel: string): void => {
      let ents;
      try {
        ents = readdirSync(join(this.dir, rel), { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw ioError(`cannot list ${join(this.dir, rel)}`, e);
      }
      for (const ent of ents) {
        if (rel === '' && ent.name === INCOMING) continue;
        const name = rel === '' ? ent.name : `${rel}/${ent.name}`;
        if (ent.isDirectory()) {
          if (name.startsWith(prefix) || prefix.startsWith(`${name}/`)) walk(name);
        } else if (name.startsWith(prefix)) out.push(name);
      }
    };
    walk(top);
    return out;
  }

  async listRange(prefix: string, after: string, through: string): Promise<string[]> {
    return (await this.list(prefix)).filter((n) => n > after && n <= through);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async has(name: string): Promise<boolean> {
    checkName(name);
    try {
      lstatSync(join(this.dir, ...name.split('/')));
      return true;
    } catch {
      return false;
    }
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async get(name: string): Promise<StoredObject | undefined> {
    checkName(name);
    const path = join(this.dir, ...name.split('/'));
    let data: Buffer;
    try {
      // Untrusted: a link (the latest checkpoint is one) must not lead out of the archive.
      const real = realpathSync(path);
      if (!real.startsWith(`${realpathSync(this.dir)}${sep}`)) throw new FfauditError('ARCHIVE', `${path} leads outside the archive`);
      data = readFileSync(real);
    } catch (e) {
      if (e instanceof FfauditError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError(`cannot read ${path}`, e);
    }
    return { data, lock: this.lockOf(path) };
  }

  private lockOf(path: string): LockStatus {
    const st = statSync(path);
    const writable = (st.mode & 0o222) !== 0;
    return writable ? { locked: false, detail: `the file is writable (mode ${(st.mode & 0o777).toString(8)})` } : { locked: true, detail: 'read-only' };
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async prepare(): Promise<void> {
    const incoming = join(this.dir, INCOMING);
    try {
      mkdirSync(incoming, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw ioError(`cannot write into ${this.dir}`, e);
    }
    // Temporary files left by a run killed half-way never reached their real names: remove the old ones.
    for (const name of readdirSync(incoming)) {
      try {
        const path = join(incoming, name);
        if (Date.now() - lstatSync(path).mtimeMs > STALE_INCOMING_MS) unlinkSync(path);
      } catch {
        // gone already
      }
    }
  }

  /** Writes bytes to a new private file, fsync'ed and read-only; returns its path. */
  private stage(data: Buffer): string {
    const tmp = join(this.dir, INCOMING, randomBytes(12).toString('hex'));
    try {
      writeNewFile(tmp, data, 0o444);
    } catch (e) {
      throw ioError(`cannot write into ${this.dir}`, e);
    }
    return tmp;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async put(name: string, data: Buffer, _retention: Retention): Promise<boolean> {
    checkName(name);
    const path = join(this.dir, ...name.split('/'));
    const tmp = this.stage(data);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      linkSync(tmp, path); // fails with EEXIST: never replaces a file
      this.written.push(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot write ${path}`, e);
      // There already (an earlier run stopped half-way, or another writer): only identical bytes are acceptable.
      if (!readFileSync(path).equals(data)) throw new FfauditError('ARCHIVE', `${path} already exists with other content`);
      return false;
    } finally {
      unlinkSync(tmp);
    }
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async publishCheckpoint(data: Buffer, size: number, _retention: Retention): Promise<void> {
    const history = join(this.dir, ...checkpointHistoryPath(size).split('/'));
    if (!readFileSync(history).equals(data)) throw new FfauditError('ARCHIVE', `${history} does not hold the checkpoint being published`);
    const link = join(this.dir, INCOMING, `${randomBytes(12).toString('hex')}.link`);
    try {
      symlinkSync(checkpointHistoryPath(size).split('/').join(sep), link);
      renameSync(link, join(this.dir, CHECKPOINT));
      const fd = openSync(this.dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw ioError(`cannot publish ${join(this.dir, CHECKPOINT)}`, e);
    }
  }

  /** Makes the files written in this run immutable where possible; says what was done. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async finish(): Promise<string | undefined> {
    if (this.written.length === 0) return undefined;
    const files = this.written.splice(0);
    for (let i = 0; i < files.length; i += CHATTR_BATCH) {
      const r = spawnSync('chattr', ['+i', '--', ...files.slice(i, i + CHATTR_BATCH)], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.error || r.status !== 0) {
        const why = r.error ? (r.error as NodeJS.ErrnoException).code ?? r.error.message : (r.stderr.trim().split('\n')[0] ?? `exit ${r.status}`);
        return `files are read-only; they could not be made immutable (chattr +i: ${why})`;
      }
    }
    return `files are read-only and immutable (chattr +i)`;
  }

  close(): void {
    // Nothing held open.
  }

  /** For tests and verification: whether the latest checkpoint is a link into the history. */
  checkpointIsLink(): boolean {
    try {
      return lstatSync(join(this.dir, CHECKPOINT)).isSymbolicLink();
    } catch {
      return false;
    }
  }
}
