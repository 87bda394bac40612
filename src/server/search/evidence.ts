/**
 * One mirrored log as an EvidenceSource (lineage/lookup.ts), for bundles and reports built on the server: the log's
 * key as enrolled, the checkpoints the server cosigned (as witness and as mirror) with every cosignature line it holds
 * for them, each entry with its RFC 9162 §2.1.3 inclusion proof computed over the stored tree, and the RFC 3161
 * tokens the server took over its mirror checkpoints (serve --tsa) with consistency proofs to tie them to the
 * bundle's checkpoint. Nothing is trusted here: the bundle assembly (lineage/bundle.ts) checks the checkpoint with the log's key and every proof.
 */
import type { PoolClient } from 'pg';
import { addSignatureLines } from '../../core/cosignature.js';
import { sha256Hex } from '../../core/entry.js';
import { FfauditError } from '../../core/errors.js';
import { consistencyProof, inclusionProof } from '../../core/merkle.js';
import { parseNote, parseVerifierKey } from '../../core/note.js';
import type { EvidenceSource, ProvenEntry, StoredTimestamp } from '../../lineage/lookup.js';
import type { Db } from '../db/pool.js';
import { withStoredTree } from '../mirror-tree.js';
import { readOnly } from './read.js';

/** The cosigned checkpoints a source offers, largest first: enough to cover any bundle, bounded. */
const MAX_COSIGNED = 100;
/**
 * The stamped sizes a source offers a bundle on either side of its last entry (it carries the tokens of one; the
 * next are there in case a checkpoint fails its checks), and the most tokens of one size (a checkpoint's, renewals).
 */
const NEAREST_SIZES = 4;
const MAX_TOKENS_PER_SIZE = 200;

interface LogRow {
  id: number;
  epoch: number;
  vkey: string;
  size: number | null;
}

/** The cosigned notes of one (size, root) merged: the first note, with every other note's signature lines added. */
function merged(notes: readonly string[]): string | undefined {
  let out: string | undefined;
  for (const n of notes) {
    try {
      if (out === undefined) {
        parseNote(n);
        out = n;
        continue;
      }
      const split = n.lastIndexOf('\n\n');
      out = addSignatureLines(out, n.slice(split + 2).split(/(?<=\n)/));
    } catch {
      // A stored note that does not parse adds nothing (the caller checks what it is given).
    }
  }
  return out;
}

/** The cosigned checkpoints of the current epoch within the mirror's size, largest first, each merged across roles. */
async function cosigned(c: PoolClient, log: LogRow, limit: number): Promise<string[]> {
  if (log.size === null) return [];
  const { rows } = await c.query<{ size: number; root: Buffer; notes: string[] }>(
    `SELECT size, root, array_agg(note ORDER BY role DESC) AS notes FROM cosigned
      WHERE host_id = $1 AND epoch = $2 AND size <= $3 GROUP BY size, root ORDER BY size DESC LIMIT $4`,
    [log.id, log.epoch, log.size, limit],
  );
  const out: string[] = [];
  for (const r of rows) {
    const m = merged(r.notes);
    if (m !== undefined) out.push(m);
  }
  return out;
}

