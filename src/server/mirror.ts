/**
 * The mirror's submission API, c2sp.org/tlog-mirror §add-entries: `POST /add-entries` streams a body of entry
 * packages, each proven against a pending checkpoint by a subtree consistency proof and committed whole in one
 * transaction (never split across two); once every package of [upload_start, upload_end) is in, the mirror checkpoint moves to the pending
 * checkpoint of size upload_end (never backwards) and the mirror cosigns it (tlog-cosignature).
 *
 * Pending checkpoints are written by POST /add-checkpoint (the witness, tlog-mirror §add-checkpoint), one row per
 * size in pending_checkpoints, and none is ever dropped: every previously valid pending checkpoint stays a valid
 * upload_end. That is why this mirror issues empty tickets and derives nothing from the ticket a client sends
 * (§Processing lets a ticket carry past pending checkpoints; ours are all in the database already, and a ticket we
 * never read cannot be forged into anything).
 *
 * Choices the specification leaves to the mirror, and ours:
 * - "upload_start … too far below the mirror's next entry": more than PACKAGE_WIDTH (256) of the entries the request
 *   would send are ones the mirror already holds. A client one package behind a concurrent upload still goes on;
 *   one further behind gets the next entry in a 409 and resumes there instead of re-sending what is held.
 * - A body that ends, or turns malformed, after at least one package was committed is the "interrupted request
 *   that the mirror committed partially" of §Processing: 202 with the next entry. Before any: 400.
 * - Bytes after the last package of the canonical sequence are not read.
 */
import type { Context, Hono } from 'hono';
import type { PoolClient } from 'pg';
import { addSignatureLines } from '../core/cosignature.js';
import { isBlobRef, parseEntry, SHA256_HEX } from '../core/entry.js';
import { FfauditError, isFfauditError } from '../core/errors.js';
import { Frontier, hashLeaf } from '../core/merkle.js';
import { AddEntriesParser, formatMirrorInfo, PACKAGE_WIDTH, type AddEntriesHeader, type EntryPackage, type PackageRange } from '../core/mirror-protocol.js';
import { parseNote } from '../core/note.js';
import { verifySubtreeConsistency } from '../core/subtree.js';
import type { AppEnv, ServerDeps } from './deps.js';
import { withClient } from './db/pool.js';
import { bodyStream } from './http.js';
import { insertCompletedBlocks, leafHashes, nextEntry, storedRoot } from './mirror-tree.js';
import { blobRoutes } from './blobs.js';
import { mirrorTileRoutes } from './mirror-tiles.js';
import { mirrorTimestampRoutes } from './mirror-timestamps.js';
import { indexEntries, MIRROR_COMMIT_LOCK } from './search/ingest.js';

/** The most entries below the mirror's next entry that one request may send again (see above). */
export const MAX_REUPLOAD = PACKAGE_WIDTH;
/** Verified packages that may wait for their transaction while more of the body is read and verified. */
const MAX_UNCOMMITTED_BYTES = 8 * 1024 * 1024;

/** A log the mirror accepts entries for: an enrolled, active host, at its current epoch. */
export interface MirrorLog {
  id: number;
  epoch: number;
}

/** The answer of add-entries, before it becomes an HTTP response (`serve import` prints the same). */
export type AddEntriesResult =
  | { status: 200; cosignatures: string; size: number }
  | { status: 202 | 409; info: { size: number; next: number }; why: string };

export async function activeLog(db: ServerDeps['db'], origin: string): Promise<MirrorLog | undefined> {
  // A log registered for witnessing only is unknown to the mirror (tlog-mirror: 404 for an unknown origin).
  const { rows } = await db.pool.query<MirrorLog>("SELECT id, epoch FROM hosts WHERE origin = $1 AND status = 'active' AND NOT witness_only", [origin]);
  return rows[0] ? { id: Number(rows[0].id), epoch: rows[0].epoch } : undefined;
}

interface PendingCheckpoint {
  size: number;
  root: Buffer;
  note: string;
}

/** What the header is checked against, read one query after another: §Processing lets the mirror act on stale data. */
async function mirrorView(c: PoolClient, log: MirrorLog, uploadEnd: number) {
  const { rows } = await c.query<{ size: number; root: Buffer; note: string }>('SELECT size, root, note FROM pending_checkpoints WHERE host_id = $1 AND epoch = $2 AND size = $3', [
    log.id,
    log.epoch,
    uploadEnd,
  ]);
  const latest = await c.query<{ size: number | null }>('SELECT max(size) AS size FROM pending_checkpoints WHERE host_id = $1 AND epoch = $2', [log.id, log.epoch]);
  const mirror = await c.query<{ size: number }>('SELECT size FROM mirror_state WHERE host_id = $1 AND epoch = $2', [log.id, log.epoch]);
  const pending: PendingCheckpoint | undefined = rows[0] && { size: Number(rows[0].size), root: rows[0].root, note: rows[0].note };
  const mirrorSize = Number(mirror.rows[0]?.size ?? 0);
  return { pending, mirrorSize, latestPending: Number(latest.rows[0]?.size ?? mirrorSize), next: await nextEntry(c, log.id, log.epoch) };
}

