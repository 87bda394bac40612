/**
 * The server process's own access log (deps.ts AccessLog): a local ledger like a host's, one per serve process, to
 * which every sign-in, search, view and download of evidence is appended before the answer is sent. The server
 * enrols it as a host of its own (hosts.access_log) by the join hosts use, and pushes it to its own witness and
 * mirror with the hosts' push client (push/client.ts) over the app in this process, so the protocol code is the one
 * every host runs; the mirrored entries are indexed into idx_access (search/ingest.ts) and read back by
 * access-view.ts. The server cosigning its own log proves nothing against its operator: the log is a ledger like any
 * other so that independent witnesses can cosign it too.
 *
 * An event is durable when `record` resolves (the ledger's append is one fsync'ed SQLite transaction); the push
 * follows within milliseconds, one at a time, and a failed push is retried later and never fails a page.
 */
import { createHash, randomBytes } from 'node:crypto';
import { statSync, type Stats } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { EntryBase, Redaction } from '../../core/entry.js';
import { FfauditError } from '../../core/errors.js';
import { nowRfc3339 } from '../../ledger/clock.js';
import { Ledger } from '../../ledger/ledger.js';
import { DB_FILE } from '../../ledger/location.js';
import { acquirePidLock } from '../../ledger/pid-lock.js';
import { writeServerConfig } from '../../ledger/server-config.js';
import { ffauditVersion } from '../../ledger/software.js';
import { pushLedger } from '../../push/client.js';
import { joinServer } from '../../push/join.js';
import { parseRedactionRules, redactField, type RedactionRule } from '../../redact/redact.js';
import type { Db } from '../db/pool.js';
import type { AccessEvent, AccessLog } from '../deps.js';
import { addHost } from '../hosts.js';
import { serverVkeys, type ServerKeys } from '../keys.js';

/**
 * The server URL the access log's config names. Its pushes never leave the process (they go to the app through
 * `fetch`), and a name under .invalid (RFC 6761 §6.4) can never be reached by anything else by mistake.
 */
export const ACCESS_LOG_SERVER_URL = 'http://ffaudit-serve.invalid';
/** The lock beside the ledger: one serve process per access log. */
const LOCK_FILE = 'serve.lock';
/** Events arriving this close together go in one push. */
const PUSH_DELAY_MS = 10;
/**
 * Pushes start at most this often: each is a round of the witness and mirror protocols (signatures, transactions)
 * run in this process, and one per page view took ~15 ms from every page of a busy server (BENCHMARKS.md). An event
 * is durable in the ledger before its answer whatever this is; it only says how soon the mirror has it.
 */
const PUSH_EVERY_MS = 500;
/** After a failed push: the first wait, doubled on each failure up to the last. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** A query is kept to this many characters (a URL's query string is bounded by the request line anyway). */
const MAX_QUERY_CHARS = 4096;

export interface AccessLogOptions {
  /** The ledger's directory: created on first use. */
  dir: string;
  /** The log's origin when it is created (default `<hostname>/ffaudit-serve/access/<random>`); checked otherwise. */
  origin?: string | undefined;
  db: Db;
  keys: ServerKeys;
  /** The server's own app as a fetch: the enrolment and every push are requests to it, in this process. */
  fetch: typeof fetch;
  log: (line: string) => void;
}

/** This machine's name as entries and host names may hold it. */
function machineName(): string {
  return (
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-')
      .replace(/^[^a-z0-9]+/, '') || 'localhost'
  );
}

/** Unique per access log (hosts.origin is unique across the server), URL-like, no spaces or '+'. */
function defaultOrigin(): string {
  return `${machineName()}/ffaudit-serve/access/${randomBytes(6).toString('hex')}`;
}

function openLedger(dir: string, origin: string | undefined): Ledger {
  if (!Ledger.exists(dir)) {
    try {
      return Ledger.init(dir, { origin: origin ?? defaultOrigin() });
    } catch (e) {
      // Another process made it meanwhile: the lock below decides which one keeps it.
      if (!(e instanceof FfauditError && e.code === 'LEDGER_EXISTS')) throw e;
    }
  }
  const ledger = Ledger.open({ dir, explicit: true });
  if (origin !== undefined && ledger.origin !== origin) {
    ledger.close();
    throw new FfauditError('USAGE', `the access log at ${dir} is the log ${ledger.origin}, not ${origin}: give --access-origin ${ledger.origin}, or another --access-log`);
  }
  return ledger;
}

