// The search over every mirrored log on a real PostgreSQL: three real ledgers (hosts) whose runs and notes are
// pushed through the real POST /add-entries, with a lineage crossing them (host 1 renders a.mov → b.mov, host 2 reads
// b.mov → c.mov, host 3 reads c.mov → d.mov). Answers are compared with what each local ledger answers; hostile filter
// values; tampered index rows and entries; the statement timeout; log states; re-verification; the backfill.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type pg from 'pg';
import { openCheckpoint } from '../../core/checkpoint.js';
import { isBlobRef, sha256Hex, type EntryBase } from '../../core/entry.js';
import { FfauditError } from '../../core/errors.js';
import { hashLeaf, verifyInclusion } from '../../core/merkle.js';
import { parseNote } from '../../core/note.js';
import { Ledger } from '../../ledger/ledger.js';
import { queryRuns, type RunFilter } from '../../ledger/runs.js';
import { scanNotes } from '../../ledger/notes.js';
import { traceContent } from '../../ledger/trace.js';
import { formatTimeNs, parseTimeNs } from '../../time/time.js';
import { tempDir, naiveLeaf } from '../../testing/fixtures.js';
import { addPending, enrolHost, specBody } from '../../testing/mirror-fixture.js';
import { runCliInProcess } from '../../testing/cli.js';
import { createDatabase, testPostgres } from '../../testing/pg-server.js';
import { createApp } from '../app.js';
import { migrate, openDb, type Db } from '../db/pool.js';
import { initServerKeys, loadServerKeys } from '../keys.js';
import { originHash } from '../hosts.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { deriveIndexRows, indexText, INDEX_KEY_CHARS } from './derive.js';
import { mirrorEvidence } from './evidence.js';
import { backfillIndexes, needsBackfill } from './ingest.js';
import { MirrorLookup, setIndexCheckReuse, traceAcross } from './lookup.js';
import { findRunAcross, searchNotes, searchRuns, streamRuns } from './query.js';
import { setSearchStatementTimeout } from './read.js';
import { reverifyMirror } from './reverify.js';
import { logStates } from './state.js';
import type { LoggedRun, Page, SearchFilter, Unreadable } from './types.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;

const sha = (s: string) => sha256Hex(s);
const A = sha('a.mov bytes');
const B = sha('b.mov bytes');
const C = sha('c.mov bytes');
const D = sha('d.mov bytes');
const T0 = 1_780_000_000_000_000_000n; // ns
const at = (s: number) => formatTimeNs(T0 + BigInt(s) * 1_000_000_000n);

interface RunSpec {
  id: string;
  user?: string;
  actor?: string;
  tool?: 'ffmpeg' | 'ffprobe';
  time: number; // seconds after T0
  argv?: string[];
  cwd?: string;
  reason?: string;
  inputs?: { path: string; sha256: string | null }[];
  outputs?: { path: string; sha256: string | null }[];
  /** undefined: incomplete */
  status?: 'ok' | 'failed' | 'terminated';
}

/** A run recorded as capture records it: run.start, then run.end naming it (its own append each). */
function recordRun(l: Ledger, host: string, r: RunSpec): void {
  const by = { user: r.user ?? 'alice', uid: 1000, host, ...(r.actor ? { asserted_actor: r.actor } : {}) };
  const inputs = (r.inputs ?? []).map((f) => ({ ...f, size: 10 }));
  const start: EntryBase = {
    v: 1,
    type: 'run.start',
    time: at(r.time),
    by,
    run: r.id,
    tool: r.tool ?? 'ffmpeg',
    cwd: r.cwd ?? '/work',
    argv: r.argv ?? ['ffmpeg', '-i', 'x'],
    redactions: [],
    ...(r.reason ? { reason: r.reason } : {}),
    ffmpeg: { path: '/usr/bin/ffmpeg', version: '6.1', sha256: null },
    inputs,
  };
  const startIndex = l.append([start]).indices[0]!;
  if (!r.status) return;
  const end: EntryBase = {
    v: 1,
    type: 'run.end',
    time: at(r.time + 1),
    by,
    run: r.id,
    start: startIndex,
    status: r.status,
    exit_code: r.status === 'ok' ? 0 : 1,
    signal: null,
    duration_ms: 1000,
    inputs: inputs.map((i) => ({ ...i, produced_by: 'unknown' })),
    outputs: (r.outputs ?? []).map((f) => ({ ...f, size: 20 })),
    streams: [],
    report_sha256: null,
    redactions: [],
  };
  l.append([end]);
}

function recordNote(l: Ledger, host: string, time: number, text: string, files: { path: string; sha256: string }[], actor?: string): void {
  l.append([{ v: 1, type: 'custody.note', time: at(time), by: { user: 'clerk', uid: 1001, host, ...(actor ? { asserted_actor: actor } : {}) }, text, files: files.map((f) => ({ ...f, size: 20 })) }]);
}