/**
 * The blobs an entry names, as the ledger writes them (ledger/blob.ts namedBlobs): every top-level
 * {"$blob": sha256, "size": n} and a top-level `report_sha256` (a run's FFmpeg report, whose size the entry does not
 * say). Untrusted bytes: an entry that does not parse is still mirrored (it was signed), it just names nothing.
 */
export function blobsNamedBy(data: Buffer): { sha256: string; size: number | null }[] {
  if (!data.includes('"$blob":') && !data.includes('"report_sha256":"')) return [];
  let entry: Record<string, unknown>;
  try {
    entry = parseEntry(data);
  } catch {
    return [];
  }
  const out: { sha256: string; size: number | null }[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if (isBlobRef(v) && Number.isSafeInteger(v.size) && v.size >= 0) out.push({ sha256: v.$blob, size: v.size });
    else if (k === 'report_sha256' && typeof v === 'string' && SHA256_HEX.test(v)) out.push({ sha256: v, size: null });
  }
  return out;
}

/** A package whose subtree consistency proof verified, waiting for its transaction. */
interface VerifiedPackage {
  range: PackageRange;
  entries: Buffer[];
  leaves: Buffer[];
  /** MTH of [subtreeStart, end): the level-8 node of its block when the package completes one. */
  subtree: Buffer;
  bytes: number;
}

/**
 * §Processing, for one entry package: rebuild the subtree hash of [subtreeStart, end) from the entries held below
 * `start` (only the first package of a request can start inside its block, at or below the next entry, so those
 * are committed) and the ones received, and verify its subtree consistency proof against the pending checkpoint of
 * size upload_end. INTEGRITY (422) when it fails.
 */
async function verifyPackage(deps: ServerDeps, log: MirrorLog, pending: PendingCheckpoint, pkg: EntryPackage): Promise<VerifiedPackage> {
  const { range, entries, proof } = pkg;
  const leaves = entries.map((e) => hashLeaf(e));
  const frontier = new Frontier();
  if (range.start > range.subtreeStart) {
    for (const h of await withClient(deps.db, (c) => leafHashes(c, log.id, log.epoch, range.subtreeStart, range.start))) frontier.push(h);
  }
  for (const h of leaves) frontier.push(h);
  const subtree = frontier.root();
  if (!verifySubtreeConsistency(range.subtreeStart, range.end, pending.size, proof, subtree, pending.root)) {
    throw new FfauditError(
      'INTEGRITY',
      `entries ${range.start} to ${range.end - 1}: the subtree consistency proof of [${range.subtreeStart}, ${range.end}) does not verify against the checkpoint of size ${pending.size}`,
    );
  }
  return { range, entries, leaves, subtree, bytes: entries.reduce((n, e) => n + e.length, 0) };
}

/**
 * Commits verified, consecutive packages in one transaction: their entries (skipping those already held: a
 * concurrent upload may have stored them, and both copies were proven against consistent checkpoints), the
 * tile-level nodes they complete, and the blobs they name. A package is never split across transactions; several
 * are committed together when they were verified while the previous transaction ran (tlog-mirror §Implementation
 * Considerations lets a mirror buffer packages and defer committing them).
 */
