/**
 * Making a ledger's folder so that it appears complete or not at all, in a place nobody else controls.
 *
 * A new folder is built under a private temporary name beside its final one (mkdtemp: mode 0700, a random name)
 * and renamed into place: rename(2) is atomic, and fails rather than replace a folder that is not empty, so a
 * process killed half-way leaves at most a stray temporary folder, never keys without a database at the ledger's
 * path. A folder that already exists (made by an administrator, or a mount point) is filled from a temporary
 * folder inside it, each file hard-linked into place: link(2) never replaces a file and never follows a symbolic
 * link planted at the name. The database goes in last but for `vkey`, so keys without a database and without a
 * `vkey` are always the remains of an interrupted init (of this version or an older one, which wrote in place):
 * nothing was ever signed with those keys, and a later init, or the first use of the per-user default ledger,
 * finishes the folder with them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FfauditError } from '../core/errors.js';
import { formatSignerKey, formatVerifierKey, isValidKeyName, parseSignerKey, type Signer } from '../core/note.js';
import { SCHEMA_VERSION, SqliteStore } from '../store/sqlite.js';
import { checkLedgerDir, checkLink, checkParentDir, ownerText } from './dir-trust.js';
import { createKeyFile, loadKeyFile } from './keys.js';
import { CONFIG_FILE, DB_FILE, KEY_FILE, REDACTION_KEY_FILE, VKEY_FILE } from './location.js';
import { readRegularFile, syncDir, writeNewFile } from './safe-files.js';

export interface Made {
  dir: string;
  signer: Signer & { publicKey: Buffer };
  config: { key?: string; [k: string]: unknown };
  keyPath: string;
  /** True when an interrupted init's folder was finished rather than a new one made. */
  finished: boolean;
}

/** What is at a ledger's path. */
export type LedgerState =
  | { kind: 'ready' }
  | { kind: 'absent' }
  /** keys without a database or vkey: an init was interrupted */
  | { kind: 'interrupted' }
  /** a vkey but no database: the database was removed */
  | { kind: 'lost-database' };

const LEFTOVER = /^(?:\.init-(\d+)-.+|ledger\.db\.new-(\d+)-[0-9a-f]+(?:-wal|-shm|-journal)?)$/;
const PIECES = new Set([KEY_FILE, REDACTION_KEY_FILE, CONFIG_FILE]);

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** A permission failure as users need it: which path, who owns it. */
export function permissionDenied(path: string, what: string): FfauditError {
  let owner = '';
  try {
    owner = ` (${ownerText(statSync(path))})`;
  } catch {
    // not even that can be seen
  }
  return new FfauditError('IO', `permission denied: cannot ${what} ${path}${owner}`);
}

/**
 * The state of DIR. Only a database that is there counts as a ledger; permission failures are reported as such,
 * never as a missing ledger (which would invite an init over one that is merely unreadable).
 */
export function ledgerState(dir: string): LedgerState {
  try {
    statSync(join(dir, DB_FILE));
    return { kind: 'ready' };
  } catch (e) {
    const code = errno(e);
    if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(dir, 'read the ledger at');
    if (code === 'ENOTDIR') throw new FfauditError('USAGE', `${dir} is not a folder`);
    if (code !== 'ENOENT') throw new FfauditError('IO', `cannot read the ledger at ${dir}: ${code ?? String(e)}`);
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT') return { kind: 'absent' };
    if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(dir, 'read the ledger at');
    throw new FfauditError('IO', `cannot read the ledger at ${dir}: ${code ?? String(e)}`);
  }
  if (names.includes(VKEY_FILE)) return { kind: 'lost-database' };
  return names.some((n) => PIECES.has(n)) ? { kind: 'interrupted' } : { kind: 'absent' };
}

export function interruptedMessage(dir: string): string {
  return `${dir} was left half-made by an interrupted ffaudit init (keys but no database); finish it with: ffaudit init --ledger ${dir}`;
}

export function lostDatabaseMessage(dir: string): string {
  return `the ledger at ${dir} has lost its database: ${DB_FILE} is missing but its keys and vkey are there; restore ${DB_FILE} from a copy (a new database would start another log under the same key)`;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    if (errno(e) === 'EACCES') throw permissionDenied(dirname(path), 'look into');
    throw new FfauditError('IO', `cannot read ${path}: ${errno(e) ?? String(e)}`);
  }
}

/**
 * Where the ledger's folder really is, after checking that nobody else controls it: a symbolic link must be this
 * user's (or root's) and lead to a folder this user owns; the folder must be writable by its owner only, and its
 * parent must not let others replace it. Creates missing parents (mode 0700).
 */
