// The server's own access log, end to end: a real `serve` (startServer) on real PostgreSQL, its access log a real
// ledger directory, read back right after each answer; the real CLI verifies it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { parseEntry, type EntryBase } from '../../core/entry.js';
import { Ledger } from '../../ledger/ledger.js';
import { noteEntry, RUNS, SHA } from '../../testing/api-fixture.js';
import { runCli } from '../../testing/cli.js';
import { cleanEnv, isOneErrorLine, runCliAsync } from '../../testing/fixtures.js';
import { testPostgres } from '../../testing/pg-server.js';
import { PASSWORDS, webClient, webWorld, type WebClient, type WebWorld } from '../../testing/web-fixture.js';
import type { AppEnv } from '../app.js';
import { deriveIndexRows } from '../search/derive.js';
import { backfillIndexes } from '../search/ingest.js';
import { MirrorLookup, setIndexCheckReuse } from '../search/lookup.js';
import { startServer, type RunningServer } from '../serve.js';
import { AccessHistory } from './access-history.js';
import { ACCESS_LOG_SERVER_URL } from './access-log.js';
import { accessEvents, type AccessView } from './access-view.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let w: WebWorld;
let tmp: string;
let dir: string;
let server: RunningServer;
const lines: string[] = [];

const start = (accessLog = dir) => startServer({ db: w.dbUrl, keys: w.keysDir, listen: '127.0.0.1:0', accessLog, log: (l) => void lines.push(l) });

/** A browser over real HTTP (redirects not followed, as webClient expects): the client address is the socket's. */
function browser(): WebClient {
  const overHttp = { request: (url: string, init?: RequestInit) => fetch(url, { ...init, redirect: 'manual' }) };
  return webClient(overHttp as unknown as Hono<AppEnv>, server.url);
}

const api = (path: string, token = w.tokens.auditor) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

/** The access log as another reader sees it on disk, now. */
function onDisk<T>(fn: (l: Ledger) => T): T {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return fn(l);
  } finally {
    l.close();
  }
}

const lastEntry = (): EntryBase & { index: number } => onDisk((l) => ({ ...parseEntry(l.entry(l.size() - 1)), index: l.size() - 1 }));

