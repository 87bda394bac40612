/**
 * What a push sends a team server, built from the ledger (which a push only reads, but for the cosignatures it
 * brings back): the witness's add-checkpoint body (c2sp.org/tlog-witness), the mirror's add-entries bodies
 * (c2sp.org/tlog-mirror), and the blobs the pushed entries name (PUT /blobs). Entries are read through the
 * ledger's checked reads, so an entry altered in the store is never pushed: the read fails first.
 *
 * Nothing here talks to the server: the client (client.ts) sends what the plan gives and replans from the
 * server's answers (a 409's size, a 202's next entry).
 */
import { sha256Hex } from '../core/entry.js';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import type { NodeSource } from '../core/merkle.js';
import { encodeAddEntries, packageRanges } from '../core/mirror-protocol.js';
import { subtreeConsistencyProof } from '../core/subtree.js';
import { formatAddCheckpoint, MAX_PROOF_LINES } from '../core/witness-protocol.js';
import { namedBlobs } from '../ledger/blob.js';
import type { Ledger } from '../ledger/ledger.js';

/** c2sp.org/tlog-mirror §Implementation Considerations: "clients SHOULD limit each add-entries request to at most 32 entry packages". */
export const MAX_PACKAGES_PER_REQUEST = 32;

/** What the client knows of the server's state for this log. */
export interface ServerState {
  /**
   * The tree size the witness last cosigned for this log (tlog-witness: the old size it expects), from the
   * ledger's own cosignatures or a 409's text/x.tlog.size; 0 when unknown (the witness then answers with it).
   */
  witnessSize: number;
  /**
   * Whether the ledger holds the witness's cosignature of this very checkpoint (size and root): then there is no
   * add-checkpoint to send. A size learnt from a 409 says nothing of the root, so the checkpoint is sent again
   * (old size = size: the witness checks that the roots match, tlog-witness §add-checkpoint).
   */
  cosignedHead?: boolean;
}

/** One add-entries request: entries [uploadStart, end) proven against the checkpoint of size uploadEnd. */
export interface AddEntriesRequest {
  uploadStart: number;
  uploadEnd: number;
  /** The entries carried are [uploadStart, end): a prefix of the upload of at most 32 packages. */
  end: number;
  packages: number;
  /** The request body (c2sp.org/tlog-mirror §Request Body), before any content encoding. */
  body: Buffer;
  /** The blobs the carried entries name (a report, a field moved out of its entry), each with its entry's index. */
  blobs: { sha256: string; index: number }[];
}

export interface PushPlan {
  origin: string;
  /** Hex SHA-256 of the origin: the log's path segment on the server (/blobs/<it>/…, /witness/<it>/…). */
  originHash: string;
  /** The checkpoint pushed (the ledger's head when planned), byte-exact, its size and root. */
  checkpoint: string;
  size: number;
  root: Buffer;
  /** The add-checkpoint request from the witness's size, or undefined when it already cosigned this checkpoint. */
  addCheckpoint: { oldSize: number; body: Buffer } | undefined;
  /**
   * The add-entries request that uploads from `uploadStart` towards `uploadEnd` (default: the checkpoint's size),
   * at most 32 packages, with `ticket` (the mirror's, or empty); undefined when there is nothing to upload.
   */
  addEntries(uploadStart: number, uploadEnd?: number, ticket?: Buffer): AddEntriesRequest | undefined;
}

/** The stored tree, as proofs read it (unchecked: the server verifies every proof, and refuses a wrong one). */
function treeOf(ledger: Ledger): NodeSource {
  return { perfect: (level, index) => ledger.treeNode(level, index) };
}

/**
 * The add-checkpoint body that brings the witness from `oldSize` to the checkpoint: tlog-witness §add-checkpoint,
 * an RFC 6962 §2.1.2 consistency proof (empty from 0, and for the same size).
 */
export function addCheckpointBody(ledger: Ledger, oldSize: number, checkpoint: string, size: number): Buffer {
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > size) throw new FfauditError('INTERNAL', `no consistency proof from size ${oldSize} to ${size}`);
  const proof = ledger.consistency(oldSize, size);
  if (proof.length > MAX_PROOF_LINES) throw new FfauditError('INTERNAL', `a consistency proof of ${proof.length} hashes is longer than tlog-witness allows`);
  return formatAddCheckpoint({ oldSize, proof, checkpoint });
}

/**
 * One add-entries request (c2sp.org/tlog-mirror §Request Body): the first `maxPackages` packages of the canonical
 * sequence of [uploadStart, uploadEnd), each with its entries and the subtree consistency proof of
 * [rounded_start + i·256, end) against the tree of uploadEnd entries (draft-ietf-plants-merkle-tree-certs
 * §Subtree Consistency Proofs).
 */
export function addEntriesRequest(ledger: Ledger, uploadStart: number, uploadEnd: number, ticket: Buffer = Buffer.alloc(0), maxPackages = MAX_PACKAGES_PER_REQUEST): AddEntriesRequest | undefined {
  if (!Number.isSafeInteger(uploadStart) || !Number.isSafeInteger(uploadEnd) || uploadStart < 0 || uploadStart > uploadEnd || uploadEnd > ledger.size()) {
    throw new FfauditError('INTERNAL', `cannot upload entries ${uploadStart} to ${uploadEnd} of a log of ${ledger.size()}`);
  }
  if (uploadStart === uploadEnd) return undefined;
  const ranges = packageRanges(uploadStart, uploadEnd).slice(0, maxPackages);
  const end = ranges[ranges.length - 1]!.end;
  const entries = ledger.entries(uploadStart, end); // checked reads: an altered entry stops the push here
  const tree = treeOf(ledger);
  const packages = ranges.map((r) => ({
    entries: entries.slice(r.start - uploadStart, r.end - uploadStart),
    proof: subtreeConsistencyProof(tree, r.subtreeStart, r.end, uploadEnd),
  }));
  const blobs: AddEntriesRequest['blobs'] = [];
  entries.forEach((data, k) => {
    for (const sha256 of namedBlobs(data)) blobs.push({ sha256, index: uploadStart + k });
  });
  return { uploadStart, uploadEnd, end, packages: ranges.length, body: encodeAddEntries({ origin: ledger.origin, uploadStart, uploadEnd, ticket }, packages), blobs };
}

/**
 * The push of the ledger's current head: the add-checkpoint from what the witness last cosigned (none when it
 * cosigned this very size), and the add-entries requests to build from wherever the mirror says it stands.
 * RFC 6962 consistency and subtree proofs come from the stored tree; the entries through checked reads.
 */
export function planPush(ledger: Ledger, state: ServerState): PushPlan {
  const checkpoint = ledger.checkpoint();
  const cp = parseSignedCheckpoint(checkpoint);
  const size = cp.size;
  if (state.witnessSize > size) {
    throw new FfauditError('INTEGRITY', `the server's witness already cosigned a checkpoint of ${state.witnessSize} entries, but this log holds ${size}: entries were removed or an older copy of the ledger was restored (run ffaudit verify --trusted SERVER)`);
  }
  return {
    origin: ledger.origin,
    originHash: sha256Hex(Buffer.from(ledger.origin, 'utf8')),
    checkpoint,
    size,
    root: cp.root,
    addCheckpoint: state.cosignedHead === true && state.witnessSize === size ? undefined : { oldSize: state.witnessSize, body: addCheckpointBody(ledger, state.witnessSize, checkpoint, size) },
    addEntries: (uploadStart, uploadEnd = size, ticket) => addEntriesRequest(ledger, uploadStart, uploadEnd, ticket),
  };
}
