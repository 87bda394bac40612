/**
 * What a lineage walk and a bundle's assembly need from the logs that hold the evidence, as two small
 * asynchronous interfaces: the local ledger implements them (ledger/trace.ts, ledger/bundle.ts), and an index
 * over many hosts' logs can implement them the same way. The walk and the assembly (walk.ts, bundle.ts) are pure
 * functions of them, as a TUF client is of the fetcher it is given.
 *
 * A log is named by its origin (c2sp.org/tlog-checkpoint), so a lineage can cross logs: a file produced on one
 * host and read on another.
 */
import type { CustodyNote } from '../core/entry.js';
import type { Verifier } from '../core/note.js';
import type { RunRecord } from '../core/run.js';

/**
 * A run, in the log that recorded it. `run` is rebuilt from that log's entries, read checked against its signed
 * checkpoint (an implementation must not hand out a record its log does not hold); which runs are returned is
 * only a hint: the walk keeps a run only when its own record names the content.
 */
export interface Step {
  /** The origin of the log that holds the run. */
  log: string;
  run: RunRecord;
}

/** A custody note, in the log that recorded it (read checked, as a Step's run). */
export interface NoteStep {
  log: string;
  /** The note's entry index in that log. */
  index: number;
  note: CustodyNote;
}

export interface LineageLookup {
  /** Runs whose end lists these bytes (SHA-256 hex, lower case) among its outputs. */
  producersOf(sha256: string): Promise<Step[]>;
  /** Runs that read these bytes. */
  readersOf(sha256: string): Promise<Step[]>;
  /** Custody notes that name these bytes. */
  notesNaming(sha256: string): Promise<NoteStep[]>;
  /**
   * Why the index behind these answers cannot be taken as complete (rows that could hide a run: docs/design.md
   * invariant 5); empty when it was checked against every entry of every log it answers for. A walk that claims
   * that no run produced some content asks this first.
   */
  indexProblems(): Promise<string[]>;
}

/** One entry with its inclusion proof (RFC 9162 §2.1.3), as a log's store gives them: unchecked. */
export interface ProvenEntry {
  data: Buffer;
  proof: Buffer[];
}

/** One log's evidence, for a bundle: its identity, its latest signed checkpoint, its entries and blobs. */
export interface EvidenceSource {
  origin: string;
  /** The verifier key, as a signed-note vkey line. */
  vkey: string;
  verifier: Verifier;
  /** The latest checkpoint's text (checked by the caller), or undefined when the log is empty. */
  signedHead(): Promise<string | undefined>;
  /**
   * Checkpoints of the log that witnesses cosigned, each a signed note with the log's signature and the cosignature
   * lines (c2sp.org/tlog-cosignature), largest tree size first (checked by the caller). Optional: a source without
   * cosignatures leaves it out.
   */
  cosignedCheckpoints?(): Promise<string[]>;
  /** Entry `index` and its inclusion proof in the tree of `treeSize` leaves (checked by the caller). */
  entryWithProof(index: number, treeSize: number): Promise<ProvenEntry>;
  /** A blob's content, checked against its hash; undefined when the log does not hold it. */
  blob(sha256: string): Promise<Buffer | undefined>;
  /**
   * The RFC 3161 tokens the log keeps over its checkpoints, and their renewals (unchecked: a bundle carries them
   * and verify-bundle checks them), for a bundle of entries `lo` to `hi`: those over checkpoints larger than `lo`;
   * a source may leave out all but the few sizes nearest above `hi` and nearest at or below it (what a bundle
   * picks from). Optional: a source that keeps none leaves it out, with consistencyProof.
   */
  timestamps?(lo: number, hi: number): Promise<StoredTimestamp[]>;
  /** A consistency proof (RFC 9162 §2.1.4) from the tree of `size1` leaves to that of `size2` (checked by the caller). */
  consistencyProof?(size1: number, size2: number): Promise<Buffer[]>;
}

/** A token as a log keeps it (store/types.ts TimestampRow, as far as a bundle needs it). */
export interface StoredTimestamp {
  tokenHash: Buffer;
  size: number;
  /** The log-signed checkpoint the token vouches for, directly or through the token it renews. */
  checkpoint: string;
  renews: Buffer | null;
  token: Buffer;
}
