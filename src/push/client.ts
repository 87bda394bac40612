/**
 * The push: a host sends its log to the team server it joined, over HTTP, and keeps the cosignatures it gets back.
 *
 *  1. add-checkpoint (c2sp.org/tlog-witness): the ledger's head, with a consistency proof from the size the witness
 *     last cosigned (the ledger's own record, else what a 409 says). The witness's cosignature comes back; the same
 *     request sets the mirror's pending checkpoint (tlog-mirror §add-checkpoint).
 *  2. add-entries (c2sp.org/tlog-mirror): the entries the mirror lacks, at most 32 packages per request, gzip,
 *     following each 202's or 409's mirror-info (next entry, ticket). The last one brings the mirror's cosignature.
 *  3. PUT /blobs/<origin hash>/<sha256>: every blob an entry names, once the mirror holds that entry.
 *
 * The ledger is the source and a push only reads it (but for the cosignatures it stores), so an interrupted push
 * loses nothing: the next one starts again from what the server says it holds. Requests are retried with
 * exponential backoff (bounded) while the server is away (no connection, 5xx, 429); any other answer is final.
 *
 * A 404 means the server does not know this log (its host was disabled, or never joined): the push stops there,
 * sends nothing more, retries nothing, and says so in one line (PushReport.stopped).
 *
 * The witnesses the ledger's config lists (witnesses.ts) are asked at the same time, each round's checkpoint to each
 * of them; one that is down, refuses or lies is reported and stops nothing. The team server's own witness, when it
 * is listed, is not asked twice: the push to the server brings its cosignature.
 */
import { gzipSync } from 'node:zlib';
import { FfauditError } from '../core/errors.js';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { splitSignatureLines } from '../core/cosignature.js';
import { sha256Hex } from '../core/entry.js';
import { encodeAddEntries, MIRROR_INFO_CONTENT_TYPE, parseMirrorInfo, type MirrorInfo } from '../core/mirror-protocol.js';
import { parseTlogSize, TLOG_SIZE_CONTENT_TYPE } from '../core/witness-protocol.js';
import { namedBlobs } from '../ledger/blob.js';
import { Ledger, type JoinedServer } from '../ledger/ledger.js';
import type { ConfiguredWitness } from '../ledger/witness-config.js';
import { AwayError, Connection, oneLine, type Answer, type RetryOptions } from './connection.js';
import { blobsThrough, recordBlobsThrough } from './state.js';
import { addCheckpointBody, planPush, type PushPlan } from './plan.js';
import { collectCosignature, quorumOf, type QuorumOutcome, type WitnessOutcome } from './witnesses.js';

/** Progress lines (`ffaudit push --background` writes them to DIR/push.log), the retries, the fetch. */
/** add-checkpoint requests of one push: the first, and two more after a 409 names the size the witness holds. */
const MAX_ADD_CHECKPOINT_ATTEMPTS = 3;

export interface PushOptions extends RetryOptions {
  /** Ask the witnesses the config lists too (default true; a run in FFAUDIT_PUSH=sync mode waits for the server only). */
  witnesses?: boolean | undefined;
}

export interface PushReport {
  /** The team server pushed to, and this host's name there; null when the ledger joined none (witnesses only). */
  server: string | null;
  host: string | null;
  origin: string;
  /** The tree size pushed (the ledger's head; several rounds when runs appended meanwhile). */
  size: number;
  /** Each add-checkpoint sent: the old size and the size. */
  checkpoints: { oldSize: number; size: number }[];
  /** Entries uploaded to the mirror, and in how many add-entries requests. */
  entries: number;
  requests: number;
  /** Blobs sent (new to the server or not), their bytes, and blobs named by entries but missing from the ledger. */
  blobs: number;
  blobBytes: number;
  missingBlobs: string[];
  /** The largest sizes the server's witness and mirror have cosigned, as the ledger now holds them. */
  cosigned: { witness: number | null; mirror: number | null };
  /** Why the push stopped before the end (a 404: the server does not know this log), one line. */
  stopped?: string;
  /** Each witness the config lists, in its order: what it did with this push. */
  witnesses: WitnessOutcome[];
  /** With a quorum in the config: whether the witnesses' cosignatures the ledger holds meet it for the checkpoint pushed. */
  quorum: QuorumOutcome | null;
}

