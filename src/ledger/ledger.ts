/**
 * The ledger: one directory holding the SQLite store, the signing key (unless kept elsewhere) and a small config.
 * Appending is the only write to the log: entries, the new tree nodes and a freshly signed checkpoint go in one
 * durable transaction, so every acknowledged entry is covered by a signed checkpoint. The derived search indexes
 * are filled later, from the entries (searchIndex).
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { signCheckpoint } from '../core/checkpoint.js';
import { sha256Hex, type EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { consistencyProof, Frontier, hashLeaf, inclusionProof, rootAt } from '../core/merkle.js';
import { formatVerifierKey, parseVerifierKey, type Signer, type Verifier } from '../core/note.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import { SqliteStore } from '../store/sqlite.js';
import type { AppendTx, Store } from '../store/types.js';
import { checkedBlobContent, encodeEntry, zlib } from './blob.js';
import { createLedgerFiles, interruptedMessage, ledgerState, lostDatabaseMessage, permissionDenied, type Made } from './create.js';
import { updateIndex } from './index-entry.js';
import { loadKeyFile } from './keys.js';
import { CONFIG_FILE, DB_FILE, KEY_FILE, REDACTION_KEY_FILE, type LedgerLocation } from './location.js';
import { readRegularFile } from './safe-files.js';

/** A signed checkpoint is kept in the history whenever the log crosses a multiple of this size. */
export const KEEP_CHECKPOINT_EVERY = 256;

export interface LedgerConfig {
  /** Where the signing key lives when it is not DIR/signing.key. */
  key?: string;
  [k: string]: unknown;
}

export interface AppendResult {
  indices: number[];
  size: number;
  checkpoint: string;
}

export interface OpenOptions {
  /** FFAUDIT_KEY / --key: the signing key's file, overriding the config. */
  keyPath?: string | undefined;
  /** Create the per-user default ledger on first use; `onCreate` is told, and whether an interrupted one was finished. */
  autoCreate?: boolean;
  onCreate?: (ledger: Ledger, finished: boolean) => void;
}

/** How long a process waits for another one that is creating the same per-user default ledger. */
const INIT_WAIT_MS = 30_000;

/** Polls `done` every 20 ms until it holds (true) or `ms` have passed (false). */
function waitFor(done: () => boolean, ms: number): boolean {
  const deadline = Date.now() + ms;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!done()) {
    if (Date.now() > deadline) return false;
    Atomics.wait(cell, 0, 0, 20); // a synchronous sleep: opening a ledger is synchronous
  }
  return true;
}

