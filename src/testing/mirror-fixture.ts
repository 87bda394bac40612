/**
 * TEST HELPERS for the mirror (src/server/mirror*.test.ts): a real ledger as a host's log, enrolled on a test
 * server database; add-entries bodies written byte by byte from c2sp.org/tlog-mirror §Request Body with subtree
 * consistency proofs computed naively from draft-ietf-plants-merkle-tree-certs §Subtree Consistency Proofs (none of
 * core/mirror-protocol.ts or core/subtree.ts is used to build them); and an independent check of a mirror's
 * cosignature from c2sp.org/tlog-cosignature with node:crypto alone.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { join } from 'node:path';
import { openCheckpoint } from '../core/checkpoint.js';
import type { EntryBase } from '../core/entry.js';
import { parseVerifierKey } from '../core/note.js';
import { prepareBlob, type PreparedBlob } from '../ledger/blob.js';
import { Ledger } from '../ledger/ledger.js';
import type { Db } from '../server/db/pool.js';
import { addHost, joinHost, originHash } from '../server/hosts.js';
import { naiveLeaf, naiveRoot } from './fixtures.js';

export interface HostLog {
  ledger: Ledger;
  origin: string;
  vkey: string;
  /** The hex SHA-256 of the origin: the path element of /mirror/<h>/ and /blobs/<h>/. */
  h: string;
  /** The stored bytes of every entry, as the ledger signed them. */
  entries: Buffer[];
  leaves: Buffer[];
  /** The signed checkpoint of each size in `sizes`. */
  checkpoints: Map<number, string>;
  /** The blobs the entries name (reports and fields moved out), by SHA-256 hex. */
  blobs: Map<string, Buffer>;
}

const BY = { user: 'alice', uid: 1000, host: 'edit-ws-1' };
const TIME = '2026-12-05T10:00:00.000000000Z';

/**
 * A real ledger in `dir` with appends ending at each of `sizes` (ascending): custody-note-like entries; every 97th
 * holds a field too large for an entry (the ledger moves it to a blob: {"$blob", "size"}), every 50th names a report
 * blob stored with it (`report_sha256`, as a run's end does).
 */
export function makeHostLog(dir: string, origin: string, sizes: readonly number[]): HostLog {
  const ledger = Ledger.init(join(dir, 'ledger'), { origin });
  const checkpoints = new Map<number, string>();
  let n = 0;
  for (const size of sizes) {
    const batch: EntryBase[] = [];
    const blobs: PreparedBlob[] = [];
    for (; n < size; n++) {
      const e: EntryBase = { v: 1, type: 'test.note', time: TIME, by: BY, text: `entry ${n} of ${origin}` };
      if (n % 97 === 5) e.attachment = `${n}:`.padEnd(70_000, 'x');
      if (n % 50 === 7) {
        const report = prepareBlob(Buffer.from(`ffmpeg report of entry ${n}\n`.repeat(40)));
        blobs.push(report);
        e.report_sha256 = report.sha256;
      }
      batch.push(e);
    }
    checkpoints.set(size, ledger.append(batch, blobs).checkpoint);
  }
  const entries = ledger.entries(0, n);
  const blobs = new Map<string, Buffer>();
  for (const sha of ledger.blobHashes()) blobs.set(sha, ledger.blob(sha)!);
  return { ledger, origin, vkey: ledger.vkey, h: originHash(origin).toString('hex'), entries, leaves: entries.map((e) => naiveLeaf(e)), checkpoints, blobs };
}

/** Enrols the log as host `name` (hosts add, then join with the token); returns the host id. */
export async function enrolHost(db: Db, name: string, log: Pick<HostLog, 'origin' | 'vkey'>): Promise<number> {
  const { token } = await addHost(db, name);
  await joinHost(db, token, log.origin, log.vkey);
  const { rows } = await db.pool.query<{ id: number }>('SELECT id FROM hosts WHERE name = $1', [name]);
  return Number(rows[0]!.id);
}

/**
 * Makes a signed checkpoint a pending checkpoint of the mirror, as POST /add-checkpoint does (tlog-mirror
 * §add-checkpoint), after checking the log's signature on it.
 */
export async function addPending(db: Db, hostId: number, vkey: string, note: string): Promise<void> {
  const cp = openCheckpoint(note, [parseVerifierKey(vkey)]);
  await db.pool.query(
    'INSERT INTO pending_checkpoints (host_id, epoch, size, root, note) SELECT id, epoch, $2, $3, $4 FROM hosts WHERE id = $1 ON CONFLICT DO NOTHING',
    [hostId, cp.size, cp.root, note],
  );
}

/** A big-endian uint16, byte by byte. */
export function be16(n: number): Buffer {
  assert.ok(Number.isInteger(n) && n >= 0 && n < 0x10000);
  return Buffer.from([n >> 8, n & 0xff]);
}