async function commitPackages(deps: ServerDeps, log: MirrorLog, batch: readonly VerifiedPackage[]): Promise<void> {
  const first = batch[0]!.range.start;
  const entries = batch.flatMap((p) => p.entries);
  await deps.db.tx(async (c) => {
    // One transaction at a time per log stores entries: with the lock held, `next` below is exact (a statement of its
    // own, so its snapshot is taken after the lock is granted) and no other transaction can insert an index at or
    // above it, so the entries below it (already held: a concurrent upload stored them, and both copies were proven
    // against consistent checkpoints) are left out here and the rest go in with a plain INSERT. ON CONFLICT DO
    // NOTHING would do the same, but its speculative insertion of every row cost a fifth of the ingest. The key's
    // second half is a hash of the host id: two logs sharing one only wait for each other.
    await c.query('SELECT pg_advisory_xact_lock($1, hashint8($2::bigint))', [MIRROR_COMMIT_LOCK, log.id]);
    // The prefix invariant (mirror-tree.ts): packages may start at the first missing index, never beyond it.
    // upload_start was checked against a view that may be stale, and next only grows, so this holds unless the
    // database was changed behind our back.
    const next = await nextEntry(c, log.id, log.epoch);
    if (first > next) throw new FfauditError('CONFLICT', `entries from ${first} would leave a gap after ${next}`);
    const skip = Math.min(entries.length, next - first);
    if (skip < entries.length) {
      const fresh = entries.slice(skip);
      // All the entries as one binary parameter, cut in SQL by offset and length: pg sends a Buffer parameter as
      // binary, where a bytea[] goes as hex text, which costs more than the insert itself.
      const offsets: number[] = [];
      const lengths: number[] = [];
      let at = 1; // SQL substring counts from 1
      for (const e of fresh) {
        offsets.push(at);
        lengths.push(e.length);
        at += e.length;
      }
      await c.query(
        `INSERT INTO mirror_entries (host_id, epoch, idx, data, leaf)
         SELECT $1, $2, $3::bigint + e.i - 1, substring($4::bytea FROM e.o FOR e.l), substring($5::bytea FROM ((e.i - 1) * 32 + 1)::int FOR 32)
           FROM unnest($6::int[], $7::int[]) WITH ORDINALITY AS e(o, l, i)`,
        [log.id, log.epoch, first + skip, Buffer.concat(fresh), Buffer.concat(batch.flatMap((p) => p.leaves).slice(skip)), offsets, lengths],
      );
      // The search indexes in the same transaction (search/ingest.ts says why): a search never misses what is stored.
      await indexEntries(c, log.id, log.epoch, first + skip, fresh);
    }
    // When the host last pushed (search/state.ts: a silent host is flagged), at most once a second per log: the row
    // is shared with every request of the host, and a burst of packages need not rewrite it each time.
    await c.query("UPDATE hosts SET last_push_at = now() WHERE id = $1 AND (last_push_at IS NULL OR last_push_at < now() - interval '1 second')", [log.id]);
    const blocks = batch.filter((p) => p.range.end - p.range.subtreeStart === PACKAGE_WIDTH).map((p) => ({ index: p.range.subtreeStart / PACKAGE_WIDTH, hash: p.subtree }));
    await insertCompletedBlocks(c, log.id, log.epoch, blocks);
    const named = entries.flatMap((e, i) => blobsNamedBy(e).map((b) => ({ ...b, idx: first + i })));
    if (named.length > 0) {
      await c.query(
        `INSERT INTO entry_blobs (host_id, epoch, sha256, size, idx)
         SELECT $1, $2, b.sha, b.size, b.idx FROM unnest($3::bytea[], $4::bigint[], $5::bigint[]) AS b(sha, size, idx)
         ON CONFLICT DO NOTHING`,
        [log.id, log.epoch, named.map((b) => Buffer.from(b.sha256, 'hex')), named.map((b) => b.size), named.map((b) => b.idx)],
      );
    }
  });
}

/**
 * §Processing, the last step, atomically: if upload_end is still at or above the mirror checkpoint, the mirror
 * checkpoint becomes the pending checkpoint of size upload_end, cosigned by the mirror key, persisted (mirror_state
 * and the `cosigned` trail) before the answer. A concurrent request that went further wins: never rewind (409).
 */