/**
 * The push to the team server failed (its error's code and message, unchanged), after the witnesses were asked:
 * `report` says what they did.
 */
export class PushFailed extends FfauditError {
  constructor(
    cause: FfauditError,
    readonly report: PushReport,
  ) {
    super(cause.code, cause.message, { cause });
  }
}

/** The most rounds of one push: a round pushes the head it finds, and runs may append while it does. */
const MAX_ROUNDS = 3;
/** Blobs are looked for in entries read this many at a time. */
const BLOB_SCAN_CHUNK = 1024;

/** A thrown stop: the server does not know this log (404). */
class Stopped extends Error {}

/** Fails with the server's own one-line reason, for answers the protocol does not expect. */
function unexpected(what: string, a: Answer): FfauditError {
  const code = a.status === 403 ? 'FORBIDDEN' : a.status === 422 ? 'INTEGRITY' : a.status === 409 ? 'CONFLICT' : 'BAD_INPUT';
  const hint = a.status === 403 ? ": the server does not take this log's signature (was the ledger's key replaced? join again with a new token)" : '';
  return new FfauditError(code, `${what}: the server answered ${a.status}${a.text ? ` (${oneLine(a.text)})` : ''}${hint}`);
}

/** 404 from any endpoint: the log is unknown to the server (tlog-witness, tlog-mirror: "unknown origin"). */
function checkKnown(a: Answer, base: string): void {
  if (a.status === 404) throw new Stopped(`the server ${base} does not know this log (404: its host was disabled, or never joined): nothing more was sent`);
}

/**
 * One push session: what it has sent so far, and the server and ledger it works between. Each step replans from
 * the ledger and the server's last answer.
 */
class Session {
  readonly report: PushReport;
  private readonly sentBlobs = new Set<string>();
  /** The log's path segment on the server: hex SHA-256 of its origin. */
  private readonly originHash: string;

  constructor(
    private readonly ledger: Ledger,
    private readonly server: JoinedServer,
    private readonly conn: Connection,
    private readonly opts: PushOptions,
  ) {
    this.originHash = sha256Hex(Buffer.from(ledger.origin, 'utf8'));
    this.report = {
      server: server.config.url,
      host: server.config.host,
      origin: ledger.origin,
      size: 0,
      checkpoints: [],
      entries: 0,
      requests: 0,
      blobs: 0,
      blobBytes: 0,
      missingBlobs: [],
      cosigned: { witness: null, mirror: null },
      witnesses: [],
      quorum: null,
    };
  }

  /** One round: the plan's checkpoint to the witness, then the entries and blobs to the mirror. */
  async round(plan: PushPlan): Promise<void> {
    await this.addCheckpoint(plan);
    await this.addEntries(plan);
  }

  private get url(): string {
    return this.server.config.url;
  }

  private lastCosigned(role: 'witness' | 'mirror') {
    return this.ledger.lastCosigned(this.url, this.server[role].name);
  }

  /** Stores the cosignature lines of a 200 for the checkpoint `note`; the size the given cosigner vouched for, if it did. */
  private store(note: string, text: string, role: 'witness' | 'mirror'): boolean {
    const cp = parseSignedCheckpoint(note);
    let lines: string[];
    try {
      lines = splitSignatureLines(text);
    } catch {
      throw new FfauditError('BAD_INPUT', `the server's ${role} answered 200 without cosignature lines (${oneLine(text)})`);
    }
    const keys = [this.server.witness, this.server.mirror, ...(this.server.witnessMlDsa44 ? [this.server.witnessMlDsa44] : [])];
    const stored = this.ledger.addCosignatures(cp.size, cp.root.toString('hex'), lines, this.url, note, keys);
    // By key ID, not name: the witness's ML-DSA-44 key has its name, and its line alone is not the Ed25519 cosignature.
    return stored.some((c) => c.keyId.equals(this.server[role].keyId));
  }

  /** add-checkpoint until the witness has cosigned the plan's checkpoint (nothing when it already has). */
  async addCheckpoint(plan: PushPlan): Promise<void> {
    if (plan.addCheckpoint) await this.sendCheckpoint(plan, plan.addCheckpoint.oldSize);
  }

