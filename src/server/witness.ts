/**
 * The witness of `ffaudit serve` (c2sp.org/tlog-witness): `POST /add-checkpoint` at the submission prefix (the
 * root), and the monitoring prefix `/witness`: `GET /witness/<hex sha256(origin)>/checkpoint` (the latest checkpoint
 * cosigned for that log, with the log's signature and ours) and `GET /witness/<…>/conflicts` (the evidence kept).
 *
 * add-checkpoint answers in the order the specification lists its checks: malformed → 400; origin unknown (or its
 * host disabled) → 404; no signature of the log's registered key verifies → 403; old size above the checkpoint's
 * → 400; old size not the latest cosigned size → 409 with `text/x.tlog.size`; same size, another root → 409;
 * consistency proof fails → 422; else the state moves and the answer is 200 with our cosignature line.
 *
 * "Checking the old size against the latest checkpoint and persisting the new checkpoint must be performed
 * atomically": each request is one transaction holding the host's row lock (SELECT … FOR NO KEY UPDATE, which the
 * foreign keys of the rows written here do not wait on), and the write is a compare-and-set on the (size, root) read
 * under that lock. So any number of server processes on one database never cosign two checkpoints of one size and
 * never roll a log back. The same transaction stores the checkpoint as the mirror's pending checkpoint
 * (tlog-mirror §add-checkpoint: one request updates both), and the answer is sent only after it commits.
 */