/** DIR/vkey, as init wrote it; undefined when it cannot be read. */
function readVkeyFile(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, 'vkey'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** A redaction key's text: hex, at least 32 bytes (init writes exactly 32); else undefined. */
function parseRedactionKey(text: string): Buffer | undefined {
  return /^(?:[0-9a-fA-F]{2}){32,}$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

function defaultOrigin(): string {
  // Unique per ledger, URL-like, no spaces or '+' (signed-note key names).
  const host = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'localhost';
  return `${host}/ffaudit/${randomBytes(6).toString('hex')}`;
}

export class Ledger {
  readonly dir: string;
  readonly store: Store;
  readonly origin: string;
  readonly verifier: Verifier & { publicKey: Buffer };
  readonly config: LedgerConfig;
  private readonly keyPath: string;
  private signerCache: Signer | undefined;
  /** The tree's right edge after this process's last append, with the checkpoint it signed (see append). */
  private last: { frontier: Frontier; checkpoint: string } | undefined;

  private constructor(dir: string, store: Store, config: LedgerConfig, keyPath: string) {
    this.dir = dir;
    this.store = store;
    this.config = config;
    this.keyPath = keyPath;
    let origin: string | undefined;
    let vkey: string | undefined;
    try {
      origin = store.meta('origin');
      vkey = store.meta('vkey');
    } catch (e) {
      // Damage where the metadata lives must not keep verify from reporting it: the verifier key written beside
      // the database at init stands in. It is no more trusted than the database: checkpoints signed by any other
      // key fail against it.
      vkey = readVkeyFile(dir);
      if (!(e instanceof FfauditError) || e.code !== 'STORE' || vkey === undefined) throw e;
      origin = vkey.slice(0, vkey.indexOf('+'));
    }
    if (!origin || !vkey) throw new FfauditError('STORE', `the ledger at ${dir} has no origin or verifier key`);
    this.origin = origin;
    try {
      this.verifier = parseVerifierKey(vkey);
    } catch {
      throw new FfauditError('STORE', `the ledger at ${dir} holds a malformed verifier key`);
    }
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, DB_FILE));
  }

  /**
   * Creates a ledger (create.ts: atomically, in a folder nobody else controls), or finishes the folder of an
   * interrupted init; refuses to touch an existing one.
   */
  static init(dir: string, opts: { origin?: string | undefined; keyPath?: string | undefined } = {}): Ledger {
    return Ledger.fromMade(createLedgerFiles(dir, { ...opts, defaultOrigin }));
  }

  private static fromMade(made: Made): Ledger {
    const ledger = new Ledger(made.dir, SqliteStore.open(join(made.dir, DB_FILE)), made.config, made.keyPath);
    ledger.signerCache = made.signer;
    return ledger;
  }

  static open(loc: LedgerLocation, opts: OpenOptions = {}): Ledger {
    const dir = resolve(loc.dir);
    const state = ledgerState(dir);
    if (state.kind === 'lost-database') throw new FfauditError('NO_LEDGER', lostDatabaseMessage(dir));
    if (state.kind !== 'ready') {
      if (!loc.explicit && opts.autoCreate) {
        try {
          const made = createLedgerFiles(dir, { keyPath: opts.keyPath, defaultOrigin });
          const l = Ledger.fromMade(made);
          opts.onCreate?.(l, made.finished);
          return l;
        } catch (e) {
          // Another process is creating the same default ledger at this moment: use theirs once it is complete.
          if (!(e instanceof FfauditError && e.code === 'LEDGER_EXISTS') || !waitFor(() => Ledger.exists(dir), INIT_WAIT_MS)) throw e;
        }
      } else if (state.kind === 'interrupted') {
        throw new FfauditError('NO_LEDGER', interruptedMessage(dir));
      } else {
        throw new FfauditError('NO_LEDGER', `no ledger at ${dir} (create one with: ffaudit init --ledger ${dir})`);
      }
    }
    let config: LedgerConfig = {};
    const configText = readConfigFile(join(dir, CONFIG_FILE));
    try {
      const parsed: unknown = configText === undefined ? undefined : JSON.parse(configText);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) config = parsed as LedgerConfig;
    } catch {
      // A damaged config only loses settings; the evidence is in the database.
    }
    const keyPath = opts.keyPath ? resolve(opts.keyPath) : typeof config.key === 'string' ? config.key : join(dir, KEY_FILE);
    try {
      accessSync(join(dir, DB_FILE), constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(join(dir, DB_FILE), 'read');
    }
    const store = SqliteStore.open(join(dir, DB_FILE));
    try {
      return new Ledger(dir, store, config, keyPath);
    } catch (e) {
      store.close();
      throw e;
    }
  }

  get vkey(): string {
    return formatVerifierKey(this.verifier.name, this.verifier.publicKey);
  }

  signer(): Signer {
    if (!this.signerCache) {
      const s = loadKeyFile(this.keyPath);
      if (!s.keyId.equals(this.verifier.keyId) || !s.publicKey.equals(this.verifier.publicKey)) {
        throw new FfauditError('KEY', `the key at ${this.keyPath} is not this ledger's signing key`);
      }
      this.signerCache = s;
    }
    return this.signerCache;
  }

  /**
   * The secret that keys the hashes of redacted values (HMAC-SHA-256, RFC 2104). A short or empty key would let
   * anyone holding the ledger test guesses of a short secret (a PIN, a password) against those hashes, so only
   * a key of at least 32 bytes in hex is accepted (init writes 32 random bytes).
   */
  redactionKey(): Buffer {
    const path = join(this.dir, REDACTION_KEY_FILE);
    let text: string;
    try {
      const read = readRegularFile(path);
      if (read === undefined) throw new FfauditError('KEY', `cannot read ${path}: ENOENT`);
      text = read.trim();
    } catch (e) {
      throw e instanceof FfauditError && e.code !== 'KEY' ? new FfauditError('KEY', e.message) : e;
    }
    const key = parseRedactionKey(text);
    if (!key) throw new FfauditError('KEY', `${path} is not a redaction key (it must hold at least 64 hex digits; it holds ${text.length === 0 ? 'nothing' : `${text.length} characters`})`);
    return key;
  }

  /**
   * Appends entries in one durable transaction and signs a checkpoint covering them. `extra` runs inside the
   * same transaction (blobs the entries name).
   */
  append(entries: readonly EntryBase[], extra?: (tx: AppendTx, indices: number[]) => void): AppendResult {
    const signer = this.signer(); // before taking the write lock
    const last = this.last;
    this.last = undefined; // until this transaction commits
    const result = this.store.appendTransaction((tx) => {
      const head = tx.head();
      const oldSize = head?.size ?? 0;
      // The tree's right edge, read from the store (O(log n) nodes), unless nothing was appended since this
      // process's own last append: the head still holds the very checkpoint it signed.
      const frontier = last && head?.checkpoint === last.checkpoint ? last.frontier : Frontier.at(tx, oldSize);
      const indices: number[] = [];
      for (const e of entries) {
        const index = frontier.size;
        const bytes = encodeEntry(e, (sha, b) => tx.putBlob(sha, 'identity', b, b.length));
        const leaf = hashLeaf(bytes);
        tx.insertEntry(index, leaf, bytes);
        frontier.push(leaf, (level, i, h) => tx.insertNode(level, i, h));
        indices.push(index);
      }
      extra?.(tx, indices);
      const size = frontier.size;
      const checkpoint = signCheckpoint({ origin: this.origin, size, root: frontier.root(), extensions: [] }, signer);
      const keep = oldSize === 0 || Math.floor(size / KEEP_CHECKPOINT_EVERY) > Math.floor(oldSize / KEEP_CHECKPOINT_EVERY);
      tx.setHead(size, checkpoint, keep);
      return { indices, size, checkpoint, frontier };
    });
    this.last = { frontier: result.frontier, checkpoint: result.checkpoint };
    return { indices: result.indices, size: result.size, checkpoint: result.checkpoint };
  }

  /**
   * The store, with its derived search indexes (files, runs) brought up to the head first: they are filled lazily
   * from the entries, not by appends.
   */
  searchIndex(): Store {
    updateIndex(this.store, this.size());
    return this.store;
  }

  /**
   * Throws the derived indexes away and rebuilds them from the entries: the remedy for an `index-mismatch`. The
   * log itself is not touched; the indexes are never evidence (docs/design.md invariant 5).
   */
  rebuildIndex(): number {
    if (this.store.readOnly) throw new FfauditError('STORE', `the ledger database ${join(this.dir, DB_FILE)} is read-only: reindex needs to write it`);
    this.store.indexTransaction((tx) => tx.clear());
    const size = this.size();
    updateIndex(this.store, size);
    return size;
  }

  /** Stores a blob (content-addressed by the SHA-256 of its uncompressed bytes), gzip-compressed. */
  putBlob(data: Buffer, compress = true): string {
    const sha = sha256Hex(data);
    const stored = compress ? zlib().gzipSync(data) : data;
    this.store.appendTransaction((tx) => tx.putBlob(sha, compress ? 'gzip' : 'identity', stored, data.length));
    return sha;
  }

  /** A blob's content, checked against its hash; undefined when absent. */
  blob(sha256: string): Buffer | undefined {
    const b = this.store.blob(sha256);
    if (!b) return undefined;
    const data = checkedBlobContent(sha256, b);
    if (!data) throw new FfauditError('INTEGRITY', `blob ${sha256} is damaged or does not match its hash`);
    return data;
  }

  size(): number {
    return this.store.head()?.size ?? 0;
  }

  checkpoint(): string {
    const h = this.store.head();
    if (!h) throw new FfauditError('NOT_FOUND', 'the ledger is empty: no checkpoint has been signed yet');
    return h.checkpoint;
  }

  private checkIndex(n: number, size: number): void {
    if (!Number.isSafeInteger(n) || n < 0 || n >= size) {
      throw new FfauditError('NOT_FOUND', size === 0 ? 'the ledger is empty' : `no entry ${n}: the log holds entries 0 to ${size - 1}`);
    }
  }

  entryBytes(n: number): Buffer {
    this.checkIndex(n, this.size());
    const e = this.store.entry(n);
    if (!e) throw new FfauditError('NOT_FOUND', `entry ${n} is missing from the store (run ffaudit verify)`);
    return e.data;
  }

  /** A c2sp.org/tlog-proof@v1 receipt for entry n against the latest checkpoint. */
  proof(n: number): string {
    const head = this.store.head();
    const size = head?.size ?? 0;
    this.checkIndex(n, size);
    return formatTlogProof(n, inclusionProof(this.store, n, size), head!.checkpoint);
  }

  consistency(oldSize: number, newSize = this.size()): Buffer[] {
    const size = this.size();
    for (const [what, v] of [['OLD', oldSize], ['NEW', newSize]] as const) {
      if (!Number.isSafeInteger(v) || v < 0 || v > size) throw new FfauditError('NOT_FOUND', `${what} (${v}) must be a size from 0 to ${size}`);
    }
    if (oldSize > newSize) throw new FfauditError('USAGE', `OLD (${oldSize}) is larger than NEW (${newSize})`);
    return consistencyProof(this.store, oldSize, newSize);
  }

  /** The root the stored tree gives for `size` (not a verification: see verify.ts). */
  storedRoot(size: number): Buffer {
    return rootAt(this.store, size);
  }

  close(): void {
    this.store.close();
  }
}

/**
 * The ledger's config.json, or undefined when it cannot be read (a missing or unreadable config only loses
 * settings). Anything but a regular file there is refused (readRegularFile).
 */
function readConfigFile(path: string): string | undefined {
  try {
    return readRegularFile(path);
  } catch (e) {
    if (e instanceof FfauditError && e.code === 'IO') return undefined;
    throw e;
  }
}
