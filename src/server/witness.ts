/**
 * The witness of `ffaudit serve` (c2sp.org/tlog-witness): `POST /add-checkpoint` at the submission prefix (the
 * root), and the monitoring prefix `/witness`: `GET /witness/<hex sha256(origin)>/checkpoint` (the latest checkpoint
 * cosigned for that log, with the log's signature and ours) and `GET /witness/<…>/conflicts` (the evidence kept).
 *
 * add-checkpoint answers in the order the specification lists its checks: malformed → 400; origin unknown (or its
 * host disabled) → 404; no signature of the log's registered key verifies → 403; old size above the checkpoint's
 * → 400; old size not the latest cosigned size → 409 with `text/x.tlog.size`; same size, another root → 409;
 * consistency proof fails → 422; else the state moves and the answer is 200 with our cosignature lines (Ed25519, then
 * ML-DSA-44 when the server has that key). The second 409 has no body in the specification; ours is the same
 * `text/x.tlog.size` as the first, the size the witness holds: a client that sent that very size learns that the
 * witness holds another root for it (a fork, which our push client reports as such), and no client is led to send
 * anything but the truth.
 *
 * "Checking the old size against the latest checkpoint and persisting the new checkpoint must be performed
 * atomically": a request reads the log's state in one statement (one snapshot), decides, and persists in one
 * statement that is a transaction of its own: it locks the host's row (SELECT … FOR NO KEY UPDATE, re-checking that
 * the host is still active, of the same epoch and hold), then compare-and-sets the witness state on the (size, root)
 * it read, and only if that took, writes the trail row and the mirror's pending checkpoint (tlog-mirror
 * §add-checkpoint: one request updates both). If anything moved in between, nothing is written and the request is
 * decided again on the new state. So any number of server processes on one database never cosign two checkpoints of
 * one size and never roll a log back, and the answer is sent only after the commit. No transaction is held open
 * across round trips; a request that extends the state this process last saw skips the read (one round trip).
 */