async function advanceMirror(deps: ServerDeps, log: MirrorLog, pending: PendingCheckpoint): Promise<AddEntriesResult> {
  return deps.db.tx(async (c) => {
    // The host row shared-locked: a `hosts reset` (a new epoch) waits for this transaction, or this one sees it.
    const host = await c.query<{ epoch: number; status: string; hold: string | null }>('SELECT epoch, status, hold FROM hosts WHERE id = $1 FOR SHARE', [log.id]);
    const h = host.rows[0];
    if (!h || h.status !== 'active' || h.epoch !== log.epoch) throw new FfauditError('NOT_FOUND', 'unknown log');
    if (h.hold !== null) throw new FfauditError('FORBIDDEN', `the mirror does not cosign this log until an administrator resolves: ${h.hold}`);
    const cur = await c.query<{ size: number; note: string }>('SELECT size, note FROM mirror_state WHERE host_id = $1 AND epoch = $2 FOR UPDATE', [log.id, log.epoch]);
    const current = cur.rows[0];
    const next = await nextEntry(c, log.id, log.epoch);
    if (current && Number(current.size) > pending.size) {
      return { status: 409, info: { size: Number(current.size), next }, why: `the mirror checkpoint is already at ${current.size}` };
    }
    if (current && Number(current.size) === pending.size) {
      // Already there (a concurrent request, or a retry): the cosignature it holds is the answer.
      return { status: 200, cosignatures: mirrorLines(current.note, deps), size: pending.size };
    }
    if (next < pending.size) throw new FfauditError('INTERNAL', `entries ${next} to ${pending.size - 1} are missing after a complete upload`);
    // Every package was proven against this checkpoint; the root of what is stored says the same, or something
    // wrote the tables behind the protocol's back.
    const root = await storedRoot(c, log.id, log.epoch, pending.size);
    if (!root.equals(pending.root)) throw new FfauditError('INTERNAL', `the mirrored entries do not hash to the checkpoint of size ${pending.size}`);
    const text = parseNote(pending.note).text;
    const line = deps.keys.mirror.cosign(text, deps.now?.() ?? Math.floor(Date.now() / 1000));
    const note = addSignatureLines(pending.note, [line]);
    // Compare-and-set: a concurrent request may have created the row since it was read (FOR UPDATE locks no row
    // that is not there yet); it only moves forward.
    const set = await c.query(
      `INSERT INTO mirror_state (host_id, epoch, size, root, note, updated_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (host_id) DO UPDATE SET epoch = EXCLUDED.epoch, size = EXCLUDED.size, root = EXCLUDED.root, note = EXCLUDED.note, updated_at = now()
       WHERE mirror_state.epoch <> EXCLUDED.epoch OR mirror_state.size < EXCLUDED.size`,
      [log.id, log.epoch, pending.size, pending.root, note],
    );
    if (set.rowCount !== 1) {
      const now = (await c.query<{ size: number; note: string }>('SELECT size, note FROM mirror_state WHERE host_id = $1', [log.id])).rows[0]!;
      if (Number(now.size) === pending.size) return { status: 200, cosignatures: mirrorLines(now.note, deps), size: pending.size };
      return { status: 409, info: { size: Number(now.size), next }, why: `the mirror checkpoint is already at ${now.size}` };
    }
    await c.query("INSERT INTO cosigned (host_id, epoch, role, size, root, note) VALUES ($1, $2, 'mirror', $3, $4, $5) ON CONFLICT DO NOTHING", [
      log.id,
      log.epoch,
      pending.size,
      pending.root,
      note,
    ]);
    return { status: 200, cosignatures: line, size: pending.size };
  });
}

