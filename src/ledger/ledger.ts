/**
 * The ledger: one directory holding the SQLite store, the signing key (unless kept elsewhere) and a small config.
 * Appending is the only write to the log: entries, the new tree nodes and a freshly signed checkpoint go in one
 * durable transaction, so every acknowledged entry is covered by a signed checkpoint. The derived search indexes
 * are filled later, from the entries (searchIndex).
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { openCheckpoint, signCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import type { CosignatureVerifier } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { consistencyProof, Frontier, hashChildren, hashLeaf, HASH_SIZE, inclusionProof, rootAt } from '../core/merkle.js';
import { formatVerifierKey, parseVerifierKey, type Signer, type Verifier } from '../core/note.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import { SqliteStore } from '../store/sqlite.js';
import type { CosignatureRow, Store, TimestampRow } from '../store/types.js';
import { checkedBlobContent, encodeEntry, prepareBlob, type PreparedBlob } from './blob.js';
import { createLedgerFiles, interruptedMessage, ledgerState, lostDatabaseMessage, permissionDenied, type Made } from './create.js';
import { checkIndex, type IndexDifference } from './index-check.js';
import { updateIndex } from './index-entry.js';
import { loadKeyFile } from './keys.js';
import { CONFIG_FILE, DB_FILE, KEY_FILE, REDACTION_KEY_FILE, type LedgerLocation } from './location.js';
import { readRegularFile } from './safe-files.js';
import { readCosignatureLines, rowProblem } from './cosignatures.js';
import { readServerConfig, serverVerifiers, type ServerConfig } from './server-config.js';
import { policyText, readWitnessSettings, type WitnessSettings } from './witness-config.js';
import type { VerifyOptions, VerifyReport } from './verify.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';

/** Ranges up to this many entries are proven entry by entry (Ledger.proveLeaf), longer ones at once (inTree). */
const FEW = 8;
/** The most proven tree nodes a Ledger keeps (about 100 bytes each): a bound on memory, not on correctness. */
const PROVEN_NODES_KEPT = 65_536;

/** A signed checkpoint is kept in the history whenever the log crosses a multiple of this size. */
export const KEEP_CHECKPOINT_EVERY = 256;

export interface LedgerConfig {
  /** Where the signing key lives when it is not DIR/signing.key. */
  key?: string;
  [k: string]: unknown;
}

/**
 * The derived search indexes, as readers query them: where to look, never evidence (docs/design.md invariant 5).
 * Every row is re-read through the ledger's checked reads before anything rests on it.
 */
export type SearchIndex = Pick<Store, 'indexedSize' | 'indicesByFileHashRole' | 'runs' | 'runsBetween' | 'runById' | 'runByIndex' | 'runsWhere' | 'runsByIdPrefix'>;

/** One entry of a checked range: its bytes, or why they were refused. */
export type EntryRead = { index: number; data: Buffer } | { index: number; error: FfauditError };

/** A cosignature of one of this log's checkpoints, as stored (store/types.ts CosignatureRow). */
export type Cosignature = CosignatureRow;

/** An RFC 3161 token over one of this log's checkpoints, or over an earlier token, as stored (store/types.ts TimestampRow). */
export type Timestamp = TimestampRow;

/** The server this ledger joined (config.json `server`), with its cosigner keys parsed. */
export interface JoinedServer {
  config: ServerConfig;
  witness: CosignatureVerifier;
  mirror: CosignatureVerifier;
  /** The witness's ML-DSA-44 key (same name as `witness`), when the config has one. */
  witnessMlDsa44?: CosignatureVerifier | undefined;
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
  private readonly store: Store;
  readonly origin: string;
  readonly verifier: Verifier & { publicKey: Buffer };
  readonly config: LedgerConfig;
  private readonly keyPath: string;
  private signerCache: Signer | undefined;
  /** The tree's right edge after this process's last append, with the checkpoint it signed (see append). */
  private last: { frontier: Frontier; checkpoint: string } | undefined;
  /** The latest checkpoint whose signature was checked, by its text (checked reads prove entries against it). */
  private proven: { text: string; cp: SignedCheckpoint } | undefined;
  /** Tree nodes proven part of the tree `provenFor` signs, by `level/index` (proveLeaf). */
  private readonly provenNodes = new Map<string, Buffer>();
  private provenFor: SignedCheckpoint | undefined;

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