import type { Context, Hono } from 'hono';
import { parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { addSignatureLines } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { EMPTY_ROOT, verifyConsistency } from '../core/merkle.js';
import { parseVerifierKey, type Verifier } from '../core/note.js';
import { DEFAULT_MAX_ADD_CHECKPOINT_BYTES, formatTlogSize, parseAddCheckpoint } from '../core/witness-protocol.js';
import type { AppEnv, ServerDeps } from './deps.js';
import { listConflicts, recordConflict } from './conflicts.js';
import { readRequestBody, textError } from './http.js';
import { noteOf, verifiedLogLines } from './log-note.js';
import { readPublished, writePublished, type PublishedCheckpoint } from './published.js';
import { withClient } from './db/pool.js';
import { mirroredRoot } from './mirror-tree.js';

/**
 * The bound on an add-checkpoint body (after decompression): 64 KiB. The old size line, 63 proof lines (about
 * 2.8 KiB) and a checkpoint with its signatures fit many times over.
 */
export const MAX_ADD_CHECKPOINT_BODY = DEFAULT_MAX_ADD_CHECKPOINT_BYTES;

/** What one add-checkpoint comes to; only `cosigned` changed the witness state. */
type Outcome =
  | { kind: 'cosigned'; lines: string; epoch: number; size: number; note: string }
  | { kind: 'size'; size: number } // 409, text/x.tlog.size
  | { kind: 'refused'; status: 404 | 409 | 422; message: string };

interface HostEntry {
  id: number;
  name: string;
  vkey: string;
  /**
   * The witness state this process last read or wrote for the host (never for a held host). Only a hint: a request
   * that extends it is cosigned with one statement whose compare-and-set checks it is still the state; otherwise
   * (another process moved it, a hold, a reset) that statement writes nothing and the request is decided on a read.
   */
  last?: { epoch: number; size: number; root: Buffer } | undefined;
}

// Enrolled hosts by origin, so a request costs no lookup before its transaction. Only what never changes once a
// host has joined is trusted from here (its id, name and log key; the origin is unique and fixed): whether it is
// still active, its epoch and any hold are checked by the statements of every request. Unknown origins are never
// cached (a host may join at any moment). Bounded: dropped whole past any real number of hosts.
const hostCache = new Map<string, HostEntry>();
// Parsing a verifier key builds a KeyObject: done once per key, not once per request.
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

/** The active host of `origin` (from the cache unless `fresh`), or undefined. */
async function activeHost(deps: ServerDeps, origin: string, fresh: boolean): Promise<HostEntry | undefined> {
  if (!fresh) {
    const hit = hostCache.get(origin);
    if (hit) return hit;
  }
  const { rows } = await deps.db.pool.query<HostEntry & { status: string }>({ name: 'ffaudit-witness-host', text: 'SELECT id, name, vkey, status FROM hosts WHERE origin = $1', values: [origin] });
  const h = rows[0];
  if (!h || h.status !== 'active') {
    hostCache.delete(origin);
    return undefined;
  }
  if (hostCache.size >= 100_000) hostCache.clear();
  const entry: HostEntry = { id: h.id, name: h.name, vkey: h.vkey };
  hostCache.set(origin, entry);
  return entry;
}

const now = (deps: ServerDeps): number => (deps.now ? deps.now() : Math.floor(Date.now() / 1000));
const unknownOrigin = (origin: string): Outcome => ({ kind: 'refused', status: 404, message: `unknown log origin ${JSON.stringify(origin)}` });

// The statements of every request, prepared once per connection (named), so PostgreSQL plans them once, not per
// request: planning cost more than running them.

/**
 * One snapshot: the host (is it active, its epoch, any hold), its witness state, and a checkpoint of the requested
 * size cosigned under this epoch with another root ($2 size, $3 root), the witness's first. One index lookup per
 * role: the trail's key is (host, epoch, role, size).
 */
const READ_STATE = `
SELECT h.status, h.epoch, h.hold, w.epoch AS w_epoch, w.size AS w_size, w.root AS w_root, w.note AS w_note, o.role AS o_role, o.note AS o_note
  FROM hosts h
  LEFT JOIN witness_state w ON w.host_id = h.id
  LEFT JOIN LATERAL (
         SELECT role, note FROM cosigned WHERE host_id = h.id AND epoch = h.epoch AND role = 'witness' AND size = $2 AND root <> $3
         UNION ALL
         SELECT role, note FROM cosigned WHERE host_id = h.id AND epoch = h.epoch AND role = 'mirror' AND size = $2 AND root <> $3
         LIMIT 1) o ON true
 WHERE h.id = $1`;

/**
 * The cosignature persisted, one statement and so one transaction: l locks the host's row, re-checked on its newest
 * version once the lock is free (still active, same epoch $2, same hold $7), provided no checkpoint of this size was
 * cosigned with another root; w compare-and-sets the witness state; only if w wrote a row, the trail row ($5 the
 * cosigned note), the mirror's pending checkpoint ($6 the log's note) and the host's last push time (search/state.ts;
 * at most once a second, the row being locked already). $1 host, $3 size, $4 root. The state is
 * created for a log never cosigned, or moved from the ($8 epoch, $9 size, $10 root) that was read: a state that moved
 * meanwhile fails w's WHERE, which PostgreSQL re-checks on the newest row version once that row's lock is free.
 */
const persistStatement = (w: string) => `
WITH l AS (SELECT id FROM hosts WHERE id = $1 AND status = 'active' AND epoch = $2 AND hold IS NOT DISTINCT FROM $7::text
              AND NOT EXISTS (SELECT 1 FROM cosigned WHERE host_id = $1 AND epoch = $2 AND role = 'witness' AND size = $3 AND root <> $4)
              AND NOT EXISTS (SELECT 1 FROM cosigned WHERE host_id = $1 AND epoch = $2 AND role = 'mirror' AND size = $3 AND root <> $4)
            FOR NO KEY UPDATE),
     w AS (${w}),
     t AS (INSERT INTO cosigned (host_id, epoch, role, size, root, note) SELECT $1, $2, 'witness', $3, $4, $5 FROM w ON CONFLICT DO NOTHING),
     p AS (INSERT INTO pending_checkpoints (host_id, epoch, size, root, note) SELECT $1, $2, $3, $4, $6::text FROM w ON CONFLICT DO NOTHING),
     a AS (UPDATE hosts SET last_push_at = now() WHERE id = (SELECT host_id FROM w) AND (last_push_at IS NULL OR last_push_at < now() - interval '1 second'))
SELECT count(*)::int AS n FROM w`;
const PERSIST_FIRST = persistStatement('INSERT INTO witness_state (host_id, epoch, size, root, note) SELECT id, $2, $3, $4, $5 FROM l ON CONFLICT (host_id) DO NOTHING RETURNING host_id');
const PERSIST_NEXT = persistStatement(
  'UPDATE witness_state SET epoch = $2, size = $3, root = $4, note = $5, updated_at = now() WHERE host_id = (SELECT id FROM l) AND epoch = $8 AND size = $9 AND root = $10 RETURNING host_id',
);

/** How often a request is decided again when its compare-and-set lost a race (each loss means the state moved). */
const MAX_ATTEMPTS = 20;

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
  const host = await activeHost(deps, cp.origin, false);
  if (!host) return unknownOrigin(cp.origin);
  // "MUST verify the checkpoint signature against the public key(s) it trusts … MUST ignore signatures from unknown
  // keys … If none of the signatures verify against a trusted public key … 403."
  const logLines = verifiedLogLines(cp.parsed, verifierFor(host.vkey));
  // "The old size MUST be equal to or lower than the checkpoint size. Otherwise … 400."
  const tooOld = req.oldSize > cp.size;
  if (logLines.length === 0 || tooOld) {
    // The checks come in the specification's order: a host disabled since it was cached is unknown (404) first.
    if (!(await activeHost(deps, cp.origin, true))) return unknownOrigin(cp.origin);
    if (logLines.length === 0) throw new FfauditError('FORBIDDEN', "no signature on the checkpoint verifies with the log's key");
    throw new FfauditError('BAD_INPUT', `add-checkpoint: the old size ${req.oldSize} is larger than the checkpoint's size ${cp.size}`);
  }
  // What we keep of the request: the checkpoint as the log signed it (nothing an unknown key added).
  const logNote = noteOf(cp.parsed.text, logLines);
  // The usual request extends the state this process last saw: checked against it, and persisted by the one
  // statement that also checks it is still the state. Anything else is decided on a fresh read.
  const last = host.last;
  let outcome: Outcome | 'moved' = 'moved';
  if (last && req.oldSize === last.size && verifyConsistency(req.oldSize, cp.size, req.proof, last.root, cp.root)) {
    outcome = await persist(deps, host, last.epoch, null, last, cp, logNote);
  }
  for (let attempt = 0; outcome === 'moved' && attempt < MAX_ATTEMPTS; attempt++) outcome = await decide(deps, host, req.oldSize, req.proof, cp, logNote);
  if (outcome === 'moved') throw new FfauditError('CONFLICT', 'the witness state kept changing under this request; send it again');
  if (outcome.kind === 'refused' && outcome.status === 404) hostCache.delete(cp.origin);
  if (outcome.kind === 'cosigned' && deps.published) {
    // After the commit (published.ts: the published copy never runs ahead of the database). The cosignature stands
    // even if this fails; the next one, or the next start, publishes again.
    await writePublished(deps.published, cp.origin, outcome.epoch, outcome.size, outcome.note).catch((e: Error) => deps.log(`published: ${e.message}`));
  }
  return outcome;
}