/**
 * A free host name for the access log: access-<machine>, or with a part of its origin's hash when another log holds
 * it. A pending one is free: it is what a start interrupted between the enrolment and the join left (addHost
 * replaces its token).
 */
async function freeHostName(db: Db, origin: string): Promise<string> {
  const base = `access-${machineName()}`.slice(0, 54).replace(/[^a-z0-9]+$/, '');
  const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM hosts WHERE name = $1 AND status <> 'pending'", [base]);
  return rows[0]!.n === 0 ? base : `${base}-${createHash('sha256').update(origin).digest('hex').slice(0, 8)}`;
}

/**
 * The access log's host: found by its origin after a restart, else made and joined as an administrator and a host
 * would (hosts add, then join with the one-time token). Its config names this server's current keys.
 */
async function enrol(o: AccessLogOptions, ledger: Ledger): Promise<{ id: number; name: string }> {
  const find = async () =>
    (await o.db.pool.query<{ id: string; name: string; status: string; vkey: string | null }>('SELECT id, name, status, vkey FROM hosts WHERE origin = $1', [ledger.origin])).rows[0];
  let host = await find();
  const keys = serverVkeys(o.keys);
  if (!host) {
    const name = await freeHostName(o.db, ledger.origin);
    const { token } = await addHost(o.db, name, 600);
    await joinServer(ledger, ACCESS_LOG_SERVER_URL, token, { fetch: o.fetch });
    host = (await find())!;
  } else {
    if (host.vkey !== ledger.vkey) throw new FfauditError('CONFLICT', `host ${host.name} holds the origin ${ledger.origin} under another key than the access log at ${ledger.dir}: give this server another --access-log`);
    const c = ledger.server()?.config;
    // The server's keys may have been replaced (serve init): the log is this server's own, so it follows them.
    if (!c || c.url !== ACCESS_LOG_SERVER_URL || c.host !== host.name || c.witness !== keys.witness || c.mirror !== keys.mirror || c.witnessMlDsa44 !== keys.witnessMlDsa44) {
      writeServerConfig(ledger.dir, { url: ACCESS_LOG_SERVER_URL, host: host.name, ...keys });
    }
    if (host.status === 'disabled') o.log(`access log: its host ${host.name} is disabled: events are recorded but not mirrored until it is enabled`);
  }
  await o.db.pool.query('UPDATE hosts SET access_log = true WHERE id = $1', [host.id]);
  return { id: Number(host.id), name: host.name };
}

export class LedgerAccessLog implements AccessLog {
  /** Pushes wanted since the last one started. */
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> | undefined;
  private failures = 0;
  /** When the last push started (performance.now()); -Infinity before the first. */
  private lastPushAt = -Infinity;
  private lastStop: string | undefined;
  private closing: Promise<void> | undefined;
  private readonly machine = hostname();
  private readonly redactionKey: Buffer;
  private readonly redactionRules: RedactionRule[];

  private constructor(
    readonly ledger: Ledger,
    readonly host: { id: number; name: string },
    private readonly file: Stats,
    private readonly release: () => void,
    private readonly o: AccessLogOptions,
  ) {
    this.redactionKey = ledger.redactionKey();
    this.redactionRules = parseRedactionRules(ledger.config);
  }

  /**
   * Opens (or creates) the access log at `o.dir`, takes its lock (BUSY when another serve process holds it), enrols
   * it, and pushes what an earlier process recorded but could not push.
   */
  static async open(o: AccessLogOptions): Promise<LedgerAccessLog> {
    const ledger = openLedger(o.dir, o.origin);
    let release: () => void;
    try {
      release = acquirePidLock(ledger.dir, LOCK_FILE, 'serve process');
    } catch (e) {
      ledger.close();
      if (e instanceof FfauditError && e.code === 'BUSY') {
        throw new FfauditError('BUSY', `the access log at ${ledger.dir} is used by another ffaudit serve process (${/pid \d+/.exec(e.message)?.[0] ?? 'starting'}): give this one its own --access-log DIR`);
      }
      throw e;
    }
    try {
      const db = join(ledger.dir, DB_FILE);
      if (ledger.databasePath !== db) throw new FfauditError('STORE', `the access log's database ${db} cannot be written (read-only media, or no permission)`);
      const host = await enrol(o, ledger);
      const log = new LedgerAccessLog(ledger, host, statSync(db), release, o);
      o.log(`access log: ${ledger.dir} (log ${ledger.origin}, ${ledger.size()} entries), mirrored as host ${host.name}`);
      if (ledger.size() > 0) log.schedule();
      return log;
    } catch (e) {
      release();
      ledger.close();
      throw e;
    }
  }