/** The mirror key's signature lines in a note the mirror cosigned. */
function mirrorLines(note: string, deps: ServerDeps): string {
  const k = deps.keys.mirror;
  const prefix = `\u2014 ${k.name} `;
  const lines = note
    .slice(note.lastIndexOf('\n\n') + 2)
    .split('\n')
    .filter((l) => l.startsWith(prefix) && Buffer.from(l.slice(prefix.length), 'base64').subarray(0, 4).equals(k.keyId));
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * Reads one add-entries body (already decompressed) and does what §Processing says. Errors that end the request
 * with a plain one-line answer are thrown as FfauditError: NOT_FOUND (404), BAD_INPUT (400), INTEGRITY (422).
 */
export async function addEntries(deps: ServerDeps, body: ReadableStream<Uint8Array>): Promise<AddEntriesResult> {
  const reader = body.getReader();
  const parser = new AddEntriesParser();
  let ended = false;
  /** Why the body stopped early (read error, malformed bytes), for the 400. */
  let problem: string | undefined;
  const read = async (): Promise<boolean> => {
    try {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        return false;
      }
      parser.push(value);
      return true;
    } catch (e) {
      ended = true;
      problem = `the body could not be read: ${isFfauditError(e) ? e.message : (e as Error).message}`;
      return false;
    }
  };
  try {
    let header: AddEntriesHeader | undefined;
    while (!(header = parser.header())) {
      if (!(await read())) throw new FfauditError('BAD_INPUT', problem ?? 'add-entries: the body ends inside its header');
    }
    const log = await activeLog(deps.db, header.origin);
    // §Processing: an unknown log is a 404, sent without reading the rest of the body.
    if (!log) throw new FfauditError('NOT_FOUND', 'unknown log');
    const { uploadStart, uploadEnd } = header;
    const view = await withClient(deps.db, (c) => mirrorView(c, log, uploadEnd));
    const { pending } = view;
    if (!pending || uploadEnd < view.mirrorSize) {
      return {
        status: 409,
        info: { size: view.latestPending, next: view.next },
        why: pending ? `upload_end ${uploadEnd} is below the mirror checkpoint (${view.mirrorSize})` : `upload_end ${uploadEnd} is not the size of a pending checkpoint`,
      };
    }
    if (uploadStart > view.next || Math.min(view.next, uploadEnd) - uploadStart > MAX_REUPLOAD) {
      return {
        status: 409,
        info: { size: uploadEnd, next: view.next },
        why: uploadStart > view.next ? `upload_start ${uploadStart} is beyond the next entry` : `upload_start ${uploadStart} is too far below the next entry`,
      };
    }

    // Packages are verified as they arrive and committed in order, one transaction at a time; those verified while a
    // transaction runs go into the next one together. At most MAX_UNCOMMITTED_BYTES wait: then reading waits too.
    let committed = 0;
    let queue: VerifiedPackage[] = [];
    let queued = 0;
    let inflight: Promise<void> | undefined;
    let commitFailure: Error | undefined;
    let integrityFailure: Error | undefined;
    const startCommit = (): void => {
      if (inflight || queue.length === 0 || commitFailure !== undefined) return;
      const batch = queue;
      queue = [];
      inflight = commitPackages(deps, log, batch)
        .then(
          () => {
            committed += batch.length;
          },
          (e: unknown) => {
            commitFailure ??= e instanceof Error ? e : new Error(String(e));
          },
        )
        .finally(() => {
          queued -= batch.reduce((n, p) => n + p.bytes, 0);
          inflight = undefined;
          startCommit();
        });
    };
    const drain = async (): Promise<void> => {
      while (inflight) await inflight;
    };
    try {
      for (;;) {
        if (commitFailure !== undefined) break;
        let pkg: EntryPackage | undefined;
        try {
          pkg = parser.nextPackage();
        } catch (e) {
          if (!(isFfauditError(e) && e.code === 'BAD_INPUT')) throw e;
          problem = e.message; // malformed bytes after the packages authenticated so far: they are discarded
          break;
        }
        if (pkg) {
          try {
            const v = await verifyPackage(deps, log, pending, pkg);
            queue.push(v);
            queued += v.bytes;
          } catch (e) {
            integrityFailure = e instanceof Error ? e : new Error(String(e));
            break;
          }
          startCommit();
          // Verifying is synchronous and the body is usually buffered already, so without a turn of the event loop
          // the reply to the transaction in flight would wait until every package was verified, and PostgreSQL
          // would idle meanwhile: let it land now, so the packages verified so far go into the next transaction
          // while the rest are verified.
          if (inflight) await new Promise<void>((resolve) => setImmediate(resolve));
          while (queued > MAX_UNCOMMITTED_BYTES && inflight) await inflight;
          continue;
        }
        if (parser.finished() || ended || !(await read())) break;
      }
    } finally {
      // What was verified is committed before any answer, the 422 included (§Processing: the packages before the
      // one that failed were authenticated and are saved).
      startCommit();
      await drain();
    }
    if (commitFailure !== undefined) throw commitFailure;
    if (integrityFailure !== undefined) throw integrityFailure;
    if (!parser.finished()) {
      if (committed === 0) throw new FfauditError('BAD_INPUT', problem ?? 'add-entries: the body ends before its first entry package is complete');
      const next = await withClient(deps.db, (c) => nextEntry(c, log.id, log.epoch));
      return { status: 202, info: { size: uploadEnd, next }, why: problem ?? `the body ended after ${committed} of the packages` };
    }
    return await advanceMirror(deps, log, pending);
  } finally {
    // Whatever was not read is not wanted: let the transport drop it rather than buffer it.
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** The HTTP face of an AddEntriesResult: 200 with the cosignature lines, 202/409 with text/x.tlog.mirror-info. */
export function addEntriesResponse(c: Context, r: AddEntriesResult): Response {
  if (r.status === 200) return c.body(r.cosignatures, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  return c.body(formatMirrorInfo({ ...r.info, ticket: Buffer.alloc(0) }), r.status, { 'Content-Type': 'text/x.tlog.mirror-info', 'Cache-Control': 'no-store' });
}

/** POST /add-entries, the mirror's tiles and timestamps under /mirror/<hex sha256(origin)>/, and the blobs (blobs.ts). */
export function mirrorRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.post('/add-entries', async (c) => {
    // tlog-mirror §Request Body: "mirrors SHOULD send an Accept-Encoding header that includes gzip".
    c.header('Accept-Encoding', 'gzip');
    return addEntriesResponse(c, await addEntries(deps, bodyStream(c.req.raw)));
  });
  mirrorTileRoutes(app, deps);
  mirrorTimestampRoutes(app, deps);
  blobRoutes(app, deps);
}