import type { Context, Hono } from 'hono';
import type { PoolClient } from 'pg';
import { parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { addSignatureLines } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { EMPTY_ROOT, verifyConsistency } from '../core/merkle.js';
import { parseVerifierKey, type Verifier } from '../core/note.js';
import { DEFAULT_MAX_ADD_CHECKPOINT_BYTES, formatTlogSize, parseAddCheckpoint } from '../core/witness-protocol.js';
import type { AppEnv, ServerDeps } from './deps.js';
import { listConflicts, recordConflict } from './conflicts.js';
import { readBody, textError } from './http.js';
import { noteOf, verifiedLogLines } from './log-note.js';
import { readPublished, writePublished, type PublishedCheckpoint } from './published.js';

/**
 * The bound on an add-checkpoint body (after decompression): 64 KiB. The old size line, 63 proof lines (about
 * 2.8 KiB) and a checkpoint with its signatures fit many times over.
 */
export const MAX_ADD_CHECKPOINT_BODY = DEFAULT_MAX_ADD_CHECKPOINT_BYTES;

/** What one add-checkpoint comes to; only `cosigned` changed the witness state. */
type Outcome =
  | { kind: 'cosigned'; line: string; epoch: number; size: number; note: string }
  | { kind: 'size'; size: number } // 409, text/x.tlog.size
  | { kind: 'refused'; status: 404 | 409 | 422; message: string };

interface HostLookup {
  id: number;
  name: string;
  status: string;
  epoch: number;
  vkey: string;
  hold: string | null;
}

// Parsing a verifier key builds a KeyObject: done once per key, not once per request. Bounded: the map is dropped
// whole if it ever holds more keys than any real deployment has hosts.
const verifiers = new Map<string, Verifier>();
function verifierFor(vkey: string): Verifier {
  let v = verifiers.get(vkey);
  if (!v) {
    if (verifiers.size >= 100_000) verifiers.clear();
    v = parseVerifierKey(vkey);
    verifiers.set(vkey, v);
  }
  return v;
}

const now = (deps: ServerDeps): number => (deps.now ? deps.now() : Math.floor(Date.now() / 1000));

/** tlog-witness §add-checkpoint, from the body's bytes to the outcome; persisted before it returns. */
export async function addCheckpoint(deps: ServerDeps, body: Uint8Array): Promise<Outcome> {
  // Untrusted input: the request's format (400), then the checkpoint inside it (400).
  const req = parseAddCheckpoint(body, MAX_ADD_CHECKPOINT_BODY);
  let cp: SignedCheckpoint;
  try {
    cp = parseSignedCheckpoint(req.checkpoint);
  } catch (e) {
    throw new FfauditError('BAD_INPUT', `add-checkpoint: the checkpoint is malformed: ${(e as Error).message}`);
  }
  // "If the checkpoint origin is unknown, the witness MUST respond with a 404": a disabled host is unknown again.
  const { rows } = await deps.db.pool.query<HostLookup>('SELECT id, name, status, epoch, vkey, hold FROM hosts WHERE origin = $1', [cp.origin]);
  const host = rows[0];
  if (!host || host.status !== 'active') return { kind: 'refused', status: 404, message: `unknown log origin ${JSON.stringify(cp.origin)}` };
  // "MUST verify the checkpoint signature against the public key(s) it trusts … MUST ignore signatures from unknown
  // keys … If none of the signatures verify against a trusted public key … 403."
  const logLines = verifiedLogLines(cp.parsed, verifierFor(host.vkey));
  if (logLines.length === 0) throw new FfauditError('FORBIDDEN', "no signature on the checkpoint verifies with the log's key");
  // "The old size MUST be equal to or lower than the checkpoint size. Otherwise … 400."
  if (req.oldSize > cp.size) throw new FfauditError('BAD_INPUT', `add-checkpoint: the old size ${req.oldSize} is larger than the checkpoint's size ${cp.size}`);
  // What we keep of the request: the checkpoint as the log signed it (nothing an unknown key added).
  const logNote = noteOf(cp.parsed.text, logLines);
  // A held host (published.ts) is checked against what this server published, read before the transaction.
  let published: PublishedCheckpoint | undefined;
  let publishedError: string | undefined;
  if (host.hold) {
    try {
      published = deps.published ? await readPublished(deps.published, cp.origin, host.vkey, deps.keys.witness) : undefined;
    } catch (e) {
      publishedError = (e as Error).message;
    }
  }

  const outcome = await deps.db.tx(async (c) => decide(c, deps, host.id, req.oldSize, req.proof, cp, logNote, published));
  if (outcome.kind === 'cosigned' && deps.published) {
    // After the commit (published.ts: the published copy never runs ahead of the database). The cosignature stands
    // even if this fails; the next one, or the next start, publishes again.
    await writePublished(deps.published, cp.origin, outcome.epoch, outcome.size, outcome.note).catch((e: Error) => deps.log(`published: ${e.message}`));
  }
  if (outcome.kind === 'refused' && outcome.status === 409 && publishedError && host.hold) {
    deps.log(`published: host ${host.name}: ${publishedError.split('\n')[0]}`);
  }
  return outcome;
}

/** The checks that read the witness state, and the compare-and-set, inside one transaction holding the host's lock. */
async function decide(
  c: PoolClient,
  deps: ServerDeps,
  hostId: number,
  oldSize: number,
  proof: Buffer[],
  cp: SignedCheckpoint,
  logNote: string,
  published: PublishedCheckpoint | undefined,
): Promise<Outcome> {
  const { rows } = await c.query<{ name: string; status: string; epoch: number; hold: string | null; w_epoch: number | null; w_size: number | null; w_root: Buffer | null; w_note: string | null }>(
    `SELECT h.name, h.status, h.epoch, h.hold, w.epoch AS w_epoch, w.size AS w_size, w.root AS w_root, w.note AS w_note
       FROM hosts h LEFT JOIN witness_state w ON w.host_id = h.id
      WHERE h.id = $1
        FOR NO KEY UPDATE OF h`,
    [hostId],
  );
  const h = rows[0];
  // Disabled (or reset) between the lookup and the lock: answer as the state now is.
  if (!h || h.status !== 'active') return { kind: 'refused', status: 404, message: `unknown log origin ${JSON.stringify(cp.origin)}` };
  const epoch = h.epoch;
  const stored = h.w_epoch === epoch && h.w_size !== null ? { size: h.w_size, root: h.w_root!, note: h.w_note! } : undefined;
  // The latest cosigned checkpoint, as far as this request is concerned: the database's, or for a held host the
  // published one when it is further (a restored database forgot it; published.ts).
  let latest = stored;
  if (h.hold && published && published.size > (stored?.size ?? 0)) latest = published;

  // Evidence first, whatever the answer: a validly signed checkpoint of a size we cosigned (as witness or mirror, or
  // published before a restore), with another root. Two checkpoints from one key that cannot both be true.
  const other = await c.query<{ role: string; note: string }>(
    "SELECT role, note FROM cosigned WHERE host_id = $1 AND epoch = $2 AND size = $3 AND root <> $4 ORDER BY role = 'witness' DESC LIMIT 1",
    [hostId, epoch, cp.size, cp.root],
  );
  let contradicted = other.rows[0] ? { note: other.rows[0].note, by: `the checkpoint of that size cosigned as ${other.rows[0].role}` } : undefined;
  if (!contradicted && published && published.size === cp.size && !published.root.equals(cp.root)) {
    contradicted = { note: published.note, by: 'the checkpoint of that size this server published' };
  }
  if (contradicted) {
    const kept = await recordConflict(c, {
      hostId,
      epoch,
      kind: 'equivocation',
      size: cp.size,
      note: logNote,
      otherNote: contradicted.note,
      detail: `signed by the log's key, size ${cp.size}, root ${cp.root.toString('base64')}: contradicts ${contradicted.by}`,
    });
    if (kept) deps.log(`witness: host ${h.name}: equivocation at size ${cp.size} kept as evidence`);
  }

  // A held host: nothing below what was published is cosigned until an administrator resolves it.
  if (h.hold && (!published || cp.size < published.size)) return { kind: 'refused', status: 409, message: `held: ${h.hold}` };

  // "The witness MUST check that the old size matches the size of the latest checkpoint it cosigned … (or zero if
  // it never cosigned a checkpoint for that origin). If it doesn't match … 409 … text/x.tlog.size."
  const latestSize = latest?.size ?? 0;
  if (oldSize !== latestSize) return { kind: 'size', size: latestSize };
  const latestRoot = latest?.root ?? EMPTY_ROOT;
  // "If the old size matches the checkpoint size, the witness MUST check that the root hashes are also identical.
  // If they don't match … 409."
  if (oldSize === cp.size && !latestRoot.equals(cp.root)) {
    return { kind: 'refused', status: 409, message: `a checkpoint of size ${cp.size} with another root was cosigned for this log` };
  }
  if (contradicted) return { kind: 'refused', status: 409, message: `a checkpoint of size ${cp.size} with another root was cosigned for this log` };
  // "If the Merkle Consistency Proof doesn't verify … 422", and the request is kept: "it might be proof of log
  // misbehavior" (but is not proof by itself, so it is 'unproven', not equivocation).
  if (!verifyConsistency(oldSize, cp.size, proof, latestRoot, cp.root)) {
    const kept = await recordConflict(c, {
      hostId,
      epoch,
      kind: 'unproven',
      size: cp.size,
      note: logNote,
      otherNote: latest?.note ?? null,
      detail: `the consistency proof from size ${oldSize} (root ${latestRoot.toString('base64')}) to size ${cp.size} does not verify`,
    });
    if (kept) deps.log(`witness: host ${h.name}: unproven checkpoint of size ${cp.size} kept`);
    return { kind: 'refused', status: 422, message: `the consistency proof from size ${oldSize} to size ${cp.size} does not verify` };
  }

  // Every check passed: cosign and persist, compare-and-set against the row read under the lock.
  const line = deps.keys.witness.cosign(cp.parsed.text, now(deps));
  const note = addSignatureLines(logNote, [line]);
  const cas =
    h.w_size === null
      ? await c.query('INSERT INTO witness_state (host_id, epoch, size, root, note) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host_id) DO NOTHING', [hostId, epoch, cp.size, cp.root, note])
      : await c.query(
          'UPDATE witness_state SET epoch = $2, size = $3, root = $4, note = $5, updated_at = now() WHERE host_id = $1 AND epoch = $6 AND size = $7 AND root = $8',
          [hostId, epoch, cp.size, cp.root, note, h.w_epoch, h.w_size, h.w_root],
        );
  // Unreachable while the lock is held; if it ever happens, nothing is cosigned and the client retries.
  if (cas.rowCount !== 1) throw new FfauditError('CONFLICT', 'the witness state changed under this request; send it again');
  await c.query("INSERT INTO cosigned (host_id, epoch, role, size, root, note) VALUES ($1, $2, 'witness', $3, $4, $5) ON CONFLICT DO NOTHING", [hostId, epoch, cp.size, cp.root, note]);
  // tlog-mirror §add-checkpoint: the same request updates the mirror's pending checkpoint, with the log's signature.
  await c.query('INSERT INTO pending_checkpoints (host_id, epoch, size, root, note) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [hostId, epoch, cp.size, cp.root, logNote]);
  return { kind: 'cosigned', line, epoch, size: cp.size, note };
}

const ORIGIN_HASH = /^[0-9a-f]{64}$/;

/** The host behind a monitoring path's `<hex sha256(origin)>`, if it is enrolled and active. */
async function activeHostByHash(deps: ServerDeps, hex: string): Promise<{ id: number; epoch: number } | undefined> {
  if (!ORIGIN_HASH.test(hex)) return undefined;
  const { rows } = await deps.db.pool.query<{ id: number; epoch: number }>("SELECT id, epoch FROM hosts WHERE origin_hash = $1 AND status = 'active'", [Buffer.from(hex, 'hex')]);
  return rows[0];
}

function sizeConflict(c: Context, size: number): Response {
  return c.body(formatTlogSize(size), 409, { 'Content-Type': 'text/x.tlog.size', 'Cache-Control': 'no-store' });
}

export function witnessRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.post('/add-checkpoint', async (c) => {
    const body = await readBody(c.req.raw, MAX_ADD_CHECKPOINT_BODY);
    const r = await addCheckpoint(deps, body);
    switch (r.kind) {
      case 'cosigned':
        // "The response body MUST be a sequence of one or more note signature lines."
        return c.body(r.line, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      case 'size':
        return sizeConflict(c, r.size);
      case 'refused':
        return textError(c, r.status, r.message);
    }
  });

  app.get('/witness/:hash/checkpoint', async (c) => {
    const host = await activeHostByHash(deps, c.req.param('hash'));
    if (!host) return textError(c, 404, 'unknown log');
    const { rows } = await deps.db.pool.query<{ note: string }>('SELECT note FROM witness_state WHERE host_id = $1 AND epoch = $2', [host.id, host.epoch]);
    if (!rows[0]) return textError(c, 404, 'nothing cosigned for this log yet');
    return c.body(rows[0].note, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  });

  app.get('/witness/:hash/conflicts', async (c) => {
    const host = await activeHostByHash(deps, c.req.param('hash'));
    if (!host) return textError(c, 404, 'unknown log');
    const rows = await listConflicts(deps.db, { hostId: host.id });
    return c.json(
      rows.map((r) => ({ kind: r.kind, epoch: r.epoch, size: r.size, seen_at: r.seen_at, detail: r.detail, note: r.note, other_note: r.other_note })),
      200,
      { 'Cache-Control': 'no-cache' },
    );
  });
}