  /**
   * Sends the plan's checkpoint from `oldSize`, following the witness's 409s (text/x.tlog.size: the size it last
   * cosigned) until it cosigns; each size is tried once, and at most MAX_ADD_CHECKPOINT_ATTEMPTS in all.
   */
  private async sendCheckpoint(plan: PushPlan, from: number): Promise<void> {
    const tried = new Set<number>();
    for (let oldSize = from; ; ) {
      tried.add(oldSize);
      const body = plan.addCheckpoint?.oldSize === oldSize ? plan.addCheckpoint.body : addCheckpointBody(this.ledger, oldSize, plan.checkpoint, plan.size);
      const a = await this.conn.request('POST', '/add-checkpoint', body, { 'content-type': 'text/plain; charset=utf-8' });
      checkKnown(a, this.url);
      if (a.status === 200) {
        this.report.checkpoints.push({ oldSize, size: plan.size });
        if (!this.store(plan.checkpoint, a.text, 'witness')) throw new FfauditError('INTEGRITY', `the server's witness answered 200 without a cosignature by its key ${this.server.witness.name}`);
        this.opts.log?.(`checkpoint ${plan.size} (from ${oldSize}): cosigned by ${this.server.witness.name}`);
        return;
      }
      if (a.status === 409 && a.type === TLOG_SIZE_CONTENT_TYPE) {
        // tlog-witness: the old size did not match the size the witness last cosigned, which the body gives; or
        // (old size = size) the witness holds another root at this size: a fork of this log, seen by the server.
        const held = parseTlogSize(a.text);
        if (held > plan.size) {
          throw new FfauditError('INTEGRITY', `the server's witness already cosigned ${held} entries of this log, but the ledger holds ${plan.size}: entries were removed or an older copy of the ledger was restored (run ffaudit verify --trusted ${this.url})`);
        }
        if (tried.has(held)) {
          throw new FfauditError('INTEGRITY', `the server's witness holds another checkpoint of ${held} entries of this log than the ledger's: the log was forked (run ffaudit verify --trusted ${this.url})`);
        }
        // One 409 tells the size the witness holds; a witness naming yet another size each time is not followed.
        if (tried.size >= MAX_ADD_CHECKPOINT_ATTEMPTS) throw new FfauditError('IO', `the server's witness answered 409 again, naming ${held} entries after ${[...tried].join(', ')}: not followed further (push again)`);
        this.opts.log?.(`the witness last cosigned size ${held}: sending the checkpoint again from there`);
        oldSize = held;
        continue;
      }
      throw unexpected('add-checkpoint', a);
    }
  }