interface Host {
  name: string;
  ledger: Ledger;
  id: number;
  pushed: number;
}

let db: Db;
let dbUrl = '';
let app: ReturnType<typeof createApp>;
let tmp: { dir: string; cleanup: () => void };
const hosts: Host[] = [];
const ALL = { hostIds: null };

/** Pushes what the host's ledger holds beyond what was pushed, through POST /add-entries, and its blobs. */
async function push(h: Host): Promise<void> {
  const size = h.ledger.size();
  const entries = h.ledger.entries(0, size);
  const log = { origin: h.ledger.origin, entries, leaves: entries.map((e) => naiveLeaf(e)), vkey: h.ledger.vkey, h: '', checkpoints: new Map(), blobs: new Map(), ledger: h.ledger };
  await addPending(db, h.id, h.ledger.vkey, h.ledger.checkpoint());
  const r = await app.request('/add-entries', { method: 'POST', body: specBody(log, h.pushed, size), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(r.status, 200, await r.clone().text());
  for (const b of h.ledger.blobHashes()) {
    const put = await app.request(`/blobs/${originHash(h.ledger.origin).toString('hex')}/${b}`, { method: 'PUT', body: h.ledger.blob(b)! });
    assert.ok(put.status === 200 || put.status === 201, await put.text());
  }
  h.pushed = size;
}

async function q(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Record<string, unknown>>> {
  return db.pool.query<Record<string, unknown>>(sql, params);
}

/** What the local ledgers answer, merged newest first as the server orders them (time, host id, index). */
function localRuns(f: RunFilter, only?: Host[]): string[] {
  const all: { key: [bigint, number, number]; id: string }[] = [];
  for (const h of only ?? hosts) {
    for (const r of queryRuns(h.ledger, f).runs) all.push({ key: [parseTimeNs(r.started_at)!, h.id, r.entries[0]!], id: `${h.ledger.origin} ${r.id}` });
  }
  all.sort((x, y) => (x.key[0] !== y.key[0] ? (x.key[0] > y.key[0] ? -1 : 1) : x.key[1] !== y.key[1] ? y.key[1] - x.key[1] : y.key[2] - x.key[2]));
  return all.map((x) => x.id);
}

async function allPages(f: SearchFilter, limit: number, order: 'asc' | 'desc' = 'desc'): Promise<{ ids: string[]; pages: number; unreadable: Unreadable[] }> {
  const ids: string[] = [];
  const unreadable: Unreadable[] = [];
  let after: Page<LoggedRun>['next'] | undefined;
  let pages = 0;
  for (;;) {
    const p = await searchRuns(db, ALL, f, { limit, order, ...(after ? { after } : {}) });
    pages++;
    assert.ok(p.items.length <= limit);
    ids.push(...p.items.map((r) => `${r.log} ${r.id}`));
    unreadable.push(...p.unreadable);
    if (p.next === null) break;
    after = decodeCursor(encodeCursor(p.next));
    assert.ok(pages < 1000);
  }
  return { ids, pages, unreadable };
}

const ids = (p: Page<LoggedRun>) => p.items.map((r) => `${r.log} ${r.id}`);

describe('search across mirrored logs', { skip }, () => {
  before(async () => {
    tmp = tempDir('ffaudit-search-');
    const url = await createDatabase((pgc as { url: string }).url);
    dbUrl = url;
    db = await openDb(url);
    await migrate(db);
    const keysDir = join(tmp.dir, 'keys');
    initServerKeys(keysDir, 'audit.test');
    app = createApp({ db, keys: loadServerKeys(keysDir), log: () => undefined, now: () => 1_780_000_000 });
    for (const name of ['edit-ws-1', 'render-7', 'ingest-3']) {
      const ledger = Ledger.init(join(tmp.dir, name), { origin: `${name}.test/ffaudit` });
      hosts.push({ name, ledger, id: await enrolHost(db, name, { origin: ledger.origin, vkey: ledger.vkey }), pushed: 0 });
    }
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    // The lineage, across the three hosts.
    recordRun(h1.ledger, 'edit-ws-1', { id: 'run-h1-render-0001', time: 10, argv: ['ffmpeg', '-i', '/media/a.mov', '/media/b.mov'], inputs: [{ path: '/media/a.mov', sha256: A }], outputs: [{ path: '/media/b.mov', sha256: B }], status: 'ok', reason: 'first cut' });
    recordRun(h2.ledger, 'render-7', { id: 'run-h2-transcode-01', user: 'bob', time: 20, argv: ['ffmpeg', '-i', '/in/b.mov', '/out/c.mov'], inputs: [{ path: '/in/b.mov', sha256: B }], outputs: [{ path: '/out/c.mov', sha256: C }], status: 'ok' });
    recordRun(h3.ledger, 'ingest-3', { id: 'run-h3-deliver-0001', user: 'carol', actor: 'delivery-desk', time: 30, argv: ['ffmpeg', '-i', '/ingest/c.mov', '/deliver/d.mov'], inputs: [{ path: '/ingest/c.mov', sha256: C }], outputs: [{ path: '/deliver/d.mov', sha256: D }], status: 'ok' });
    recordNote(h3.ledger, 'ingest-3', 31, 'delivered to the client', [{ path: '/deliver/d.mov', sha256: D }], 'courier');
    // Runs for every filter: users, actors, tools, statuses, times, text that SQL would misread, ids sharing a prefix.
    recordRun(h1.ledger, 'edit-ws-1', { id: 'abcdef01-aaaa', user: 'bob', tool: 'ffprobe', time: 40, argv: ['ffprobe', "50%_off'\"\\ promo"], status: 'failed' });
    recordRun(h2.ledger, 'render-7', { id: 'abcdef02-bbbb', user: 'alice', actor: "o'brien", time: 40, argv: ['ffmpeg', 'PLAIN'], status: 'terminated' });
    recordRun(h3.ledger, 'ingest-3', { id: 'run-h3-incomplete', user: 'alice', time: 50, argv: ['ffmpeg', '-i', '/ingest/e.mov'], inputs: [{ path: '/ingest/e.mov', sha256: null }] });
    recordRun(h1.ledger, 'edit-ws-1', { id: 'run-h1-big', user: 'dave', time: 60, argv: ['ffmpeg', 'x'.repeat(70_000)], status: 'ok' });
    recordRun(h2.ledger, 'render-7', { id: 'run-h2-late', user: 'bob', time: 70, cwd: '/Projects/Promo', argv: ['ffmpeg', '-v', 'error'], inputs: [{ path: '/in/b.mov', sha256: B }], outputs: [{ path: '/out/b-proxy.mov', sha256: sha('proxy') }], status: 'ok' });
    for (const h of hosts) await push(h);
  });

  after(async () => {
    setSearchStatementTimeout(10_000);
    for (const h of hosts) h.ledger.close();
    await db?.close();
    spawnSync('chattr', ['-R', '-i', tmp.dir], { stdio: 'ignore' });
    tmp.cleanup();
  });

  it('fills the indexes in the transaction that stores the entries, through POST /add-entries', async () => {
    const runs = await q('SELECT host_id, start_idx, end_idx, run_id, status, usr, actor, words IS NULL AS nowords FROM idx_runs ORDER BY host_id, start_idx');
    assert.equal(runs.rows.length, 8);
    const byId = new Map(runs.rows.map((r: Record<string, unknown>) => [r.run_id as string, r]));
    assert.deepEqual(byId.get('run-h3-deliver-0001'), { host_id: hosts[2]!.id, start_idx: 0, end_idx: 1, run_id: 'run-h3-deliver-0001', status: 'ok', usr: 'carol', actor: 'delivery-desk', nowords: false });
    assert.equal(byId.get('run-h3-incomplete')!.status, 'incomplete');
    assert.equal(byId.get('run-h3-incomplete')!.end_idx, null);
    // A field moved into a blob: still indexed, always a candidate for text.
    assert.equal(byId.get('run-h1-big')!.nowords, true);
    const tally = await q('SELECT host_id, runs, ends, notes, files FROM idx_tally ORDER BY host_id');
    assert.deepEqual(
      tally.rows.map((r) => [r.host_id, r.runs, r.ends, r.notes, r.files]),
      [
        [hosts[0]!.id, 3, 3, 0, 3],
        [hosts[1]!.id, 3, 3, 0, 6],
        [hosts[2]!.id, 2, 1, 1, 5],
      ],
    );
    const last = await q('SELECT count(*)::int AS n FROM hosts WHERE last_push_at IS NOT NULL');
    assert.equal(last.rows[0]!.n, 3);
  });

  it('answers as the local ledgers do, for every filter', async () => {
    const cases: [SearchFilter, RunFilter][] = [
      [{}, {}],
      [{ user: 'bob' }, { user: 'bob' }],
      [{ actor: 'delivery-desk' }, { actor: 'delivery-desk' }],
      [{ actor: "o'brien" }, { actor: "o'brien" }],
      [{ tool: 'ffprobe' }, { tool: 'ffprobe' }],
      [{ statuses: ['incomplete', 'failed'] }, { statuses: ['incomplete', 'failed'] }],
      [{ statuses: ['terminated'] }, { statuses: ['terminated'] }],
      [{ sinceNs: T0 + 20_000_000_000n, untilNs: T0 + 40_000_000_000n }, { sinceNs: T0 + 20_000_000_000n, untilNs: T0 + 40_000_000_000n }],
      [{ sha256: B }, { sha256: B }],
      [{ sha256: D }, { sha256: D }],
      [{ pathPrefix: '/deliver/d.mov' }, { path: '/deliver/d.mov' }],
      [{ grep: 'promo' }, { grep: 'promo' }],
      [{ grep: 'PROMO' }, { grep: 'PROMO' }],
      [{ grep: "50%_off'\"\\" }, { grep: "50%_off'\"\\" }],
      [{ grep: 'xxxxxxxxxx' }, { grep: 'xxxxxxxxxx' }],
      [{ user: 'bob', sha256: B }, { user: 'bob', sha256: B }],
    ];
    for (const [f, local] of cases) {
      const p = await searchRuns(db, ALL, f, { limit: 100, order: 'desc' });
      assert.deepEqual(ids(p), localRuns(local), JSON.stringify(f, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      assert.equal(p.total, p.items.length);
      assert.deepEqual(p.unreadable, []);
    }
    // The run itself is the local `log --json` record, plus its log.
    const [mine] = (await searchRuns(db, ALL, { sha256: D }, { limit: 10, order: 'asc' })).items;
    const local = queryRuns(hosts[2]!.ledger, { sha256: D }).runs[0]!;
    assert.deepEqual(mine, { ...local, log: 'ingest-3.test/ffaudit' });
    // A prefix: every path under /in/.
    assert.deepEqual(ids(await searchRuns(db, ALL, { pathPrefix: '/in/' }, { limit: 100, order: 'asc' })), ['render-7.test/ffaudit run-h2-transcode-01', 'render-7.test/ffaudit run-h2-late']);
    // Logs and hosts.
    assert.deepEqual(ids(await searchRuns(db, ALL, { logs: ['render-7.test/ffaudit'] }, { limit: 100, order: 'desc' })), localRuns({}, [hosts[1]!]));
    assert.deepEqual(ids(await searchRuns(db, ALL, { hosts: ['ingest-3', 'edit-ws-1'] }, { limit: 100, order: 'desc' })), localRuns({}, [hosts[0]!, hosts[2]!]));
    assert.deepEqual(ids(await searchRuns(db, { hostIds: [hosts[0]!.id] }, { hosts: ['ingest-3'] }, { limit: 100, order: 'desc' })), []);
    // Notes as `log --json` shows them.
    const notes = await searchNotes(db, ALL, { sha256: D }, { limit: 10, order: 'desc' });
    assert.deepEqual(notes.items, scanNotes(hosts[2]!.ledger, { sha256: D }).notes.map((n) => ({ ...n, log: 'ingest-3.test/ffaudit' })));
    assert.equal(notes.items.length, 1);
    assert.equal((await searchNotes(db, ALL, { grep: 'CLIENT', actor: 'courier', pathPrefix: '/deliver/' }, { limit: 10, order: 'desc' })).items.length, 1);
    assert.equal((await searchNotes(db, ALL, { user: 'alice' }, { limit: 10, order: 'desc' })).items.length, 0);
  });

  it('pages cover every match once, in a stable order, while runs are added between pages', async () => {
    const full = localRuns({});
    for (const limit of [1, 2, 3, 7]) {
      const all = await allPages({}, limit);
      assert.deepEqual(all.ids, full);
      assert.deepEqual((await allPages({}, limit, 'asc')).ids, [...full].reverse());
    }
    // Newest first, two per page; after the first page, a newer run and one as old as the oldest arrive.
    const first = await searchRuns(db, ALL, {}, { limit: 2, order: 'desc' });
    assert.equal(first.total, 8);
    const h1 = hosts[0]!;
    recordRun(h1.ledger, 'edit-ws-1', { id: 'run-h1-newer', time: 500, status: 'ok' });
    recordRun(h1.ledger, 'edit-ws-1', { id: 'run-h1-backdated', time: 5, status: 'ok' });
    await push(h1);
    const rest: string[] = [];
    let next = first.next;
    while (next) {
      const p = await searchRuns(db, ALL, {}, { limit: 2, order: 'desc', after: next });
      rest.push(...ids(p));
      next = p.next;
    }
    // Nothing seen twice, nothing older missed; the newer run is before the cursor (the next search shows it first).
    assert.deepEqual([...ids(first), ...rest], [...full, 'edit-ws-1.test/ffaudit run-h1-backdated']);
    assert.equal(ids(await searchRuns(db, ALL, {}, { limit: 1, order: 'desc' }))[0], 'edit-ws-1.test/ffaudit run-h1-newer');
  });

  it('takes hostile values in every filter as literal parameters', async () => {
    // None of these is in any recorded value (% _ \\ ' and " are, literally: see below).
    const hostile = ["'; DROP TABLE idx_runs; --", '%%', '_x_', '\\\\', 'a\u0000b', '\u0000', 'x'.repeat(100_000), '\u{10FFFF}', '"\'', "o'brien%", '*', '.*', '$1', '\ud800'];
    for (const v of hostile) {
      for (const f of [{ user: v }, { actor: v }, { grep: v }, { pathPrefix: v }, { logs: [v] }, { hosts: [v] }] as SearchFilter[]) {
        const p = await searchRuns(db, ALL, f, { limit: 5, order: 'desc' });
        assert.deepEqual(p.items, [], JSON.stringify(f).slice(0, 80));
        assert.equal(p.total, 0);
        assert.deepEqual((await searchNotes(db, ALL, f, { limit: 5, order: 'desc' })).items, []);
      }
    }
    assert.equal((await q('SELECT count(*)::int AS n FROM idx_runs')).rows[0]!.n, 10);
    // Literal matches: % and _ are characters, not patterns.
    assert.deepEqual(ids(await searchRuns(db, ALL, { grep: '%_' }, { limit: 5, order: 'desc' })), ['edit-ws-1.test/ffaudit abcdef01-aaaa']);
    assert.deepEqual(ids(await searchRuns(db, ALL, { grep: '%' }, { limit: 5, order: 'desc' })), ['edit-ws-1.test/ffaudit abcdef01-aaaa']);
    assert.deepEqual(ids(await searchRuns(db, ALL, { pathPrefix: '/in%' }, { limit: 5, order: 'desc' })), []);
  });

  it('finds a run by id or unique prefix across logs', async () => {
    assert.equal((await findRunAcross(db, ALL, 'run-h2-transcode-01')).log, 'render-7.test/ffaudit');
    assert.equal((await findRunAcross(db, ALL, 'run-h3-deli')).id, 'run-h3-deliver-0001');
    assert.equal((await findRunAcross(db, ALL, '1', 'ingest-3.test/ffaudit')).id, 'run-h3-deliver-0001');
    await assert.rejects(findRunAcross(db, ALL, 'abcdef0'), (e: FfauditError) => e.code === 'USAGE');
    await assert.rejects(findRunAcross(db, ALL, 'abcde'), (e: FfauditError) => e.code === 'NOT_FOUND');
    await assert.rejects(findRunAcross(db, { hostIds: [hosts[0]!.id] }, 'run-h2-transcode-01'), (e: FfauditError) => e.code === 'NOT_FOUND');
    assert.equal((await findRunAcross(db, { hostIds: [hosts[0]!.id] }, 'abcdef0')).id, 'abcdef01-aaaa');
  });

  it('traces a lineage across the three hosts, and serves each log as evidence', async () => {
    const l = await traceAcross(db, ALL, { path: '/deliver/d.mov', sha256: D });
    assert.equal(l.log, 'ingest-3.test/ffaudit');
    assert.deepEqual(
      l.runs.map((r) => [r.id, r.log ?? null]),
      [
        ['run-h1-render-0001', 'edit-ws-1.test/ffaudit'],
        ['run-h2-transcode-01', 'render-7.test/ffaudit'],
        ['run-h3-deliver-0001', null],
      ],
    );
    assert.deepEqual(l.sources, [{ path: '/media/a.mov', sha256: A, size: 10, produced_by: 'unknown', basis: 'index-checked' }]);
    assert.equal(l.indexChecked, true);
    assert.deepEqual(l.notes.map((n) => n.text), ['delivered to the client']);
    // Host 3's own ledger knows only its own run: the server walks on into the other logs.
    const local = await traceContent(hosts[2]!.ledger, '/deliver/d.mov', D);
    assert.deepEqual(local.runs.map((r) => r.id), ['run-h3-deliver-0001']);
    assert.deepEqual(l.runs[2], local.runs[0]);
    // The uses of b.mov: read on host 2, twice.
    const b = await traceAcross(db, ALL, { path: '/media/b.mov', sha256: B });
    assert.equal(b.log, 'edit-ws-1.test/ffaudit');
    assert.deepEqual(b.readBy.map((r) => r.id), ['run-h2-transcode-01', 'run-h2-late']);

    const src = await mirrorEvidence(db, 'render-7.test/ffaudit');
    const head = (await src.signedHead())!;
    const cp = openCheckpoint(head, [src.verifier], 'render-7.test/ffaudit');
    assert.equal(cp.size, hosts[1]!.ledger.size());
    assert.ok(parseNote(head).signatures.some((s) => s.name === 'audit.test/mirror'), 'the mirror cosignature travels with the checkpoint');
    const e = await src.entryWithProof(2, cp.size);
    assert.ok(verifyInclusion(hashLeaf(e.data), 2, cp.size, e.proof, cp.root));
    assert.deepEqual(e.data, hosts[1]!.ledger.entries(2, 3)[0]);
    await assert.rejects(mirrorEvidence(db, 'nobody.test/ffaudit'), (x: FfauditError) => x.code === 'NOT_FOUND');
    const big = await mirrorEvidence(db, 'edit-ws-1.test/ffaudit');
    const blobName = hosts[0]!.ledger.blobHashes()[0]!;
    assert.deepEqual(await big.blob(blobName), hosts[0]!.ledger.blob(blobName));
  });

  it('streams every run oldest first', async () => {
    const got: string[] = [];
    for await (const x of streamRuns(db, ALL, {})) got.push('unreadable' in x ? 'unreadable' : `${x.log} ${x.id}`);
    assert.deepEqual(got, localRuns({}).reverse());
  });

  it('reports the state of every log', async () => {
    const now = new Date();
    const states = await logStates(db, ALL, { silentAfterMs: 3_600_000, now });
    assert.deepEqual(states.map((s) => [s.host, s.origin, s.status, s.size, s.silent, s.lag]), [
      ['edit-ws-1', 'edit-ws-1.test/ffaudit', 'active', hosts[0]!.ledger.size(), false, 0],
      ['ingest-3', 'ingest-3.test/ffaudit', 'active', hosts[2]!.ledger.size(), false, 0],
      ['render-7', 'render-7.test/ffaudit', 'active', hosts[1]!.ledger.size(), false, 0],
    ]);
    const later = await logStates(db, { hostIds: [hosts[1]!.id] }, { silentAfterMs: 3_600_000, now: new Date(now.getTime() + 2 * 3_600_000) });
    assert.deepEqual(later.map((s) => [s.host, s.silent]), [['render-7', true]]);
  });

  it('a tampered index row cannot make a run match: the rebuilt run decides', async () => {
    await q("UPDATE idx_runs SET usr = 'mallory', status = 'failed' WHERE run_id = 'run-h2-transcode-01'");
    const p = await searchRuns(db, ALL, { user: 'mallory' }, { limit: 10, order: 'desc' });
    assert.deepEqual(p.items, []);
    assert.deepEqual(p.unreadable, []);
    assert.deepEqual(ids(await searchRuns(db, ALL, { statuses: ['failed'] }, { limit: 10, order: 'desc' })), ['edit-ws-1.test/ffaudit abcdef01-aaaa']);
    await q("UPDATE idx_runs SET usr = 'bob', status = 'ok' WHERE run_id = 'run-h2-transcode-01'");
  });

  it('a tampered entry is unreadable in a search and found by re-verification', async () => {
    const h2 = hosts[1]!;
    const before = await reverifyMirror(db, h2.id);
    assert.deepEqual(before, { ok: true, size: h2.ledger.size(), problems: [], timestamps: { stored: 0, verified: 0, unchecked: 0 } });
    await q(`UPDATE mirror_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), '/out/c.mov', '/out/X.mov'), 'UTF8') WHERE host_id = $1 AND idx = 1`, [h2.id]);
    const p = await searchRuns(db, ALL, { user: 'bob', logs: ['render-7.test/ffaudit'] }, { limit: 10, order: 'desc' });
    assert.deepEqual(ids(p), ['render-7.test/ffaudit run-h2-late']);
    assert.deepEqual(p.unreadable, [{ log: 'render-7.test/ffaudit', index: 0, id: 'run-h2-transcode-01', error: 'entry 1 does not hash to its stored leaf' }]);
    const after = await reverifyMirror(db, h2.id);
    assert.deepEqual(after, { ok: false, size: h2.ledger.size(), problems: ['entry 1 does not hash to its stored leaf'], timestamps: { stored: 0, verified: 0, unchecked: 0 } });
    // Leaf rewritten too: the entries no longer give the cosigned root.
    await q('UPDATE mirror_entries SET leaf = $2 WHERE host_id = $1 AND idx = 1', [h2.id, hashLeaf((await q('SELECT data FROM mirror_entries WHERE host_id = $1 AND idx = 1', [h2.id])).rows[0]!.data as Buffer)]);
    assert.deepEqual((await reverifyMirror(db, h2.id)).problems, [`the mirrored entries do not hash to the root of the mirror checkpoint of size ${h2.ledger.size()}`]);
    const state = (await logStates(db, { hostIds: [h2.id] }, { silentAfterMs: 1 }))[0]!;
    assert.deepEqual(state.lastCheck && [state.lastCheck.ok, state.lastCheck.problems], [false, [`the mirrored entries do not hash to the root of the mirror checkpoint of size ${h2.ledger.size()}`]]);
    await q('UPDATE mirror_entries SET data = $2, leaf = $3 WHERE host_id = $1 AND idx = 1', [h2.id, h2.ledger.entries(1, 2)[0], naiveLeaf(h2.ledger.entries(1, 2)[0]!)]);
    assert.equal((await reverifyMirror(db, h2.id)).ok, true);
  });

  it('a deleted index row is reported by indexProblems, and a trace that would rest on it stops', async () => {
    assert.deepEqual(await new MirrorLookup(db, ALL).indexProblems(), []);
    const h1 = hosts[0]!;
    const saved = (await q("SELECT * FROM idx_runs WHERE run_id = 'run-h1-render-0001'")).rows[0] as Record<string, unknown>;
    await q("DELETE FROM idx_runs WHERE run_id = 'run-h1-render-0001'");
    // Within a minute of a check of the same tallies, that check is reused (lookup.ts: the count costs a scan of
    // every index row); the deletion did not move the tallies, so the reused answer is the earlier one.
    assert.deepEqual(await new MirrorLookup(db, ALL).indexProblems(), []);
    setIndexCheckReuse(0);
    assert.deepEqual(await new MirrorLookup(db, ALL).indexProblems(), ['edit-ws-1.test/ffaudit: its entries gave 5 runs, the index holds 4', 'edit-ws-1.test/ffaudit: its entries gave 5 run ends, the index holds 4']);
    await assert.rejects(traceAcross(db, ALL, { path: '/deliver/d.mov', sha256: D }), (e: FfauditError) => e.code === 'INTEGRITY' && e.message.includes('edit-ws-1.test/ffaudit: its entries gave 5 runs'));
    const cols = Object.keys(saved);
    await q(`INSERT INTO idx_runs (${cols.join(', ')}) VALUES (${cols.map((_c, i) => `$${i + 1}`).join(', ')})`, cols.map((c) => saved[c]));
    assert.equal(h1.id, Number(saved.host_id));
    assert.deepEqual(await new MirrorLookup(db, ALL).indexProblems(), []);
    setIndexCheckReuse(60_000);
  });

  it('a statement that runs past the timeout is a BUSY error', async () => {
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE idx_runs IN ACCESS EXCLUSIVE MODE');
      setSearchStatementTimeout(200);
      await assert.rejects(searchRuns(db, ALL, { user: 'bob' }, { limit: 5, order: 'desc' }), (e: FfauditError) => e instanceof FfauditError && e.code === 'BUSY');
    } finally {
      setSearchStatementTimeout(10_000);
      await locker.query('ROLLBACK');
      locker.release();
    }
  });

  it('serve verify re-verifies now and exits 1 on a problem; the schedule options are parsed strictly', async () => {
    const url = dbUrl;
    const ok = await runCliInProcess(['serve', 'verify', 'render-7', '--db', url]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, `render-7: ok (${hosts[1]!.ledger.size()} entries)\n`);
    const h3 = hosts[2]!;
    await q("UPDATE mirror_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), 'client', 'CLIENT'), 'UTF8') WHERE host_id = $1 AND idx = 2", [h3.id]);
    const bad = await runCliInProcess(['serve', 'verify', '--db', url]);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stdout, /^ingest-3: PROBLEMS \(\d+ entries\)\n {2}entry 2 does not hash to its stored leaf\n/m);
    assert.match(bad.stdout, /^edit-ws-1: ok/m);
    await q('UPDATE mirror_entries SET data = $2 WHERE host_id = $1 AND idx = 2', [h3.id, h3.ledger.entries(2, 3)[0]]);
    const nobody = await runCliInProcess(['serve', 'verify', 'nobody', '--db', url]);
    assert.equal(nobody.status, 2);
    assert.match(nobody.stderr, /no enrolled host "nobody"/);
    for (const opt of [['--reverify-every', '25d'], ['--reverify-every', '-1h'], ['--silent-after', '0'], ['--silent-after', '1 h']]) {
      const r = await runCliInProcess(['serve', '--db', url, '--keys', join(tmp.dir, 'keys'), '--listen', '127.0.0.1:0', ...opt]);
      assert.equal(r.status, 2, `${opt.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(opt[0]!));
    }
  });

  it('finds a run whose file list is in a blob by a file it wrote, and traces that file to it', async () => {
    // An HLS-like run writing 1,500 segments: its end is over 64 KiB, so the ledger moves `outputs` into a blob and
    // the entry holds no file record for the index to read.
    const h3 = hosts[2]!;
    const segments = Array.from({ length: 1500 }, (_x, i) => ({ path: `/deliver/hls/segment-${String(i).padStart(5, '0')}.ts`, sha256: sha(`segment ${i}`) }));
    recordRun(h3.ledger, 'ingest-3', { id: 'run-h3-hls', user: 'carol', time: 80, argv: ['ffmpeg', '-i', '/ingest/c.mov', '-f', 'hls', '/deliver/hls/index.m3u8'], inputs: [{ path: '/ingest/c.mov', sha256: C }], outputs: segments, status: 'ok' });
    const endEntry = JSON.parse(h3.ledger.entries(h3.ledger.size() - 1, h3.ledger.size())[0]!.toString()) as Record<string, unknown>;
    assert.ok(isBlobRef(endEntry.outputs), 'the outputs are in a blob');
    await push(h3);
    const seg = segments[1234]!;
    const byHash = await searchRuns(db, ALL, { sha256: seg.sha256 }, { limit: 10, order: 'desc' });
    assert.deepEqual([byHash.items.map((r) => r.id), byHash.total], [['run-h3-hls'], 1]);
    const byPath = await searchRuns(db, ALL, { pathPrefix: '/deliver/hls/segment-01234' }, { limit: 10, order: 'desc' });
    assert.deepEqual([byPath.items.map((r) => r.id), byPath.total], [['run-h3-hls'], 1]);
    // Another hash: the blobbed run is a candidate, rebuilt, and dropped; the count says what the pages return.
    const other = await searchRuns(db, ALL, { sha256: sha('no such segment') }, { limit: 10, order: 'desc' });
    assert.deepEqual([other.items, other.total], [[], 0]);
    const t = await traceAcross(db, ALL, { path: seg.path, sha256: seg.sha256 });
    // On across hosts: c.mov came from render-7, whose b.mov came from edit-ws-1.
    assert.deepEqual(t.runs.map((r) => r.id), ['run-h1-render-0001', 'run-h2-transcode-01', 'run-h3-hls']);
  });

  it('backfills the indexes of a mirror stored before them, idempotently', async () => {
    const want = await allPages({}, 100);
    for (const t of ['idx_runs', 'idx_notes', 'idx_files', 'idx_tally']) await q(`DELETE FROM ${t}`);
    assert.equal(await needsBackfill(db, 3), true);
    assert.equal(await needsBackfill(db, 2), true);
    const n = hosts.reduce((s, h) => s + h.ledger.size(), 0);
    assert.equal(await backfillIndexes(db), n);
    assert.equal(await backfillIndexes(db), n);
    assert.equal(await needsBackfill(db, 3), false);
    assert.deepEqual((await allPages({}, 100)).ids, want.ids);
    assert.deepEqual(await new MirrorLookup(db, ALL).indexProblems(), []);
  });
});

describe('index rows and cursors (pure)', () => {
  it('derives the rows of a run start, a run end and a note, and none of anything else', () => {
    const start = Buffer.from(JSON.stringify({ v: 1, type: 'run.start', time: '2026-12-05T10:00:00.000000001Z', by: { user: 'Al\u0000ice', uid: 1, host: 'h', asserted_actor: 'Ed' }, run: 'r1', tool: 'ffmpeg', cwd: '/W', argv: ['ffmpeg', '-I'], redactions: [], ffmpeg: { path: 'f', version: null, sha256: null }, inputs: [{ path: '/a', size: 1, sha256: A }] }));
    assert.deepEqual(deriveIndexRows(0, start), {
      run: { runId: 'r1', tool: 'ffmpeg', usr: 'Al\ufffdice', actor: 'Ed', startedNs: 1_796_464_800_000_000_001n, words: ['ffmpeg', '-i', '/w', '', 'ed', '/a'].join('\u{10FFFF}') },
      files: [{ role: 'input', sha256: A, path: '/a' }],
    });
    const blobbed = Buffer.from(JSON.stringify({ ...JSON.parse(start.toString()), argv: { $blob: A, size: 70000 } }));
    assert.equal(deriveIndexRows(0, blobbed).run!.words, null);
    assert.deepEqual(deriveIndexRows(0, Buffer.from('not json')), { files: [] });
    assert.deepEqual(deriveIndexRows(0, Buffer.from(JSON.stringify({ v: 1, type: 'run.start', time: 't', by: { user: 'a' } }))), { files: [] });
    assert.equal(indexText('a\u0000b\u{10FFFF}'), 'a\ufffdb\ufffd');
    const long = Buffer.from(JSON.stringify({ ...JSON.parse(start.toString()), inputs: [{ path: 'p'.repeat(5000), size: 1, sha256: null }] }));
    assert.equal(deriveIndexRows(0, long).files[0]!.path.length, INDEX_KEY_CHARS);
  });

  it('round-trips cursors and refuses anything else with USAGE', () => {
    const c = { timeNs: -5n, hostId: 3, index: 9 };
    assert.deepEqual(decodeCursor(encodeCursor(c)), c);
    const big = { timeNs: 9223372036854775807n, hostId: 1, index: 0 };
    assert.deepEqual(decodeCursor(encodeCursor(big)), big);
    for (const bad of ['', 'x', '!!!!', Buffer.from('[1,2,3]').toString('base64url'), Buffer.from('["1",-1,0]').toString('base64url'), Buffer.from('["9223372036854775808",1,1]').toString('base64url'), 'A'.repeat(300), `${encodeCursor(c)}=`]) {
      assert.throws(() => decodeCursor(bad), (e: FfauditError) => e.code === 'USAGE' && e.message.startsWith('bad cursor'), bad);
    }
  });
});