function placeFor(path: string): { dir: string; exists: boolean } {
  let dir = resolve(path);
  let st = lstatOrUndefined(dir);
  if (st?.isSymbolicLink()) {
    checkLink(dir, st);
    try {
      dir = realpathSync(dir);
    } catch (e) {
      throw new FfauditError('USAGE', `refusing ${path}: it is a symbolic link to ${errno(e) === 'ENOENT' ? 'a folder that does not exist' : `something that cannot be read (${errno(e)})`}`);
    }
    st = statSync(dir);
  }
  if (st && !st.isDirectory()) throw new FfauditError('USAGE', `${dir} exists and is not a folder`);
  const parent = dirname(dir);
  if (!st) {
    try {
      mkdirSync(parent, { recursive: true, mode: 0o700 });
    } catch (e) {
      if (errno(e) === 'EACCES') throw permissionDenied(dirname(parent), 'create a folder in');
      throw new FfauditError('IO', `cannot create ${parent}: ${why(e)}`);
    }
  }
  const realParent = realpathSync(parent);
  checkParentDir(realParent, statSync(realParent));
  dir = join(realParent, basename(dir));
  if (st) checkLedgerDir(dir, st);
  return { dir, exists: st !== undefined };
}

/** Writes a new file exclusively and durably. */
const readIfThere = (path: string): string | undefined => readRegularFile(path, true);

/** Whether process `pid` is gone (so that its temporary files are leftovers). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return errno(e) === 'ESRCH';
  }
}

/** Removes what interrupted inits left in `dir` (temporary folders and databases of processes that are gone). */
function removeLeftovers(dir: string, pattern: RegExp): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = pattern.exec(n);
    const pid = m ? Number(m[1] ?? m[2]) : NaN;
    if (m && pid !== process.pid && isGone(pid)) rmSync(join(dir, n), { recursive: true, force: true });
  }
}

export interface CreateOptions {
  origin?: string | undefined;
  keyPath?: string | undefined;
  /** The origin when none is given and no existing key names one. */
  defaultOrigin: () => string;
}

/**
 * Creates the ledger's files at DIR (see the module comment), or finishes an interrupted init's folder there.
 * Refuses an existing ledger (LEDGER_EXISTS) and a folder that lost its database.
 */