  /**
   * add-entries until the mirror holds [0, plan.size) and has cosigned it: from the size it last cosigned (the
   * ledger's record), following each 202's and 409's mirror-info, sending the blobs of what it accepted.
   */
  async addEntries(plan: PushPlan): Promise<void> {
    const mirrored = this.lastCosigned('mirror');
    if (mirrored && mirrored.size >= plan.size) {
      await this.sendBlobs(plan.size);
      return;
    }
    let start = Math.min(mirrored?.size ?? 0, plan.size);
    let ticket: Buffer = Buffer.alloc(0);
    let refreshed = false;
    let stalled = 0;
    for (;;) {
      const req = plan.addEntries(start, plan.size, ticket);
      // Nothing left to upload (the mirror's next entry is at the end): the empty canonical sequence, which is
      // complete, asks it to finish (commit and cosign).
      const body = req?.body ?? encodeAddEntries({ origin: plan.origin, uploadStart: start, uploadEnd: plan.size, ticket }, []);
      const a = await this.conn.request('POST', '/add-entries', gzipSync(body), { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
      checkKnown(a, this.url);
      this.report.requests++;
      if (a.status === 200) {
        if (req) this.report.entries += req.end - req.uploadStart;
        await this.sendBlobs(plan.size);
        if (!this.store(plan.checkpoint, a.text, 'mirror')) throw new FfauditError('INTEGRITY', `the server's mirror answered 200 without a cosignature by its key ${this.server.mirror.name}`);
        this.opts.log?.(`entries up to ${plan.size}: mirrored, cosigned by ${this.server.mirror.name}`);
        return;
      }
      if ((a.status === 202 || a.status === 409) && a.type === MIRROR_INFO_CONTENT_TYPE) {
        const info: MirrorInfo = parseMirrorInfo(a.text);
        if (a.status === 202 && req) this.report.entries += Math.max(0, Math.min(info.next, req.end) - req.uploadStart);
        if (info.size > plan.size) {
          throw new FfauditError('INTEGRITY', `the server's mirror holds a checkpoint of ${info.size} entries of this log, but the ledger holds ${plan.size}: entries were removed or an older copy of the ledger was restored (run ffaudit verify --trusted ${this.url})`);
        }
        if (info.size !== plan.size) {
          // tlog-mirror: the first line is a valid pending checkpoint's size. Not ours: the add-checkpoint that set
          // it was lost or overtaken; sending ours again (the witness re-cosigns it) sets it, once.
          if (refreshed) throw new FfauditError('CONFLICT', `the server's mirror keeps answering with a checkpoint of ${info.size} entries, not the ${plan.size} pushed`);
          refreshed = true;
          await this.sendCheckpoint(plan, this.lastCosigned('witness')?.size ?? 0);
          ticket = Buffer.alloc(0);
          continue;
        }
        // The mirror holds every entry before its next one: their blobs can go now.
        await this.sendBlobs(Math.min(info.next, plan.size));
        const next = Math.min(info.next, plan.size);
        stalled = next > start || !info.ticket.equals(ticket) ? 0 : stalled + 1;
        if (stalled >= 2) throw new FfauditError('CONFLICT', `the server's mirror makes no progress at entry ${next} (answered ${a.status} twice)`);
        this.opts.log?.(`the mirror needs entries from ${next} (${a.status})`);
        start = next;
        ticket = info.ticket;
        continue;
      }
      throw unexpected('add-entries', a);
    }
  }

  /** PUT /blobs for every blob named by entries below `upTo` that the server may not have yet (push-state.ts). */
  async sendBlobs(upTo: number): Promise<void> {
    const from = blobsThrough(this.ledger.dir, this.url);
    for (let a = from; a < upTo; a += BLOB_SCAN_CHUNK) {
      const b = Math.min(a + BLOB_SCAN_CHUNK, upTo);
      const entries = this.ledger.entries(a, b);
      for (const data of entries) {
        for (const sha of namedBlobs(data)) {
          if (this.sentBlobs.has(sha)) continue;
          this.sentBlobs.add(sha);
          const bytes = this.blob(sha);
          if (!bytes) continue;
          const r = await this.conn.request('PUT', `/blobs/${this.originHash}/${sha}`, bytes, { 'content-type': 'application/octet-stream' });
          checkKnown(r, this.url);
          if (r.status !== 200 && r.status !== 201) throw unexpected(`PUT blob ${sha}`, r);
          this.report.blobs++;
          this.report.blobBytes += bytes.length;
        }
      }
      recordBlobsThrough(this.ledger.dir, this.url, b);
    }
  }

  /** A blob's checked content; a blob missing from the ledger is reported (verify says blob-missing) and skipped. */
  private blob(sha: string): Buffer | undefined {
    const data = this.ledger.blob(sha);
    if (!data) this.report.missingBlobs.push(sha);
    return data;
  }
}

/**
 * Pushes the ledger at `ledgerDir` to the server it joined (config.json `server`): its head, the entries and blobs
 * the server lacks; stores the cosignatures that come back. Repeats (up to three rounds) while runs append
 * meanwhile. Throws one-line FfauditErrors: USAGE when no server was joined, IO when the server stayed away
 * through every retry, INTEGRITY when the server holds more or another history of this log than the ledger.
 */
export async function push(ledgerDir: string, opts: PushOptions = {}): Promise<PushReport> {
  const ledger = Ledger.open({ dir: ledgerDir, explicit: true });
  try {
    return await pushLedger(ledger, opts);
  } finally {
    ledger.close();
  }
}

/** Whether a listed witness is the joined server's own witness (the same key): the push to the server asks it. */
function isServerWitness(w: ConfiguredWitness, server: JoinedServer | undefined): boolean {
  return server !== undefined && server.witness.name === w.verifier.name && server.witness.publicKey.equals(w.verifier.publicKey);
}

/** The outcome of the team server's witness, from how the push to the server went. */
function serverWitnessOutcome(ledger: Ledger, w: ConfiguredWitness, server: JoinedServer, failure: unknown, stopped: string | undefined): WitnessOutcome {
  const cosigned = ledger.lastCosigned(server.config.url, server.witness.name)?.size ?? null;
  const base = { name: w.name, url: w.url, teamServer: true, cosigned };
  if (stopped !== undefined) return { ...base, status: 'refused', httpStatus: 404, detail: stopped };
  if (failure instanceof AwayError) return { ...base, status: 'down', detail: failure.why };
  if (failure instanceof Error) return { ...base, status: 'refused', detail: failure.message };
  return { ...base, status: 'cosigned' };
}

/**
 * As push, on a ledger already open: to the team server it joined and the witnesses its config lists, at once. A
 * ledger with neither is a USAGE error. A witness never makes the push fail (its outcome is in the report); the
 * team server's failure is thrown as PushFailed once the witnesses are done.
 */
export async function pushLedger(ledger: Ledger, opts: PushOptions = {}): Promise<PushReport> {
  const server = ledger.server();
  const listed = opts.witnesses === false ? [] : ledger.witnessSettings().witnesses;
  if (!server && listed.length === 0) {
    throw new FfauditError('USAGE', `the ledger at ${ledger.dir} has joined no team server and lists no witness: run ffaudit join URL (or ffaudit witness add NAME URL VKEY) first`);
  }
  const session = server ? new Session(ledger, server, new Connection(server.config.url.replace(/\/+$/, ''), opts), opts) : undefined;
  const report: PushReport = session?.report ?? { server: null, host: null, origin: ledger.origin, size: 0, checkpoints: [], entries: 0, requests: 0, blobs: 0, blobBytes: 0, missingBlobs: [], cosigned: { witness: null, mirror: null }, witnesses: [], quorum: null };
  const others = listed.filter((w) => !isServerWitness(w, server));
  const outcomes = new Map<string, WitnessOutcome>();
  let failure: Error | undefined;
  let pushed: string | undefined;
  for (let round = 0; round < MAX_ROUNDS && ledger.size() > 0; round++) {
    const tasks: Promise<void>[] = [];
    let checkpoint: string;
    if (session && server) {
      const w = ledger.lastCosigned(server.config.url, server.witness.name);
      const size = ledger.size();
      const plan = planPush(ledger, { witnessSize: w?.size ?? 0, cosignedHead: w !== undefined && w.size === size && w.root.equals(parseSignedCheckpoint(ledger.checkpoint()).root) });
      checkpoint = plan.checkpoint;
      tasks.push(
        session.round(plan).catch((e: unknown) => {
          if (e instanceof Stopped) report.stopped = e.message;
          else failure = e instanceof Error ? e : new Error(String(e));
        }),
      );
    } else {
      checkpoint = ledger.checkpoint();
    }
    const size = parseSignedCheckpoint(checkpoint).size;
    report.size = size;
    pushed = checkpoint;
    // A witness that was down or refused is not asked again in a later round of the same push: each round would
    // wait out its retries again.
    for (const w of others) {
      const before = outcomes.get(w.name);
      if (before && before.status !== 'cosigned') continue;
      tasks.push(collectCosignature(ledger, checkpoint, w, opts).then((o) => void outcomes.set(w.name, o)));
    }
    await Promise.all(tasks);
    if (failure !== undefined || report.stopped !== undefined || ledger.size() === size) break;
  }
  if (server) {
    report.cosigned = {
      witness: ledger.lastCosigned(server.config.url, server.witness.name)?.size ?? null,
      mirror: ledger.lastCosigned(server.config.url, server.mirror.name)?.size ?? null,
    };
  }
  if (pushed !== undefined) {
    report.witnesses = listed.flatMap((w) => (isServerWitness(w, server) ? [serverWitnessOutcome(ledger, w, server!, failure, report.stopped)] : (outcomes.get(w.name) ?? [])));
  }
  report.quorum = pushed === undefined ? null : (quorumOf(ledger, pushed) ?? null);
  if (failure instanceof FfauditError) throw new PushFailed(failure, report);
  if (failure) throw failure;
  return report;
}