/** For a held host: the checkpoint published for it, or undefined (none, unreadable, or no --published). */
async function publishedFor(deps: ServerDeps, host: HostEntry, origin: string): Promise<PublishedCheckpoint | undefined> {
  if (!deps.published) return undefined;
  try {
    return await readPublished(deps.published, origin, host.vkey, deps.keys.witness);
  } catch (e) {
    deps.log(`published: host ${host.name}: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

interface StateRow {
  status: string;
  epoch: number;
  hold: string | null;
  w_epoch: number | null;
  w_size: number | null;
  w_root: Buffer | null;
  w_note: string | null;
  o_role: string | null;
  o_note: string | null;
}

/**
 * One attempt: the host, its witness state and any checkpoint of this size cosigned (as witness or mirror) with
 * another root, read in one statement; the checks in the specification's order; then, for a checkpoint that passes,
 * the cosignature persisted by one compare-and-set statement. 'moved' when that found the state changed.
 */
async function decide(deps: ServerDeps, host: HostEntry, oldSize: number, proof: Buffer[], cp: SignedCheckpoint, logNote: string): Promise<Outcome | 'moved'> {
  const hostId = host.id;
  const { rows } = await deps.db.pool.query<StateRow>({ name: 'ffaudit-witness-read', text: READ_STATE, values: [hostId, cp.size, cp.root] });
  const r = rows[0];
  // Disabled (or gone) since it was looked up: answer as the state now is.
  if (!r || r.status !== 'active') return unknownOrigin(cp.origin);
  const epoch = r.epoch;
  const stored = r.w_epoch === epoch && r.w_size !== null ? { size: r.w_size, root: r.w_root!, note: r.w_note! } : undefined;
  host.last = stored && !r.hold ? { epoch, size: stored.size, root: stored.root } : undefined;
  // The latest cosigned checkpoint, as far as this request is concerned: the database's, or for a held host the
  // published one when it is further (a restored database forgot it; published.ts).
  const published = r.hold ? await publishedFor(deps, host, cp.origin) : undefined;
  const latest = published && published.size > (stored?.size ?? 0) ? published : stored;

  // Evidence first, whatever the answer: a validly signed checkpoint of a size we cosigned (or published before a
  // restore) with another root. Two checkpoints from one key that cannot both be true.
  let contradicted = r.o_note !== null ? { note: r.o_note, by: `the checkpoint of that size cosigned as ${r.o_role}` } : undefined;
  if (!contradicted && published && published.size === cp.size && !published.root.equals(cp.root)) {
    contradicted = { note: published.note, by: 'the checkpoint of that size this server published' };
  }
  // A checkpoint below what was cosigned, of a size never cosigned itself but held by the mirror: every mirrored
  // entry was proven against a checkpoint this log signed, so another root at that size is a second history signed
  // by the same key. Only asked on this path (an honest client extends the latest size), so it costs nothing else.
  if (!contradicted && stored && cp.size < stored.size) {
    const mirrored = await withClient(deps.db, async (c) => {
      const root = await mirroredRoot(c, hostId, epoch, cp.size);
      if (!root || root.equals(cp.root)) return undefined;
      const m = await c.query<{ note: string }>('SELECT note FROM mirror_state WHERE host_id = $1 AND epoch = $2', [hostId, epoch]);
      return { root, note: m.rows[0]?.note ?? '' };
    });
    if (mirrored) contradicted = { note: mirrored.note, by: `the mirrored entries, whose root at that size is ${mirrored.root.toString('base64')}` };
  }
  if (contradicted) {
    const kept = await recordConflict(deps.db.pool, {
      hostId,
      epoch,
      kind: 'equivocation',
      size: cp.size,
      note: logNote,
      otherNote: contradicted.note,
      detail: `signed by the log's key, size ${cp.size}, root ${cp.root.toString('base64')}: contradicts ${contradicted.by}`,
    });
    if (kept) deps.log(`witness: host ${host.name}: equivocation at size ${cp.size} kept as evidence`);
  }

  // A held host: nothing below what was published is cosigned until an administrator resolves it.
  if (r.hold && (!published || cp.size < published.size)) return { kind: 'refused', status: 409, message: `held: ${r.hold}` };

  // "The witness MUST check that the old size matches the size of the latest checkpoint it cosigned … (or zero if
  // it never cosigned a checkpoint for that origin). If it doesn't match … 409 … text/x.tlog.size."
  const latestSize = latest?.size ?? 0;
  if (oldSize !== latestSize) return { kind: 'size', size: latestSize };
  const latestRoot = latest?.root ?? EMPTY_ROOT;
  // "If the old size matches the checkpoint size, the witness MUST check that the root hashes are also identical.
  // If they don't match … 409." The same for a size cosigned by the mirror with another root.
  if ((oldSize === cp.size && !latestRoot.equals(cp.root)) || contradicted) return { kind: 'size', size: latestSize };
  // "If the Merkle Consistency Proof doesn't verify … 422", and the request is kept: "it might be proof of log
  // misbehavior" (but is not proof by itself, so it is 'unproven', not equivocation).
  if (!verifyConsistency(oldSize, cp.size, proof, latestRoot, cp.root)) {
    const kept = await recordConflict(deps.db.pool, {
      hostId,
      epoch,
      kind: 'unproven',
      size: cp.size,
      note: logNote,
      otherNote: latest?.note ?? null,
      detail: `the consistency proof from size ${oldSize} (root ${latestRoot.toString('base64')}) to size ${cp.size} does not verify`,
    });
    if (kept) deps.log(`witness: host ${host.name}: unproven checkpoint of size ${cp.size} kept`);
    return { kind: 'refused', status: 422, message: `the consistency proof from size ${oldSize} to size ${cp.size} does not verify` };
  }

  // Every check passed.
  return persist(deps, host, epoch, r.hold, r.w_size === null ? undefined : { epoch: r.w_epoch!, size: r.w_size, root: r.w_root! }, cp, logNote);
}