/** The EvidenceSource of the mirrored log `origin` (its current epoch). NOT_FOUND for an origin the server does not mirror. */
export async function mirrorEvidence(db: Db, origin: string): Promise<EvidenceSource> {
  const log = await readOnly(db, async (c) => {
    const { rows } = await c.query<LogRow>(
      'SELECT h.id, h.epoch, h.vkey, m.size FROM hosts h LEFT JOIN mirror_state m ON m.host_id = h.id AND m.epoch = h.epoch WHERE h.origin = $1 AND h.vkey IS NOT NULL',
      [origin],
    );
    return rows[0];
  });
  if (!log) throw new FfauditError('NOT_FOUND', `no mirrored log ${JSON.stringify(origin)}`);
  const id = Number(log.id);
  const info: LogRow = { id, epoch: log.epoch, vkey: log.vkey, size: log.size === null ? null : Number(log.size) };
  let verifier;
  try {
    verifier = parseVerifierKey(log.vkey);
  } catch {
    throw new FfauditError('INTEGRITY', `the verifier key stored for ${origin} is malformed`);
  }
  return {
    origin,
    vkey: log.vkey,
    verifier,
    async signedHead() {
      // The newest checkpoint the server cosigned that the mirror holds every entry of: a bundle's proofs are
      // computed over the mirrored tree, so a witness-only checkpoint beyond it could not be proven against.
      return (await readOnly(db, (c) => cosigned(c, info, 1)))[0];
    },
    async cosignedCheckpoints() {
      return readOnly(db, (c) => cosigned(c, info, MAX_COSIGNED));
    },
    async entryWithProof(index: number, treeSize: number): Promise<ProvenEntry> {
      if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) {
        throw new FfauditError('NOT_FOUND', `entry ${index} is not in the tree of size ${treeSize}`);
      }
      if (info.size === null || treeSize > info.size) throw new FfauditError('NOT_FOUND', `the mirror of ${origin} does not hold a tree of size ${treeSize}`);
      return readOnly(db, async (c) => {
        const { rows } = await c.query<{ data: Buffer }>('SELECT data FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx = $3', [id, info.epoch, index]);
        if (!rows[0]) throw new FfauditError('NOT_FOUND', `entry ${index} of ${origin} is not mirrored`);
        const proof = await withStoredTree(c, id, info.epoch, (src) => inclusionProof(src, index, treeSize));
        return { data: rows[0].data, proof };
      });
    },
    async timestamps(lo: number, hi: number): Promise<StoredTimestamp[]> {
      // The current epoch's tokens over checkpoints the mirror holds, of the few stamped sizes nearest above `hi`
      // and nearest in (lo, hi], a renewal after the token it renews: the assembly picks the smallest timestamped
      // checkpoint that covers the bundle, else the largest that covers some of it.
      const rows = await readOnly(db, async (c) => {
        const r = await c.query<{ token_hash: Buffer; size: string; checkpoint: string; renews: Buffer | null; token: Buffer }>(
          `WITH near AS (
             (SELECT DISTINCT size FROM timestamps WHERE host_id = $1 AND epoch = $2 AND size > $4 AND size <= $5 ORDER BY size LIMIT $6)
             UNION
             (SELECT DISTINCT size FROM timestamps WHERE host_id = $1 AND epoch = $2 AND size > $3 AND size <= LEAST($4, $5) ORDER BY size DESC LIMIT $6)
           )
           SELECT token_hash, size, checkpoint, renews, token FROM (
             SELECT t.*, row_number() OVER (PARTITION BY t.size ORDER BY t.generation) AS n
               FROM timestamps t WHERE t.host_id = $1 AND t.epoch = $2 AND t.size IN (SELECT size FROM near)
           ) x WHERE n <= $7 ORDER BY size, generation`,
          [id, info.epoch, lo, hi, info.size ?? 0, NEAREST_SIZES, MAX_TOKENS_PER_SIZE],
        );
        return r.rows;
      });
      return rows.map((r) => ({ tokenHash: r.token_hash, size: Number(r.size), checkpoint: r.checkpoint, renews: r.renews, token: r.token }));
    },
    async consistencyProof(size1: number, size2: number): Promise<Buffer[]> {
      if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size1 > size2 || info.size === null || size2 > info.size) {
        throw new FfauditError('NOT_FOUND', `the mirror of ${origin} does not hold trees of sizes ${size1} and ${size2}`);
      }
      return readOnly(db, (c) => withStoredTree(c, id, info.epoch, (src) => consistencyProof(src, size1, size2)));
    },
    async blob(sha256: string) {
      const b = await readOnly(db, async (c) => {
        const { rows } = await c.query<{ data: Buffer }>('SELECT data FROM blobs WHERE sha256 = $1', [Buffer.from(sha256, 'hex')]);
        return rows[0]?.data;
      });
      if (b === undefined) return undefined;
      if (sha256Hex(b) !== sha256) throw new FfauditError('INTEGRITY', `blob ${sha256} does not match its hash`);
      return b;
    },
  };
}
