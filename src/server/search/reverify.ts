/**
 * Re-verifying the server's mirrors, as local `verify` does a ledger: every mirrored entry of the current epoch
 * hashes to its stored leaf (RFC 6962 §2.1 leaf hash), the leaves give the root of the mirror checkpoint (RFC 9162
 * §2.1.1 MTH), and so do the stored interior nodes that tiles and proofs are served from, and that checkpoint's note
 * verifies with the log's key; and its RFC 3161 timestamps (../timestamp-check.ts), their tokens too when the TSA's
 * CA is known. Run on a schedule (serve --reverify-every), on demand (serve verify, POST
 * /api/v1/logs/{host}/verify); each check is recorded in mirror_checks with its findings.
 */
import { openCheckpoint } from '../../core/checkpoint.js';
import { isFfauditError } from '../../core/errors.js';
import { Frontier, hashLeaf } from '../../core/merkle.js';
import { parseVerifierKey } from '../../core/note.js';
import type { Db } from '../db/pool.js';
import { storedRoot } from '../mirror-tree.js';
import { checkTimestamps } from '../timestamp-check.js';
import { readOnly } from './read.js';

/** Findings kept per check. */
export const MAX_PROBLEMS = 100;
/** Entries read per query: a log can hold millions. */
const CHUNK = 4096;

export interface ReverifyOptions {
  /** PEM text of the TSA's CA certificate(s) (serve --tsa-ca): without it the timestamps' tokens are not verified. */
  tsaCa?: string | undefined;
}

/** Re-verifies the mirror of host `hostId` (its current epoch) and records the check. */
export async function reverifyMirror(
  db: Db,
  hostId: number,
  opts: ReverifyOptions = {},
): Promise<{ ok: boolean; size: number; problems: string[]; timestamps: { stored: number; verified: number; unchecked: number } }> {
  const { rows } = await db.pool.query<{ origin: string | null; vkey: string | null; epoch: number; size: number | null; root: Buffer | null; note: string | null }>(
    'SELECT h.origin, h.vkey, h.epoch, m.size, m.root, m.note FROM hosts h LEFT JOIN mirror_state m ON m.host_id = h.id AND m.epoch = h.epoch WHERE h.id = $1',
    [hostId],
  );
  const h = rows[0];
  const problems: string[] = [];
  let more = 0;
  const problem = (line: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(line);
    else more++;
  };
  const epoch = h?.epoch ?? 0;
  const size = Number(h?.size ?? 0);
  if (h && h.origin !== null && h.vkey !== null && h.size !== null && h.root !== null && h.note !== null) {
    try {
      const cp = openCheckpoint(h.note, [parseVerifierKey(h.vkey)], h.origin);
      if (cp.size !== size || !cp.root.equals(h.root)) problem(`the mirror checkpoint's note is of size ${cp.size}, its stored size ${size}, or its root differs`);
    } catch (e) {
      problem(`the mirror checkpoint of size ${size} does not verify with the log's key: ${isFfauditError(e) ? e.message : String(e)}`);
    }
    const frontier = new Frontier();
    for (let from = 0; from < size; from += CHUNK) {
      const to = Math.min(from + CHUNK, size);
      // Each chunk in a short read-only transaction of its own: a long check holds no snapshot for its whole length.
      const chunk = await readOnly(db, async (c) => {
        const r = await c.query<{ idx: number; data: Buffer; leaf: Buffer }>('SELECT idx, data, leaf FROM mirror_entries WHERE host_id = $1 AND epoch = $2 AND idx >= $3 AND idx < $4 ORDER BY idx', [
          hostId,
          epoch,
          from,
          to,
        ]);
        return r.rows;
      });
      let expect = from;
      for (const e of chunk) {
        const idx = Number(e.idx);
        for (; expect < idx; expect++) {
          problem(`entry ${expect} is missing`);
          frontier.push(Buffer.alloc(32));
        }
        if (!hashLeaf(e.data).equals(e.leaf)) problem(`entry ${idx} does not hash to its stored leaf`);
        frontier.push(e.leaf);
        expect = idx + 1;
      }
      for (; expect < to; expect++) {
        problem(`entry ${expect} is missing`);
        frontier.push(Buffer.alloc(32));
      }
    }
    if (!frontier.root().equals(h.root)) problem(`the mirrored entries do not hash to the root of the mirror checkpoint of size ${size}`);
    else {
      try {
        const nodes = await readOnly(db, (c) => storedRoot(c, hostId, epoch, size));
        if (!nodes.equals(h.root)) problem(`the stored tree nodes do not hash to the root of the mirror checkpoint of size ${size}`);
      } catch (e) {
        problem(`the stored tree of size ${size} cannot be read: ${isFfauditError(e) ? e.message : String(e)}`);
      }
    }
  }
  const timestamps = { stored: 0, verified: 0, unchecked: 0 };
  if (h && h.origin !== null && h.vkey !== null) {
    try {
      const t = await checkTimestamps(db, { hostId, epoch, origin: h.origin, vkey: h.vkey, mirrorSize: size }, opts.tsaCa);
      for (const p of t.problems) problem(p);
      Object.assign(timestamps, { stored: t.stored, verified: t.verified, unchecked: t.unchecked });
    } catch (e) {
      problem(`the timestamps cannot be checked: ${isFfauditError(e) ? e.message : String(e)}`);
    }
  }
  if (more > 0) problems[MAX_PROBLEMS - 1] = `… and ${more + 1} more problems`;
  const ok = problems.length === 0;
  await db.pool.query('INSERT INTO mirror_checks (host_id, epoch, size, ok, problems) VALUES ($1, $2, $3, $4, $5::jsonb)', [hostId, epoch, size, ok, JSON.stringify(problems)]);
  return { ok, size, problems, timestamps };
}

/** Re-verifies every mirrored log (active or disabled), one line each; a failure of one does not stop the others. */
export async function reverifyAll(db: Db, log: (line: string) => void, opts: ReverifyOptions = {}): Promise<void> {
  const { rows } = await db.pool.query<{ id: number; name: string }>("SELECT id, name FROM hosts WHERE origin IS NOT NULL AND status IN ('active', 'disabled') AND NOT witness_only ORDER BY id");
  for (const r of rows) {
    try {
      const v = await reverifyMirror(db, Number(r.id), opts);
      log(`reverify ${r.name}: ${v.ok ? 'ok' : `${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}: ${v.problems.slice(0, 3).join('; ')}`} (size ${v.size})`);
    } catch (e) {
      log(`reverify ${r.name}: could not run: ${(e as Error).message.split('\n')[0]}`);
    }
  }
}