/**
 * Cosigns `cp` and persists it in one statement (PERSIST_*), moving the witness state from `prev` (the stored row,
 * of any epoch; none for a log never cosigned) to it; 'moved' when the state, the host or its hold is no longer as
 * the caller saw it, and nothing was written.
 */
async function persist(
  deps: ServerDeps,
  host: HostEntry,
  epoch: number,
  hold: string | null,
  prev: { epoch: number; size: number; root: Buffer } | undefined,
  cp: SignedCheckpoint,
  logNote: string,
): Promise<Outcome | 'moved'> {
  // tlog-witness §add-checkpoint: "one or more note signature lines", from the witness key(s): Ed25519 first, which
  // every host checks, then ML-DSA-44 when the server has that key; a host that does not know it ignores the line.
  const at = now(deps);
  const lines = [deps.keys.witness.cosign(cp.parsed.text, at), ...(deps.keys.witnessMlDsa44 ? [deps.keys.witnessMlDsa44.cosign(cp.parsed.text, at)] : [])];
  const note = addSignatureLines(logNote, lines);
  const values: unknown[] = [host.id, epoch, cp.size, cp.root, note, logNote, hold];
  if (prev) values.push(prev.epoch, prev.size, prev.root);
  const { rows } = await deps.db.pool.query<{ n: number }>(
    prev ? { name: 'ffaudit-witness-next', text: PERSIST_NEXT, values } : { name: 'ffaudit-witness-first', text: PERSIST_FIRST, values },
  );
  if (rows[0]?.n !== 1) {
    host.last = undefined;
    return 'moved';
  }
  host.last = hold === null ? { epoch, size: cp.size, root: cp.root } : undefined;
  return { kind: 'cosigned', lines: lines.join(''), epoch, size: cp.size, note };
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
    const body = await readRequestBody(c, MAX_ADD_CHECKPOINT_BODY);
    const r = await addCheckpoint(deps, body);
    switch (r.kind) {
      case 'cosigned':
        // "The response body MUST be a sequence of one or more note signature lines."
        return c.body(r.lines, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
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
