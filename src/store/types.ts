/**
 * The storage interface every backend implements (SQLite now; PostgreSQL later). Backends store bytes and answer
 * queries; they hold no trust logic. Everything a backend returns is treated by callers as untrusted.
 */
import type { NodeSource } from '../core/merkle.js';

export interface StoredEntry {
  index: number;
  leaf: Buffer;
  data: Buffer;
}

export interface Head {
  size: number;
  checkpoint: string;
}

/**
 * What one append transaction may do; only valid inside `Store.appendTransaction`. Its reads (head, the nodes of
 * NodeSource) see the store as it was when the transaction began, not the rows this transaction inserted: the
 * ledger keeps the tree's new right edge in memory (merkle.ts Frontier) instead of reading it back.
 */
export interface AppendTx extends NodeSource {
  head(): Head | undefined;
  insertEntry(index: number, leaf: Buffer, data: Buffer): void;
  insertNode(level: number, index: number, hash: Buffer): void;
  setHead(size: number, checkpoint: string, keep: boolean): void;
  putBlob(sha256: string, codec: string, data: Buffer, size: number): void;
}

/**
 * What one update of the derived search indexes may do (never evidence: docs/design.md invariant 5). They are
 * filled after the fact from the stored entries, outside the durable append, so an append writes only the log.
 */
export interface IndexTx {
  /** The size of the log prefix the indexes cover, read under the write lock. */
  indexedSize(): number;
  indexFile(sha256: string | null, path: string, index: number, role: string): void;
  indexRun(run: RunIndexRow): void;
  setIndexedSize(size: number): void;
  /** Empties the derived indexes and their watermark (they are rebuilt from the entries). */
  clear(): void;
}

/**
 * One cosignature (c2sp.org/tlog-cosignature) a server or any witness returned for a checkpoint of this log: the
 * signature line as received, what it signs (the checkpoint text is origin, size and root: the log's own), the
 * log-signed checkpoint note it was returned for, and which server answered. Stored for evidence; a reader checks
 * the line again before resting anything on it (the store is untrusted).
 */
export interface CosignatureRow {
  size: number;
  /** The 32-byte root hash the cosigned checkpoint names. */
  root: Buffer;
  /** The cosigner's key name and 4-byte key ID (c2sp.org/signed-note). */
  name: string;
  keyId: Buffer;
  /** The cosignature's own timestamp (POSIX seconds). */
  timestamp: number;
  /** The signature line, `— name base64(key ID ‖ timestamp ‖ signature)\n`. */
  line: string;
  /** The checkpoint the line was returned for, with the log's signature, byte-exact. */
  checkpoint: string;
  /** Which server (its URL) returned it. */
  server: string;
}

/**
 * One RFC 3161 time-stamp token over this log: either over a checkpoint (its imprint is SHA-256 of the checkpoint's
 * note body, through its last newline, without signature lines), or, as an RFC 4998 archive timestamp, over an
 * earlier token (its imprint is SHA-256 of that token's DER; `renews` names it), so the evidence outlives the earlier
 * TSA certificate. Stored only after the token was verified completely; a reader verifies it again before resting
 * anything on it (the store is untrusted).
 */
export interface TimestampRow {
  /** SHA-256 of `token`: the row's identity, and what a renewal names. */
  tokenHash: Buffer;
  /** The checkpoint the token vouches for (directly, or through the tokens it renews): size, root, signed note. */
  size: number;
  root: Buffer;
  checkpoint: string;
  /** For an archive timestamp: the tokenHash of the token it covers; null for a checkpoint's own token. */
  renews: Buffer | null;
  /** The TSA asked (its URL). */
  tsa: string;
  /** The token's genTime, ISO 8601 UTC (a copy for listing; the token's own is what counts). */
  genTime: string;
  /**
   * When the TSA certificate that signed the token expires, ISO 8601 UTC: a copy, so that the schedule finds the
   * chains due for renewal without re-verifying every token (it verifies those before asking; verify checks all).
   */
  signerNotAfter: string;
  /** The TimeStampToken (a CMS ContentInfo), DER. */
  token: Buffer;
}

export interface DerivedRows {
  files: [number, string][];
  runs: RunIndexRow[];
}

export interface RunIndexRow {
  id: string;
  startIndex: number;
  endIndex: number | null;
  tool: string;
  user: string;
  time: string;
  status: string | null;
}

/**
 * A filtered, newest-first page of the runs index. Every condition is optional; `statuses` uses null for runs
 * without an end. Times are the RFC 3339 strings entries carry (fixed width, so they compare as text).
 */
export interface RunQuery {
  user?: string;
  tool?: string;
  statuses?: (string | null)[];
  since?: string;
  until?: string;
  /** Only runs with an entry that names a file with this content hash (file index). */
  fileSha256?: string;
  /** Only runs with an entry that names this path (file index). */
  filePath?: string;
  /** Only runs whose start index is below this (paging). */
  beforeStart?: number;
  limit: number;
}