/** A big-endian uint64, byte by byte. */
export function be64(n: number): Buffer {
  const b = Buffer.alloc(8);
  let x = BigInt(n);
  for (let i = 7; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/** The largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * SUBTREE_PROOF(start, end, D_n) of the draft, §Generating a Subtree Consistency Proof, by recursion over naive
 * roots of the leaf hashes D_n = `leaves`:
 *   SUBTREE_SUBPROOF(start, end, D_n, b): if start = 0 and end = n: {} when b, else {MTH(D_n)};
 *   k = largest power of two < n; end ≤ k: SUBPROOF(start, end, D[0:k], b) : MTH(D[k:n]);
 *   k ≤ start: SUBPROOF(start − k, end − k, D[k:n], b) : MTH(D[0:k]);
 *   else: SUBPROOF(0, end − k, D[k:n], false) : MTH(D[0:k]).
 */
export function naiveSubtreeProof(leaves: readonly Buffer[], start: number, end: number): Buffer[] {
  const sub = (s: number, e: number, d: readonly Buffer[], b: boolean): Buffer[] => {
    const n = d.length;
    if (s === 0 && e === n) return b ? [] : [naiveRoot(d)];
    const k = split(n);
    if (e <= k) return [...sub(s, e, d.slice(0, k), b), naiveRoot(d.slice(k))];
    if (k <= s) return [...sub(s - k, e - k, d.slice(k), b), naiveRoot(d.slice(0, k))];
    return [...sub(0, e - k, d.slice(k), false), naiveRoot(d.slice(0, k))];
  };
  return start === end ? [] : sub(start, end, leaves, true);
}

/** The header of an add-entries body: u16 origin size, origin, u64 upload_start, u64 upload_end, u16 ticket size, ticket. */
export function specHeader(origin: string, uploadStart: number, uploadEnd: number, ticket: Buffer = Buffer.alloc(0)): Buffer {
  const o = Buffer.from(origin, 'utf8');
  return Buffer.concat([be16(o.length), o, be64(uploadStart), be64(uploadEnd), be16(ticket.length), ticket]);
}

/**
 * Package i of the canonical sequence of [uploadStart, uploadEnd), as §Request Body defines it: the entries of
 * [max(upload_start, rounded_start + 256i), min(upload_end, rounded_start + 256(i+1))), each with a u16 length, then
 * u8 num_hashes and the subtree consistency proof of [rounded_start + 256i, end) against the tree of upload_end.
 */
export function specPackage(log: Pick<HostLog, 'entries' | 'leaves'>, uploadStart: number, uploadEnd: number, i: number): { start: number; end: number; bytes: Buffer } {
  const roundedStart = uploadStart - (uploadStart % 256);
  const start = Math.max(uploadStart, roundedStart + i * 256);
  const end = Math.min(uploadEnd, roundedStart + (i + 1) * 256);
  const parts: Buffer[] = [];
  for (let j = start; j < end; j++) parts.push(be16(log.entries[j]!.length), log.entries[j]!);
  const proof = naiveSubtreeProof(log.leaves.slice(0, uploadEnd), roundedStart + i * 256, end);
  parts.push(Buffer.from([proof.length]), ...proof);
  return { start, end, bytes: Buffer.concat(parts) };
}

/** The number of packages in the canonical sequence of [uploadStart, uploadEnd). */
export function packageCountOf(uploadStart: number, uploadEnd: number): number {
  if (uploadStart === uploadEnd) return 0;
  return (Math.ceil(uploadEnd / 256) * 256 - (uploadStart - (uploadStart % 256))) / 256;
}

/** A whole body: the header and the first `packages` packages (default: all of them). */
export function specBody(log: HostLog, uploadStart: number, uploadEnd: number, packages = packageCountOf(uploadStart, uploadEnd)): Buffer {
  const parts = [specHeader(log.origin, uploadStart, uploadEnd)];
  for (let i = 0; i < packages; i++) parts.push(specPackage(log, uploadStart, uploadEnd, i).bytes);
  return Buffer.concat(parts);
}

/**
 * Checks a cosignature line with node:crypto alone (c2sp.org/tlog-cosignature): `— <name> base64(key ID ‖ u64
 * timestamp ‖ Ed25519 signature)`, key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4], signed message
 * `cosignature/v1\ntime <timestamp>\n` ‖ the checkpoint's note text. Returns the timestamp; throws when it fails.
 */
export function checkCosignatureIndependently(line: string, checkpointNote: string, cosignerVkey: string): number {
  const [, name, idHex, keyB64] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(cosignerVkey.trim())!;
  const typed = Buffer.from(keyB64!, 'base64');
  assert.equal(typed[0], 0x04, 'a cosignature/v1 vkey has type 0x04');
  const pub = typed.subarray(1);
  const keyId = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`, 'utf8'), Buffer.from([0x04]), pub])).digest().subarray(0, 4);
  assert.equal(keyId.toString('hex'), idHex);
  const m = /^\u2014 (\S+) (\S+)\n$/.exec(line);
  assert.ok(m, `not a signature line: ${JSON.stringify(line)}`);
  assert.equal(m[1], name);
  const raw = Buffer.from(m[2]!, 'base64');
  assert.equal(raw.length, 4 + 8 + 64);
  assert.deepEqual(raw.subarray(0, 4), keyId);
  const timestamp = raw.readBigUInt64BE(4);
  const text = checkpointNote.slice(0, checkpointNote.lastIndexOf('\n\n') + 1);
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
  assert.ok(cryptoVerify(null, Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`, 'utf8'), spki, raw.subarray(12)), 'the cosignature verifies');
  return Number(timestamp);
}