  /** The database file being read (a private copy when the ledger is on read-only media: sqlite.ts). */
  get databasePath(): string {
    return this.store.path;
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
   * Appends entries in one durable transaction and signs a checkpoint covering them. `blobs` (prepared outside the
   * write lock: blob.ts) are stored in the same transaction, so an entry never names a blob that is not there.
   */
  append(entries: readonly EntryBase[], blobs: readonly PreparedBlob[] = []): AppendResult {
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
      for (const b of blobs) tx.putBlob(b.sha256, b.codec, b.data, b.size);
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
   * The derived search indexes (files, runs), brought up to the head first: they are filled lazily from the
   * entries, not by appends.
   */
  searchIndex(): SearchIndex {
    updateIndex(this.store, this.size());
    return this.store;
  }

  /**
   * The differences between the search index and every entry up to the head (index-check.ts), the entries read
   * checked; `hiding`: only those that can hide a run from a lookup.
   */
  searchIndexProblems(limit = 20, hiding = false): IndexDifference[] {
    const size = this.size();
    updateIndex(this.store, size);
    return checkIndex(this.store, size, (a, b) => this.entries(a, b), limit, hiding);
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

  /**
   * The server this ledger joined (`ffaudit join`), read from its config.json now (another process may have
   * joined since this one opened the ledger); undefined when it joined none. KEY when the keys there are malformed.
   */
  server(): JoinedServer | undefined {
    const config = readServerConfig(this.dir);
    return config ? { config, ...serverVerifiers(config) } : undefined;
  }

  /** The witnesses the config lists and the quorum it sets (witness-config.ts), read now; BAD_INPUT naming a bad field. */
  witnessSettings(): WitnessSettings {
    return readWitnessSettings(this.dir);
  }

  /** The ledger's c2sp.org/tlog-policy, derived from its config (witness-config.ts policyText). */
  policyText(): string {
    return policyText(this.vkey, this.origin, this.witnessSettings());
  }

  /**
   * Every cosigner key the config names: the joined server's witness and mirror, and each listed witness (one that
   * is the server's witness counted once). Stored cosignatures are checked against these.
   */
  private cosignerKeys(): CosignatureVerifier[] {
    const s = this.server();
    const keys = s ? [s.witness, s.mirror, ...(s.witnessMlDsa44 ? [s.witnessMlDsa44] : [])] : [];
    for (const w of this.witnessSettings().witnesses) {
      if (!keys.some((k) => k.name === w.verifier.name && k.keyId.equals(w.verifier.keyId))) keys.push(w.verifier);
    }
    return keys;
  }

  /**
   * Stores the cosignatures a server or witness returned for this log's checkpoint of `size` entries and root
   * `rootHex` (c2sp.org/tlog-witness and tlog-mirror: the body of a 200 is one or more note signature lines). Each
   * line is verified with the cosigner keys of the ledger's config (core/cosignature.ts), or only with `only` when
   * given (the one witness that answered), before anything is stored; lines of other keys are ignored, as the
   * specifications ask; a line of a known key that does not verify refuses the whole call (INTEGRITY) and stores
   * nothing. `server` is the URL that answered. `checkpoint` is the log-signed note the lines were returned for
   * (default: the head, or a kept checkpoint, of that size); it must be signed by this ledger's key. Returns the
   * verified cosignatures (stored now or before). The first such write migrates a ledger of the previous layout.
   */
  addCosignatures(size: number, rootHex: string, lines: readonly string[], server: string, checkpoint?: string, only?: readonly CosignatureVerifier[]): Cosignature[] {
    const keys = only ?? this.cosignerKeys();
    if (keys.length === 0) throw new FfauditError('USAGE', `the ledger at ${this.dir} has joined no server and lists no witness, so no cosignature can be checked: run ffaudit join URL or ffaudit witness add first`);
    if (!Number.isSafeInteger(size) || size < 0 || !/^[0-9a-f]{64}$/.test(rootHex)) throw new FfauditError('BAD_INPUT', 'a cosigned checkpoint is a tree size and a 64-digit hex root');
    const note = checkpoint ?? this.signedCheckpointOf(size);
    let cp: SignedCheckpoint;
    try {
      cp = openCheckpoint(note, [this.verifier], this.origin);
    } catch (e) {
      throw new FfauditError('INTEGRITY', `the checkpoint of size ${size} the cosignatures are for is not this ledger's: ${(e as Error).message}`);
    }
    if (cp.size !== size || cp.root.toString('hex') !== rootHex) throw new FfauditError('BAD_INPUT', `the checkpoint given is of size ${cp.size} and root ${cp.root.toString('hex')}, not the size and root the cosignatures are said to sign`);
    const read = readCosignatureLines(cp, lines, keys);
    const rows = read.map((c): Cosignature => ({ size, root: cp.root, name: c.name, keyId: c.keyId, timestamp: c.timestamp, line: c.line, checkpoint: note, server }));
    if (rows.length > 0) this.store.addCosignatures(rows);
    return rows;
  }

  /** The log-signed checkpoint of exactly `size` entries the store still holds: the head, or a kept one. */
  private signedCheckpointOf(size: number): string {
    const head = this.store.head();
    if (head && head.size === size) return head.checkpoint;
    const kept = this.store.keptCheckpoints().find((k) => k.size === size);
    if (kept) return kept.checkpoint;
    throw new FfauditError('NOT_FOUND', `the ledger no longer holds its signed checkpoint of size ${size}: give the checkpoint the cosignatures were returned for`);
  }

  /**
   * The stored cosignatures (of checkpoints of `size` entries when given), checked: only those whose line verifies
   * with a cosigner key of the config over a checkpoint signed by this ledger's key with the size and root the row
   * names. Oldest size first.
   */
  cosignatures(size?: number): Cosignature[] {
    const keys = this.cosignerKeys();
    if (keys.length === 0) return [];
    return this.store.cosignatures(size).filter((r) => rowProblem(r, this.origin, this.verifier, keys) === undefined);
  }

  /**
   * The checked cosignature of the largest tree size (of one server URL, or one cosigner name, when given), the
   * most recent of that size; undefined when there is none.
   */
  lastCosigned(server?: string, cosigner?: string): Cosignature | undefined {
    const keys = this.cosignerKeys();
    if (keys.length === 0) return undefined;
    const row = this.store.lastCosigned({ server, name: cosigner });
    if (!row) return undefined;
    if (rowProblem(row, this.origin, this.verifier, keys) === undefined) return row;
    // The latest row does not check out (the table was edited): the latest one that does, found the long way.
    const ok = this.cosignatures().filter((r) => (server === undefined || r.server === server) && (cosigner === undefined || r.name === cosigner));
    return ok.reduce<Cosignature | undefined>((best, r) => (!best || r.size > best.size || (r.size === best.size && r.timestamp > best.timestamp) ? r : best), undefined);
  }

  /**
   * Stores RFC 3161 time-stamp tokens (store/types.ts TimestampRow). The caller has verified each token completely
   * (src/timestamp/: a layer above the ledger's, since it needs the TSA's CA); the ledger checks what is its own:
   * the row's identity is its token's SHA-256, the checkpoint it vouches for is signed by this ledger's key and has
   * the size and root the row names, and a renewal names a token stored over that same checkpoint (earlier in the
   * batch, or before). Nothing is stored unless every row passes. Returns how many rows were new.
   */
  addTimestamps(rows: readonly Timestamp[]): number {
    // A renewal's token is over its own checkpoint: only those sizes' stored rows are read.
    const sizes = new Set(rows.filter((r) => r.renews !== null).map((r) => r.size));
    const known = new Map([...sizes].flatMap((size) => this.store.timestamps(size)).map((r) => [r.tokenHash.toString('hex'), r]));
    for (const r of rows) {
      if (!createHash('sha256').update(r.token).digest().equals(r.tokenHash)) throw new FfauditError('BAD_INPUT', 'a timestamp row is keyed by the SHA-256 of its token');
      let cp: SignedCheckpoint;
      try {
        cp = openCheckpoint(r.checkpoint, [this.verifier], this.origin);
      } catch (e) {
        throw new FfauditError('INTEGRITY', `the checkpoint of size ${r.size} the timestamp is for is not this ledger's: ${(e as Error).message}`);
      }
      if (cp.size !== r.size || !cp.root.equals(r.root)) throw new FfauditError('BAD_INPUT', `the checkpoint given is of size ${cp.size}, not the size and root the timestamp row names`);
      if (r.renews !== null) {
        const earlier = known.get(r.renews.toString('hex'));
        if (!earlier || earlier.size !== r.size || !earlier.root.equals(r.root)) throw new FfauditError('BAD_INPUT', `the token a renewal covers is not stored over the checkpoint of size ${r.size}`);
      }
      known.set(r.tokenHash.toString('hex'), r);
    }
    return rows.length === 0 ? 0 : this.store.addTimestamps(rows);
  }

  /**
   * The stored time-stamp tokens (over checkpoints of `size` entries when given), by size then time, as stored:
   * unchecked, like every row of the store. Verify each token (src/timestamp/) before resting anything on it.
   */
  timestamps(size?: number): Timestamp[] {
    return this.store.timestamps(size);
  }

  /** Stores a blob (content-addressed by the SHA-256 of its uncompressed bytes), gzip-compressed. */
  putBlob(data: Buffer, compress = true): string {
    return this.putBlobs([prepareBlob(data, compress)])[0]!;
  }

  /** Stores blobs in one durable transaction; returns their hashes. */
  putBlobs(blobs: readonly PreparedBlob[]): string[] {
    this.store.appendTransaction((tx) => {
      for (const b of blobs) tx.putBlob(b.sha256, b.codec, b.data, b.size);
    });
    return blobs.map((b) => b.sha256);
  }

  /** Whether the store holds a blob of this hash (unchecked: read it with blob()). */
  hasBlob(sha256: string): boolean {
    return this.store.blob(sha256) !== undefined;
  }

  /** The hashes of every stored blob, ascending (unchecked: read each with blob()). */
  blobHashes(): string[] {
    return this.store.blobHashes();
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

  /**
   * A signed checkpoint covering at least `size` entries, its signature checked with the ledger's key: what checked
   * reads prove entries against. The one checked last serves while it covers them (an entry proven against an
   * older signed checkpoint is proven all the same); otherwise the latest one is read. Undefined when the log
   * holds fewer entries.
   */
  private provenHead(size: number): SignedCheckpoint | undefined {
    if (this.proven && this.proven.cp.size >= size) return this.proven.cp;
    const head = this.store.head();
    if (!head) return undefined;
    if (this.proven?.text !== head.checkpoint) {
      try {
        this.proven = { text: head.checkpoint, cp: openCheckpoint(head.checkpoint, [this.verifier], this.origin) };
      } catch (e) {
        if (!(e instanceof FfauditError)) throw e;
        throw new FfauditError('INTEGRITY', `the ledger's latest checkpoint does not verify (${e.message}): run ffaudit verify`);
      }
    }
    return this.proven.cp.size >= size ? this.proven.cp : undefined;
  }

  /**
   * Entry n's bytes, checked: the one way to read an entry, for everyone but verify (which scans the store on
   * purpose and reports what it finds). See scanEntries for what "checked" means.
   */
  entry(n: number): Buffer {
    if (!Number.isSafeInteger(n) || n < 0 || this.provenHead(n + 1) === undefined) this.checkIndex(n, this.size());
    return this.entries(n, n + 1)[0]!;
  }

  /** Entries from…to−1, checked (scanEntries); the first refused entry throws. */
  entries(from: number, to: number): Buffer[] {
    return this.scanEntries(from, to).map((r) => {
      if ('error' in r) throw r.error;
      return r.data;
    });
  }

  /**
   * Entries from…to−1 (within the latest checkpoint), each checked, with a verdict each: for scans that report a
   * damaged entry and go on. Checked means proven part of the log the latest checkpoint signs (docs/design.md
   * invariants 2 and 6): each entry's bytes must hash (RFC 6962 §2.1: SHA-256(0x00 ‖ entry)) to its level-0 node,
   * and those nodes, folded with the stored subtree hashes left and right of the range, must give the checkpoint's
   * root. So rewriting a row, even together with its recorded leaf hash, is refused, as a bundle's inclusion proof
   * would refuse it; only the signing key can make a different history pass (docs/design.md, threat model). The
   * cost is the range's own hashes plus O(log n) stored nodes per call.
   */
  scanEntries(from: number, to: number): EntryRead[] {
    if (Number.isSafeInteger(from) && from === to && from >= 0 && from <= this.size()) return [];
    const cp = Number.isSafeInteger(to) ? this.provenHead(to) : undefined;
    if (!cp || !Number.isSafeInteger(from) || from < 0 || from > to) {
      const size = this.size();
      throw new FfauditError('NOT_FOUND', `no entries ${from} to ${to - 1}: the signed log holds ${size === 0 ? 'none' : `entries 0 to ${size - 1}`}`);
    }
    const rows = new Map(this.store.entries(from, to).map((r) => [r.index, r]));
    const out: EntryRead[] = [];
    const leaves: Buffer[] = [];
    for (let i = from; i < to; i++) {
      const r = rows.get(i);
      if (!r || !Buffer.isBuffer(r.data)) {
        out.push({ index: i, error: new FfauditError('INTEGRITY', `entry ${i} is missing from the store (run ffaudit verify)`) });
        continue;
      }
      const leaf = hashLeaf(r.data);
      if (!Buffer.isBuffer(r.leaf) || !leaf.equals(r.leaf)) {
        out.push({ index: i, error: new FfauditError('INTEGRITY', `entry ${i} was modified (run ffaudit verify)`) });
        continue;
      }
      out.push({ index: i, data: r.data });
      leaves.push(leaf);
    }
    // A few entries are proven one by one (climbing to nodes proven before); a range at once. Otherwise (a refused
    // entry, or a rewritten leaf hash) each entry is proven on its own, so that only the entries that fail are refused.
    if (leaves.length === to - from && (to - from > FEW ? this.inTree(from, 0, leaves, cp) : leaves.every((leaf, k) => this.proveLeaf(from + k, leaf, cp)))) return out;
    return out.map((r) => {
      if ('error' in r || this.proveLeaf(r.index, hashLeaf(r.data), cp)) return r;
      // Either the entry or a stored node its proof needs was rewritten (a proof needs the leaf hashes of its
      // neighbours, and the right edge's): either way the entry cannot be shown to be the one the log signed.
      return { index: r.index, error: new FfauditError('INTEGRITY', `entry ${r.index} cannot be proven part of the log the signed checkpoint covers: it, or a tree node its proof needs, was modified (run ffaudit verify)`) };
    });
  }

  /** A stored tree node (untrusted), refused when it is not a hash. */
  private node(level: number, index: number): Buffer {
    const h = this.store.perfect(level, index);
    if (!Buffer.isBuffer(h) || h.length !== HASH_SIZE) throw new FfauditError('INTEGRITY', `tree node ${level}/${index} is malformed in the store (run ffaudit verify)`);
    return h;
  }

  /**
   * Whether leaf `index` with this hash belongs to the tree `cp` signs. It climbs the perfect subtrees that hold the
   * leaf, hashing in each sibling read from the store (RFC 9162 §2.1.3's audit path), until it meets a node proven
   * before against the same checkpoint, or reaches the largest such subtree and folds that to the signed root
   * (inTree). Every node of a path that succeeds is authentic (SHA-256 is collision resistant) and is kept, so that
   * reads near each other cost a node or two each instead of a whole path.
   */
  private proveLeaf(index: number, leaf: Buffer, cp: SignedCheckpoint): boolean {
    if (this.provenFor !== cp) {
      this.provenNodes.clear();
      this.provenFor = cp;
    }
    const path: [string, Buffer][] = [];
    let hash = leaf;
    for (let level = 0, i = index; ; level++, i = Math.floor(i / 2)) {
      const known = this.provenNodes.get(`${level}/${i}`);
      if (known) {
        if (!known.equals(hash)) return false;
        break;
      }
      path.push([`${level}/${i}`, hash]);
      if ((Math.floor(i / 2) + 1) * 2 ** (level + 1) > cp.size) {
        // The largest perfect subtree holding the leaf: the rest of the tree is folded around it.
        if (!this.inTree(i * 2 ** level, level, [hash], cp)) return false;
        break;
      }
      const sibling = this.node(level, i ^ 1);
      path.push([`${level}/${i ^ 1}`, sibling]);
      hash = i % 2 === 0 ? hashChildren(hash, sibling) : hashChildren(sibling, hash);
    }
    if (this.provenNodes.size + path.length > PROVEN_NODES_KEPT) this.provenNodes.clear();
    for (const [k, h] of path) this.provenNodes.set(k, h);
    return true;
  }

  /**
   * Whether these consecutive perfect subtree hashes (of 2^level leaves each, the first starting at leaf `from`)
   * belong to the tree `cp` signs: the compact range of [0, from) and the perfect subtrees after them are read from
   * the store (untrusted), and the root they all fold to (RFC 9162 §2.1.1) must be the signed one.
   */
  private inTree(from: number, level: number, hashes: readonly Buffer[], cp: SignedCheckpoint): boolean {
    const f = Frontier.at({ perfect: (l, i) => this.node(l, i) }, from);
    for (const h of hashes) f.pushSubtree(level, h);
    for (let p = f.size; p < cp.size; ) {
      // The largest perfect subtree that starts at p and ends within the tree.
      let k = 0;
      while (p % 2 ** (k + 1) === 0 && p + 2 ** (k + 1) <= cp.size) k++;
      f.pushSubtree(k, this.node(k, p / 2 ** k));
      p += 2 ** k;
    }
    return f.root().equals(cp.root);
  }

  /** Indices from…to−1 of the entries whose stored bytes contain `bytes`: a hint for a scan (read each with entry()). */
  indicesContaining(bytes: Buffer, from: number, to: number): number[] {
    return this.store.indicesContaining(bytes, from, to);
  }

  /** Stored tree nodes (perfect subtree hashes), unchecked: the caller checks what it builds from them against a signed root. */
  treeNode(level: number, index: number): Buffer {
    return this.store.perfect(level, index);
  }

  /** The inclusion proof of entry n in the tree of `size` leaves, from the stored nodes (unchecked: verify it). */
  inclusionProof(n: number, size: number): Buffer[] {
    this.checkIndex(n, size);
    return inclusionProof(this.store, n, size);
  }

  /**
   * Verifies the whole ledger as `ffaudit verify` does (verify.ts, loaded only when needed), against the
   * cosignatures kept from the server and the witnesses of the config too (unless `opts.cosigners` says otherwise),
   * and the quorum of the config's policy (unless `opts.policy` gives another: then its witnesses' cosignatures are
   * checked as well).
   */
  async verify(opts: VerifyOptions = {}): Promise<VerifyReport> {
    const [{ verifyStore }, { parseTlogPolicy }] = await Promise.all([import('./verify.js'), import('../core/tlog-policy.js')]);
    const policy = opts.policy ?? parseTlogPolicy(Buffer.from(this.policyText(), 'utf8'), { mlDsa44 });
    const cosigners = this.cosignerKeys();
    for (const [, w] of policy.witnessKeys) if (!cosigners.some((k) => k.name === w.name && k.keyId.equals(w.keyId))) cosigners.push(w);
    return verifyStore(this.store, this.origin, this.verifier, { cosigners, ...opts, policy });
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