export function createLedgerFiles(path: string, opts: CreateOptions): Made {
  try {
    return createLedger(path, opts);
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot create the ledger at ${resolve(path)}: ${why(e)}`, { cause: e });
  }
}

/** A file system failure in words. */
function why(e: unknown): string {
  const code = errno(e);
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'the disk is full';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'the file system is read-only';
  return code ?? String(e);
}

function createLedger(path: string, opts: CreateOptions): Made {
  if (opts.origin !== undefined && !isValidKeyName(opts.origin)) {
    throw new FfauditError('USAGE', `origin ${JSON.stringify(opts.origin)} must be non-empty, without spaces or '+'`);
  }
  const place = placeFor(path);
  const dir = place.dir;
  if (place.exists) {
    const state = ledgerState(dir);
    if (state.kind === 'ready') throw new FfauditError('LEDGER_EXISTS', `a ledger already exists at ${dir}`);
    if (state.kind === 'lost-database') throw new FfauditError('STORE', lostDatabaseMessage(dir));
    return fill(dir, opts, true, state.kind === 'interrupted');
  }
  const parent = dirname(dir);
  let stage: string;
  try {
    stage = mkdtempSync(join(parent, `.${basename(dir).slice(0, 64)}.init-${process.pid}-`));
  } catch (e) {
    const code = errno(e);
    // A parent this user may not write to: the folder can only be filled if someone who may has made it.
    if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(parent, 'create a ledger in');
    throw new FfauditError('IO', `cannot create a ledger in ${parent}: ${why(e)}`);
  }
  try {
    const made = fill(stage, opts, false, false);
    try {
      renameSync(stage, dir);
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new FfauditError('LEDGER_EXISTS', `a ledger already exists at ${dir}`);
      throw new FfauditError('IO', `cannot create ${dir}: ${why(e)}`);
    }
    syncDir(parent);
    removeLeftovers(parent, new RegExp(`^\\.${basename(dir).slice(0, 64).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.init-(\\d+)-.+$`));
    return { ...made, dir, keyPath: made.keyPath === join(stage, KEY_FILE) ? join(dir, KEY_FILE) : made.keyPath };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * Makes the ledger's files in `target`. In place (`inPlace`), they are written in a temporary folder inside
 * it and linked in one by one, the database and then vkey last; pieces an interrupted init left are used.
 */
function fill(target: string, opts: CreateOptions, inPlace: boolean, interrupted: boolean): Made {
  const stage = inPlace ? mkdtempSync(join(target, `.init-${process.pid}-`)) : target;
  try {
    /** Puts a file written in the stage into place; false when something is already there. */
    const place = (name: string): boolean => {
      if (!inPlace) return true;
      try {
        linkSync(join(stage, name), join(target, name));
        return true;
      } catch (e) {
        if (errno(e) === 'EEXIST') return false;
        throw new FfauditError('IO', `cannot create ${join(target, name)}: ${why(e)}`);
      }
    };
    /** An interrupted init's empty file (killed between creating and writing it) is as good as none. */
    const existing = (name: string): string | undefined => {
      const text = inPlace ? readIfThere(join(target, name)) : undefined;
      if (text === '' && interrupted) {
        unlinkSync(join(target, name));
        return undefined;
      }
      return text;
    };

    let config: Made['config'] = {};
    const configText = existing(CONFIG_FILE);
    if (configText !== undefined) {
      try {
        const parsed: unknown = JSON.parse(configText);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) config = parsed as Made['config'];
      } catch {
        // kept as it is: a damaged config only loses settings
      }
    }
    const externalKey = opts.keyPath !== undefined ? resolve(opts.keyPath) : typeof config.key === 'string' ? config.key : undefined;
    if (configText === undefined) {
      config = opts.keyPath !== undefined ? { key: resolve(opts.keyPath) } : {};
      writeNewFile(join(stage, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`, 0o644);
      place(CONFIG_FILE);
    }

    let signer: Signer & { publicKey: Buffer };
    let keyPath: string;
    if (externalKey !== undefined) {
      keyPath = externalKey;
      // A signer kept apart from the data may be made beforehand (and reached through a link the user made).
      signer = existsSync(keyPath) ? loadKeyFile(keyPath) : createKeyFile(keyPath, opts.origin ?? opts.defaultOrigin());
    } else {
      keyPath = join(target, KEY_FILE);
      const text = existing(KEY_FILE);
      if (text !== undefined) signer = parseKeyOf(keyPath, text);
      else {
        const fresh = `${formatSignerKey(opts.origin ?? opts.defaultOrigin(), randomBytes(32))}\n`;
        writeNewFile(join(stage, KEY_FILE), fresh, 0o600);
        // Another process finishing the same folder may have put its key there first: then that one is used.
        signer = place(KEY_FILE) ? parseSignerKey(fresh) : parseKeyOf(keyPath, readIfThere(keyPath) ?? '');
      }
    }
    if (opts.origin !== undefined && signer.name !== opts.origin) {
      throw new FfauditError('USAGE', `the key at ${keyPath} is named ${signer.name}, not ${opts.origin}`);
    }

    // The keyed hashes of redacted secrets use a per-ledger secret, so that short secrets cannot be guessed from them.
    const redaction = existing(REDACTION_KEY_FILE);
    if (redaction === undefined) {
      writeNewFile(join(stage, REDACTION_KEY_FILE), `${randomBytes(32).toString('hex')}\n`, 0o600);
      place(REDACTION_KEY_FILE);
    }

    const vkey = formatVerifierKey(signer.name, signer.publicKey);
    const store = SqliteStore.open(join(stage, DB_FILE), { create: true });
    try {
      store.appendTransaction(() => {
        store.setMeta('origin', signer.name);
        store.setMeta('vkey', vkey);
        store.setMeta('schema', SCHEMA_VERSION);
      });
    } finally {
      store.close();
    }
    writeNewFile(join(stage, VKEY_FILE), `${vkey}\n`, 0o644);
    syncDir(stage);
    if (inPlace) {
      if (!place(DB_FILE)) throw new FfauditError('LEDGER_EXISTS', `a ledger already exists at ${target}`);
      place(VKEY_FILE);
      syncDir(target);
      removeLeftovers(target, LEFTOVER);
    }
    return { dir: target, signer, config, keyPath, finished: interrupted };
  } finally {
    if (inPlace) rmSync(stage, { recursive: true, force: true });
  }
}

function parseKeyOf(path: string, text: string): Signer & { publicKey: Buffer } {
  try {
    return parseSignerKey(text);
  } catch {
    throw new FfauditError('KEY', `${path} is not a signing key; no database was made with it: remove it and run ffaudit init again`);
  }
}