export interface Store extends NodeSource {
  readonly path: string;
  /** Opened read-only (read-only media, no write permission): derived indexes are then rebuilt in memory only. */
  readonly readOnly: boolean;
  meta(key: string): string | undefined;
  /** Sets a key once (origin, vkey at init): setting an existing key throws and leaves the first value. */
  setMeta(key: string, value: string): void;
  head(): Head | undefined;
  /**
   * Runs `fn` in an exclusive, durable write transaction; if `fn` throws, nothing it did is kept, and the error is
   * rethrown as an FfauditError (code STORE, unless it already was an FfauditError).
   */
  appendTransaction<T>(fn: (tx: AppendTx) => T): T;
  /**
   * The size of the log prefix the derived indexes cover (0 when never filled). The index lookups below answer for
   * that prefix only: rows for entries at or beyond it are never returned.
   */
  indexedSize(): number;
  /**
   * The size the derived indexes kept in the store itself cover: what verify checks. It differs from indexedSize()
   * only where a read-only store rebuilt its indexes in memory.
   */
  storedIndexedSize(): number;
  /** Runs `fn` in an exclusive write transaction that need not reach the disk before returning (it can be redone). */
  indexTransaction(fn: (tx: IndexTx) => void): void;
  entry(index: number): StoredEntry | undefined;
  /** Entries from…to−1 (the end excluded, as for every entry range here), in index order. */
  entries(from: number, to: number): StoredEntry[];
  /** Indices from…to−1 of the entries whose bytes contain `bytes` (a hint for a scan: callers read and check each). */
  indicesContaining(bytes: Buffer, from: number, to: number): number[];
  /** Entries' bytes without their recorded leaf hashes. */
  entryData(from: number, to: number): { index: number; data: Buffer }[];
  /**
   * [index, leaf ‖ 0x00 ‖ data] for each stored entry from…to−1, in index order, or [index, null] for a row whose
   * leaf is not a 32-byte BLOB or whose data is not a BLOB (read it with entry()). One value per entry instead of
   * two, and from byte 32 on exactly the message whose SHA-256 is the leaf hash (RFC 6962 MTH({d}) = SHA-256(0x00 ‖
   * d)): what verify reads and hashes without copying.
   */
  leafAndData(from: number, to: number): [number, Buffer | null][];
  /** Up to `limit` entries whose index is negative or at least `size`, in index order (what no checkpoint covers). */
  entriesOutside(size: number, limit: number): StoredEntry[];
  /** The highest entry index stored (whatever the head says), or -1. */
  maxEntryIndex(): number;
  entryCount(): number;
  keptCheckpoints(): { size: number; checkpoint: string }[];
  /** The stored nodes (level, fromIndex…toIndex), both ends included, unlike the entry ranges. */
  nodesInRange(level: number, fromIndex: number, toIndex: number): Map<number, Buffer>;
  /**
   * The hashes stored for nodes (level, fromIndex…toIndex, both ends included), concatenated, when every one is present and 32 bytes
   * long; undefined otherwise (the caller falls back to nodesInRange). Levels from 1 (the leaf hashes come with
   * leafAndData). Reading one value instead of one per node is what keeps verify fast.
   */
  packedHashes(level: number, fromIndex: number, toIndex: number): Buffer | undefined;
  blob(sha256: string): { codec: string; data: Buffer; size: number } | undefined;
  blobHashes(): string[];
  /** Entry indices that name this content hash in the given role ('input', 'output' or 'note'), ascending (derived index). */
  indicesByFileHashRole(sha256: string, role: string): number[];
  /**
   * The derived index rows that point into entries from…to−1, for checking them against the entries: the file
   * rows as [idx, `role sha256hex`] in index order, and the runs whose start or end index lies in the range.
   */
  derivedRows(from: number, to: number): DerivedRows;
  runs(): RunIndexRow[];
  /** Runs whose indexed start time t satisfies from <= t <= to (RFC 3339 strings compared as text; null: unbounded), oldest first. */
  runsBetween(from: string | null, to: string | null): RunIndexRow[];
  runById(id: string): RunIndexRow | undefined;
  runByIndex(index: number): RunIndexRow | undefined;
  /** Runs matching `q`, newest (highest start index) first. A hint: callers re-check each run against its entries. */
  runsWhere(q: RunQuery): RunIndexRow[];
  /** Runs whose id starts with `prefix` (at most `limit`). */
  runsByIdPrefix(prefix: string, limit: number): RunIndexRow[];
  /**
   * Stores cosignatures, durably, in one write transaction; a row already there (same size, root, cosigner name and
   * key ID) is kept as it was. Returns how many rows were new. The first write of a store laid out before
   * cosignatures were kept adds their table (a migration); a read-only store refuses.
   */
  addCosignatures(rows: readonly CosignatureRow[]): number;
  /**
   * The stored cosignatures (of one tree size when given), by size then cosigner name. A store laid out before
   * cosignatures were kept holds none: empty, never an error.
   */
  cosignatures(size?: number): CosignatureRow[];
  /** The stored cosignature of the largest size (of one server, or one cosigner name, when given); the latest of that size. */
  lastCosigned(filter?: { server?: string | undefined; name?: string | undefined }): CosignatureRow | undefined;
  /**
   * Stores time-stamp tokens, durably, in one write transaction; a token already there is kept as it was. Returns how
   * many rows were new. The first write of a store laid out before timestamps were kept adds their table.
   */
  addTimestamps(rows: readonly TimestampRow[]): number;
  /** The stored tokens (over one tree size when given), by size then genTime. An older layout holds none. */
  timestamps(size?: number): TimestampRow[];
  integrityCheck(): string[];
  missingTriggers(): string[];
  close(): void;
}