/** An entry without what changes from run to run (its time, the version that wrote it). */
function stable(e: EntryBase): Record<string, unknown> {
  const { time, ffaudit_version: version, ...rest } = e;
  assert.match(time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
  assert.ok(version === null || typeof version === 'string');
  return rest;
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms = 5000): Promise<number> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

async function accessHost(): Promise<{ id: number; name: string; origin: string }[]> {
  const { rows } = await w.db.pool.query<{ id: string; name: string; origin: string }>('SELECT id, name, origin FROM hosts WHERE access_log ORDER BY id');
  return rows.map((r) => ({ id: Number(r.id), name: r.name, origin: r.origin }));
}

/** The component's HTML as a page would send it. */
const rendered = async (events: readonly AccessView[]): Promise<string> => {
  // A hono JSX node renders itself with toString(), a string or (for async components) a promise of one.
  const node = (<AccessHistory events={events} />) as unknown as { toString(): string | Promise<string> };
  return await node.toString();
};

const tally = async (hostId: number) => Number((await w.db.pool.query<{ access: string }>('SELECT access FROM idx_tally WHERE host_id = $1', [hostId])).rows[0]!.access);

/** Whether the server's witness and mirror both cosigned a checkpoint covering entry `index`, as the ledger holds them. */
const cosignedThrough = (index: number) =>
  onDisk((l) => {
    const s = l.server()!;
    return (l.lastCosigned(ACCESS_LOG_SERVER_URL, s.witness.name)?.size ?? 0) > index && (l.lastCosigned(ACCESS_LOG_SERVER_URL, s.mirror.name)?.size ?? 0) > index;
  });

before(async () => {
  if (skip) return;
  w = await webWorld((pgc as { url: string }).url);
  tmp = mkdtempSync(join(tmpdir(), 'ffaudit-access-'));
  dir = join(tmp, 'access-log');
  server = await start();
});
after(async () => {
  await server?.close();
  await w?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the server's access log", { skip }, () => {
  it('a sign-in is in the ledger when its answer arrives, then mirrored and cosigned by the witness and the mirror', async (t) => {
    const [host] = await accessHost();
    assert.ok(host, 'the access log is enrolled as a host of its own');
    assert.match(host.name, /^access-/);
    assert.equal(host.origin, onDisk((l) => l.origin));
    assert.match(host.origin, /\/ffaudit-serve\/access\/[0-9a-f]{12}$/);

    const c = browser();
    const r = await c.signIn(w.users.auditor, PASSWORDS.auditor);
    assert.equal(r.status, 303);
    const e = lastEntry();
    assert.deepEqual(stable(e), { v: 1, type: 'access.event', by: { user: 'aude', uid: null, host: hostname() }, action: 'signin', via: 'web', client: '127.0.0.1', index: e.index });

    const bad = await browser().signIn(w.users.viewer, 'not the password at all');
    assert.equal(bad.status, 401);
    const f = lastEntry();
    assert.equal(f.index, e.index + 1);
    assert.deepEqual([f.action, f.by.user], ['signin.failed', 'vera']);

    const ms = await waitFor('the witness and the mirror cosign the failed sign-in', () => cosignedThrough(f.index));
    t.diagnostic(`cosigned by the witness and the mirror ${ms.toFixed(0)} ms after the answer`);
    const { rows } = await w.db.pool.query<{ idx: string; data: Buffer }>('SELECT idx, data FROM mirror_entries WHERE host_id = $1 AND idx >= $2 ORDER BY idx', [host.id, e.index]);
    assert.deepEqual(
      rows.map((x) => Number(x.idx)),
      [e.index, f.index],
    );
    assert.ok(rows[1]!.data.equals(onDisk((l) => l.entry(f.index))), 'the mirror holds the very bytes');
    const idx = await w.db.pool.query<{ usr: string; action: string; run_id: string | null; sha256: Buffer | null }>('SELECT usr, action, run_id, sha256 FROM idx_access WHERE host_id = $1 AND idx = $2', [host.id, f.index]);
    assert.deepEqual(idx.rows, [{ usr: 'vera', action: 'signin.failed', run_id: null, sha256: null }]);
  });

  it("the API's bundle, report and export are recorded with the token's name before they are sent; a credential in the query is not", async () => {
    const b = await api(`/api/v1/bundle?sha256=${SHA.C}&sha256=${SHA.B}`);
    assert.equal(b.status, 200);
    assert.deepEqual(stable(lastEntry()), { v: 1, type: 'access.event', by: { user: 'auditor', uid: null, host: hostname() }, action: 'download.bundle', via: 'api', files: [SHA.C, SHA.B], client: '127.0.0.1', index: lastEntry().index });
    await b.text();

    const r = await api(`/api/v1/report?sha256=${SHA.C}`);
    assert.equal(r.status, 200);
    assert.deepEqual([lastEntry().action, lastEntry().files], ['download.report', [SHA.C]]);
    await r.text();

    const q = new URLSearchParams({ format: 'csv', q: 'https://bob:hunter2@cdn.example/x.mp4?token=abc123&v=1' });
    const x = await api(`/api/v1/export?${q.toString()}`);
    assert.equal(x.status, 200);
    const e = lastEntry();
    assert.equal(e.action, 'download.export');
    assert.equal(typeof e.query, 'string');
    assert.doesNotMatch(e.query as string, /hunter2|abc123/);
    assert.match(e.query as string, /^\?format=csv&q=https:\/\/.*cdn\.example\/x\.mp4\?token=<redacted:[0-9a-f]+>&v=1$/);
    assert.deepEqual((e.redactions as { where: string; kind: string }[]).map((x) => [x.where, x.kind]).sort(), [
      ['query', 'url-credentials'],
      ['query', 'url-query:token'],
    ]);
    const raw = onDisk((l) => l.entry(e.index).toString('utf8'));
    assert.doesNotMatch(raw, new RegExp(w.tokens.auditor), 'never the bearer token');
    await x.text();

    // A refused request is no download: nothing is recorded.
    const before = lastEntry().index;
    assert.equal((await api(`/api/v1/bundle?sha256=${SHA.C}`, w.tokens.viewer)).status, 403);
    assert.equal(lastEntry().index, before);
  });

  it('`ffaudit verify` passes on the access log and `ffaudit log` reads it', async () => {
    await waitFor('everything recorded is cosigned', () => cosignedThrough(onDisk((l) => l.size()) - 1));
    const v = runCli(['verify', '--ledger', dir]);
    assert.equal(v.status, 0, v.stderr + v.stdout);
    // Access events are neither runs nor custody notes: `log` passes over them, as over any type it does not list.
    const l = runCli(['log', '--ledger', dir]);
    assert.equal(l.status, 0, l.stderr);
    assert.equal(l.stderr, 'ffaudit: no runs or custody notes match\n');
    assert.equal(l.stdout, '');
  });

  it('accessEvents gives exactly the events naming a run or a file, newest first, from the access logs only; a tampered entry is flagged', async () => {
    const access = server.deps.access!;
    const r1 = RUNS.r1.id;
    await access.record({ action: 'view.run', user: 'aude', via: 'web', runs: [r1], client: '10.0.0.7' });
    await access.record({ action: 'view.run', user: '<script>alert(1)</script>\u202egnp.exe', via: 'web', runs: [RUNS.r2.id] });
    await access.record({ action: 'view.file', user: 'aude', via: 'web', files: [SHA.A], runs: [r1] });
    await access.record({ action: 'search', user: 'aude', via: 'web', query: '?user=alice' });
    // A host's own ledger may hold an entry of this type too: it is no access log's and is never shown.
    const ws = w.hosts.ws.ledger;
    ws.append([{ ...noteEntry('x', [], 1), type: 'access.event', action: 'view.run', via: 'web', runs: [r1] }]);
    await w.push(w.hosts.ws);
    const size = onDisk((l) => l.size());
    await waitFor('mirrored', () => cosignedThrough(size - 1));

    const [host] = await accessHost();
    const byRun = await accessEvents(w.db, { runId: r1 });
    assert.deepEqual(
      byRun.map((e) => [e.action, e.user, e.via, e.client, e.index, e.log]),
      [
        ['view.file', 'aude', 'web', null, size - 2, host!.origin],
        ['view.run', 'aude', 'web', '10.0.0.7', size - 4, host!.origin],
      ],
    );
    assert.deepEqual(
      (await accessEvents(w.db, { sha256: SHA.C })).map((e) => e.action),
      ['download.report', 'download.bundle'],
    );
    assert.deepEqual(
      (await accessEvents(w.db, { sha256: SHA.A })).map((e) => [e.action, e.index]),
      [['view.file', size - 2]],
    );
    assert.deepEqual(await accessEvents(w.db, { runId: RUNS.r3.id }), []);
    const lookup = new MirrorLookup(w.db, { hostIds: null });
    assert.deepEqual(await lookup.indexProblems(), []);
    assert.equal((await accessEvents(w.db, { sha256: SHA.C }, 1)).length, 1);

    const hostile = await accessEvents(w.db, { runId: RUNS.r2.id });
    const html = await rendered(hostile);
    assert.match(html, /<bdi>&lt;script&gt;alert\(1\)&lt;\/script&gt;\\u202egnp\.exe<\/bdi>/);
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /<th scope="col">When<\/th>/);
    assert.match(html, /Viewed the run/);

    // A deleted index row shows against the tally (each check counts again).
    setIndexCheckReuse(0);
    await w.db.pool.query('DELETE FROM idx_access WHERE host_id = $1 AND idx = $2', [host!.id, size - 1]);
    assert.deepEqual(await lookup.indexProblems(), [`${host!.origin}: its entries gave ${await tally(host!.id)} access records, the index holds ${(await tally(host!.id)) - 1}`]);
    await backfillIndexes(w.db);
    assert.deepEqual(await lookup.indexProblems(), []);

    // An attacker with the database rewrites who looked: the entry no longer hashes to its leaf.
    await w.db.pool.query('UPDATE mirror_entries SET data = convert_to(replace(convert_from(data, $3), $4, $5), $3) WHERE host_id = $1 AND idx = $2', [host!.id, size - 4, 'UTF8', '"aude"', '"anon"']);
    const tampered = await accessEvents(w.db, { runId: r1 });
    assert.deepEqual(tampered[0]!.action, 'view.file');
    assert.deepEqual(tampered[1], { time: '', user: '', action: '', via: null, log: host!.origin, index: size - 4, client: null, problem: `entry ${size - 4} does not hash to its stored leaf` } satisfies AccessView);
    const shown = await rendered(tampered);
    assert.match(shown, /Unreadable<\/span> <bdi>entry \d+ does not hash to its stored leaf<\/bdi>/);
    assert.doesNotMatch(shown, /anon/);
  });

  it('an access log that cannot be written gives 503 and no answer; what it recorded stays intact', async () => {
    assert.equal((await browser().signIn(w.users.viewer, PASSWORDS.viewer)).status, 303);
    const before = onDisk((l) => ({ size: l.size(), checkpoint: l.checkpoint() }));
    const fail = async (why: string) => {
      const c = browser();
      const r = await c.signIn(w.users.auditor, PASSWORDS.auditor);
      assert.equal(r.status, 503, why);
      assert.equal(r.headers.getSetCookie().filter((x) => x.startsWith('ffaudit-session=')).length, 0, `${why}: no session`);
      const page = await r.text();
      assert.match(page, /<h1>Unavailable<\/h1><p>The server cannot reach its database or its access log; try again shortly.<\/p>/);
      assert.doesNotMatch(page, /Sign out/);
      const b = await api(`/api/v1/bundle?sha256=${SHA.C}`);
      assert.equal(b.status, 503, why);
      assert.equal(await b.text(), 'the server cannot reach its database; try again\n', `${why}: one line, no bundle`);
    };

    const errors = () => lines.filter((l) => l.startsWith('error: access log: ')).length;
    const errorsBefore = errors();
    // Its files made immutable (as root: chattr +i refuses writes even to the open descriptors).
    const files = ['ledger.db', 'ledger.db-wal'].map((n) => join(dir, n)).filter((p) => existsSync(p));
    const immutable = spawnSync('chattr', ['+i', ...files]).status === 0;
    if (immutable) {
      try {
        await fail('read-only database');
      } finally {
        assert.equal(spawnSync('chattr', ['-i', ...files]).status, 0);
      }
    }
    // Its directory removed (moved away): appending to the unlinked database would be writing into nothing.
    renameSync(dir, `${dir}.gone`);
    try {
      await fail('directory removed');
    } finally {
      renameSync(`${dir}.gone`, dir);
    }

    const after = onDisk((l) => ({ size: l.size(), checkpoint: l.checkpoint() }));
    assert.deepEqual(after, before, 'nothing was appended, nothing lost');
    const v = runCli(['verify', '--ledger', dir]);
    assert.equal(v.status, 0, v.stderr + v.stdout);
    assert.equal((await browser().signIn(w.users.auditor, PASSWORDS.auditor)).status, 303, 'back once it can be written');
    assert.equal(lastEntry().index, before.size);
    assert.equal(errors() - errorsBefore, immutable ? 4 : 2, 'each refusal was the access log failing');
  });

  it('a second process on the same access log is refused in one line; a restart reuses the log and its host', async () => {
    await assert.rejects(start(), (e: Error) => /^the access log at .* is used by another ffaudit serve process \(pid \d+\): give this one its own --access-log DIR$/.test(e.message));
    const other = await runCliAsync(['serve', '--db', w.dbUrl, '--keys', w.keysDir, '--access-log', dir, '--listen', '127.0.0.1:0'], cleanEnv());
    assert.notEqual(other.status, 0);
    assert.ok(isOneErrorLine(other.stderr), other.stderr);
    assert.match(other.stderr, /used by another ffaudit serve process \(pid \d+\): give this one its own --access-log DIR/);

    const hosts = await accessHost();
    const origin = onDisk((l) => l.origin);
    await server.close();
    const size = onDisk((l) => l.size());
    assert.ok(cosignedThrough(size - 1), 'close pushed the last events');
    server = await start();
    assert.deepEqual(await accessHost(), hosts, 'the same host');
    assert.equal(onDisk((l) => l.origin), origin, 'the same log');
    assert.equal((await browser().signIn(w.users.admin, PASSWORDS.admin)).status, 303);
    assert.equal(lastEntry().index, size);
    await waitFor('the new event is cosigned', () => cosignedThrough(size));
  });
});

describe('access.event entries in the search index', () => {
  const entry = (fields: Record<string, unknown>) =>
    Buffer.from(JSON.stringify({ v: 1, type: 'access.event', time: '2026-12-01T10:00:00.000000001Z', by: { user: 'aude', uid: null, host: 'srv' }, action: 'view.run', via: 'web', ...fields }));

  it('give one row per run and file named, one for an event naming neither, none for a malformed one', () => {
    assert.deepEqual(deriveIndexRows(0, entry({ runs: [RUNS.r1.id, RUNS.r1.id], files: [SHA.A] })), {
      access: { usr: 'aude', action: 'view.run', timeNs: BigInt(Date.parse('2026-12-01T10:00:00Z')) * 1_000_000n + 1n, runIds: [RUNS.r1.id], sha256s: [SHA.A] },
      files: [],
    });
    assert.deepEqual(deriveIndexRows(0, entry({ action: 'signin' })).access?.runIds, []);
    for (const bad of [{ via: 'mail' }, { files: ['not a hash'] }, { runs: 'x' }, { action: '' }, { v: 2 }]) assert.deepEqual(deriveIndexRows(0, entry(bad)), { files: [] }, JSON.stringify(bad));
  });
});