  /** Resolves once the event is in the ledger, durably; rejects when it cannot be (the request then fails: 503). */
  record(event: AccessEvent): Promise<void> {
    try {
      if (this.closing) throw new FfauditError('STORE', 'the access log is closed');
      this.checkInPlace();
      this.ledger.append([this.entryOf(event)]);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    this.schedule();
    return Promise.resolve();
  }

  /**
   * An append to a database whose file was removed or replaced would succeed into a file nobody will read again:
   * the ledger must still be the one opened, at its path.
   */
  private checkInPlace(): void {
    const path = join(this.ledger.dir, DB_FILE);
    let now: Stats;
    try {
      now = statSync(path);
    } catch (e) {
      throw new FfauditError('STORE', `the access log's database ${path} is gone (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (now.ino !== this.file.ino || now.dev !== this.file.dev) throw new FfauditError('STORE', `the access log's database ${path} was replaced since the server started`);
  }

  /** The entry (docs/web.md): the query redacted as a note's text is, never a cookie or a token. */
  private entryOf(e: AccessEvent): EntryBase {
    const entry: EntryBase = {
      v: 1,
      type: 'access.event',
      time: nowRfc3339(),
      by: { user: e.user, uid: null, host: this.machine },
      ffaudit_version: ffauditVersion(),
      action: e.action,
      via: e.via,
    };
    if (e.runs && e.runs.length > 0) entry.runs = [...new Set(e.runs)];
    if (e.files && e.files.length > 0) entry.files = [...new Set(e.files)];
    const redactions: Redaction[] = [];
    if (e.query !== undefined) {
      const q = redactField(e.query.length > MAX_QUERY_CHARS ? `${e.query.slice(0, MAX_QUERY_CHARS)}…` : e.query, 'query', this.redactionKey, [], this.redactionRules);
      entry.query = q.value;
      redactions.push(...q.redactions);
    }
    if (e.client !== undefined) entry.client = e.client;
    if (redactions.length > 0) entry.redactions = redactions;
    return entry;
  }

  /** A push soon: at most one in flight, another after it when events came meanwhile; none while a retry waits. */
  private schedule(delayMs = PUSH_DELAY_MS): void {
    this.dirty = true;
    if (this.timer || this.pushing || this.closing) return;
    this.startTimer(Math.max(delayMs, this.lastPushAt + PUSH_EVERY_MS - performance.now()));
  }

  private startTimer(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushing = this.drain().finally(() => {
        this.pushing = undefined;
      });
    }, delayMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    if (!this.dirty || this.closing) return;
    this.dirty = false;
    this.lastPushAt = performance.now();
    if (!(await this.pushOnce())) {
      const wait = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.failures - 1));
      this.o.log(`access log: retrying the push in ${wait / 1000} s`);
      // The retry's timer holds off schedule(): events meanwhile wait for it instead of each pushing at once.
      this.dirty = true;
      this.startTimer(wait);
      return;
    }
    // Events recorded during the push: the next push, PUSH_EVERY_MS after this one started.
    if (this.dirty && !this.closing) this.startTimer(Math.max(PUSH_DELAY_MS, this.lastPushAt + PUSH_EVERY_MS - performance.now()));
  }

  /** One push of everything recorded; false when it failed (logged). */
  private async pushOnce(): Promise<boolean> {
    try {
      const r = await pushLedger(this.ledger, { fetch: this.o.fetch, retries: 0 });
      this.failures = 0;
      // A disabled host is told on every push; said once until it changes.
      if (r.stopped !== undefined && r.stopped !== this.lastStop) this.o.log(`access log: ${r.stopped}`);
      this.lastStop = r.stopped;
      return true;
    } catch (e) {
      this.failures++;
      this.o.log(`access log: the push to this server's witness and mirror failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
      return false;
    }
  }

  /** Waits for the push in flight, pushes what came after it (once), and closes the ledger. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const pending = this.dirty || this.timer !== undefined;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      await this.pushing;
      if (pending || this.dirty) await this.pushOnce();
      this.release();
      this.ledger.close();
    })();
    return this.closing;
  }
}
