// The Overview and Runs pages and the live stream, in process against real PostgreSQL and the hosts of
// api-fixture.ts: the same answers as the API, escaped hostile values, roles, recorded searches and exports.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appendRuns, RUNS, runEntries, SHA, type RunSpec } from '../../../testing/api-fixture.js';
import { testPostgres } from '../../../testing/pg-server.js';
import { RecordingAccessLog, webWorld, type WebClient, type WebWorld } from '../../../testing/web-fixture.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let w: WebWorld;
const access = new RecordingAccessLog();
const recorded = access.events;

before(async () => {
  if (!skip) w = await webWorld((pgc as { url: string }).url, { access });
});
after(async () => {
  await w?.close();
});

/** The run ids of a Runs page, in the order shown. */
const idsOf = (html: string): string[] => [...html.matchAll(/<a href="\/runs\/([0-9a-f]+)\?log=[^"]*" class="hash">/g)].map((m) => m[1]!);

async function apiIds(query: string): Promise<{ ids: string[]; next: string | null }> {
  const r = await w.app.request(`/api/v1/runs?${query}`, { headers: { authorization: `Bearer ${w.tokens.viewer}` } });
  assert.equal(r.status, 200, query);
  const j = (await r.json()) as { items: { id: string }[]; next: string | null };
  return { ids: j.items.map((i) => i.id), next: j.next };
}

/** Reads server-sent events from a stream until `done` says stop (or the time runs out). */
async function readEvents(body: ReadableStream<Uint8Array>, done: (events: { event: string; data: string; id?: string }[]) => boolean, ms = 8000) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let text = '';
  const events: { event: string; data: string; id?: string }[] = [];
  const until = Date.now() + ms;
  while (!done(events) && Date.now() < until) {
    const r = await Promise.race([reader.read(), new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), until - Date.now()))]);
    if (r === 'timeout' || r.done) break;
    text += dec.decode(r.value, { stream: true });
    let cut: number;
    while ((cut = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      const ev: { event: string; data: string; id?: string } = { event: 'message', data: '' };
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) {
          ev.event = line.slice(7);
          isEvent = true;
        } else if (line.startsWith('data: ')) ev.data = line.slice(6);
        else if (line.startsWith('id: ')) ev.id = line.slice(4);
      }
      if (isEvent) events.push(ev);
    }
  }
  await reader.cancel();
  return events;
}

describe('runs pages', { skip }, () => {
  let viewer: WebClient;
  let auditor: WebClient;
  before(async () => {
    if (skip) return;
    viewer = await w.as('viewer');
    auditor = await w.as('auditor');
  });

  it('each filter finds the runs the API finds for the same query, in the same order', async () => {
    const queries = ['', 'host=ws-1', 'host=ingest-2', 'user=alice', 'status=failed', 'status=ok%2Cfailed', 'tool=ffmpeg', `sha256=${SHA.B}`, 'path=%2Fout%2F', 'q=render', 'since=2026-12-01T10%3A05%3A00Z&until=2026-12-01T10%3A25%3A00Z', 'actor=farm'];
    for (const q of queries) {
      const r = await viewer.get(`/runs${q ? `?${q}` : ''}`);
      assert.equal(r.status, 200, q);
      const api = await apiIds(q);
      assert.deepEqual(idsOf(await r.text()), api.ids, q);
      assert.ok(api.ids.length > 0 || q === 'q=render', q);
    }
    assert.deepEqual((await apiIds('host=ws-1')).ids, [RUNS.r1.id]);
  });

  it('what a form sends is rewritten to the API query, and a bad filter gets the parser\'s own 400', async () => {
    const r = await viewer.get('/runs?host=ws-1&user=&status=ok&status=failed&since=2026-12-01&until=2026-12-01+10%3A15&q=');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/runs?host=ws-1&since=2026-12-01T00%3A00%3A00Z&until=2026-12-01T10%3A15%3A00Z&status=ok%2Cfailed');
    const bad = await viewer.get('/runs?status=done');
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /status: &quot;done&quot; is not one of ok, failed, incomplete, terminated/);
  });

  it('pages with the opaque cursor, newest first, as the API does', async () => {
    const first = await (await viewer.get('/runs?limit=2')).text();
    const api1 = await apiIds('limit=2');
    assert.deepEqual(idsOf(first), api1.ids);
    assert.deepEqual(api1.ids, [RUNS.r4.id, RUNS.r3.id]);
    const older = /<a href="(\/runs\?limit=2&amp;cursor=[^"]+)" rel="next"/.exec(first)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(older, 'an Older link');
    assert.equal(older, `/runs?limit=2&cursor=${api1.next}`);
    const second = await (await viewer.get(older)).text();
    assert.deepEqual(idsOf(second), [RUNS.r2.id, RUNS.r1.id]);
    assert.doesNotMatch(second, /rel="next"/, 'the last page has no Older link');
    assert.doesNotMatch(second, /live-runs\.js/, 'an older page is not live');
  });

  it('a filtered or paged page is recorded as a search with its query; the plain first page is not', async () => {
    recorded.length = 0;
    await viewer.get('/runs');
    assert.deepEqual(recorded, []);
    await viewer.get('/runs?host=ws-1&status=ok');
    assert.deepEqual(recorded, [{ action: 'search', query: '?host=ws-1&status=ok', user: w.users.viewer, via: 'web', client: undefined }]);
  });

  it('a viewer sees no export link and gets 403 on the export; an auditor downloads the API\'s export, recorded', async () => {
    const page = await (await viewer.get('/runs?host=ingest-2')).text();
    assert.doesNotMatch(page, /\/runs\/export/);
    assert.equal((await viewer.get('/runs/export?format=csv')).status, 403);
    const ap = await (await auditor.get('/runs?host=ingest-2&limit=1')).text();
    assert.match(ap, /<a href="\/runs\/export\?format=csv&amp;host=ingest-2">CSV<\/a>/);
    assert.match(ap, /<a href="\/runs\/export\?format=ecs&amp;host=ingest-2">ECS \(NDJSON\)<\/a>/);
    recorded.length = 0;
    const csv = await auditor.get('/runs/export?format=csv&host=ingest-2');
    assert.equal(csv.status, 200);
    const api = await w.app.request('/api/v1/export?format=csv&host=ingest-2', { headers: { authorization: `Bearer ${w.tokens.auditor}` } });
    assert.equal(await csv.text(), await api.text());
    // The web's download and the API's, each recorded with its own user.
    assert.deepEqual(recorded, [
      { action: 'download.export', query: '?format=csv&host=ingest-2', user: w.users.auditor, via: 'web', client: undefined },
      { action: 'download.export', query: '?format=csv&host=ingest-2', user: 'auditor', via: 'api', client: undefined },
    ]);
  });

  it("the API's searches and views are recorded as the pages' are, with the token's name", async () => {
    recorded.length = 0;
    const api = (path: string) => w.app.request(path, { headers: { authorization: `Bearer ${w.tokens.viewer}` } });
    assert.equal((await api('/api/v1/runs?user=alice')).status, 200);
    assert.equal((await api(`/api/v1/runs/${RUNS.r2.id}`)).status, 200);
    assert.equal((await api(`/api/v1/lineage?sha256=${SHA.C}`)).status, 200);
    assert.equal((await api('/api/v1/notes?user=clerk')).status, 200);
    assert.equal((await api('/api/v1/runs?user=bad%00')).status, 400);
    assert.deepEqual(recorded, [
      { action: 'search', query: '?user=alice', user: 'viewer', via: 'api', client: undefined },
      { action: 'view.run', runs: [RUNS.r2.id], user: 'viewer', via: 'api', client: undefined },
      { action: 'view.file', files: [SHA.C], user: 'viewer', via: 'api', client: undefined },
      { action: 'search', query: '/notes?user=clerk', user: 'viewer', via: 'api', client: undefined },
    ]);
  });

  it('the overview shows every host log as verified, and an access log in its own section', async () => {
    const html = await (await viewer.get('/')).text();
    for (const h of ['ws-1', 'render-7', 'ingest-2']) assert.match(html, new RegExp(`<a href="/runs\\?host=${h}"><bdi>${h}</bdi></a>`));
    assert.equal([...html.matchAll(/<span class="badge ok">Verified<\/span>/g)].length, 3);
    assert.doesNotMatch(html, /Access logs of this server/);
    await w.db.pool.query("UPDATE hosts SET access_log = true WHERE name = 'render-7'");
    try {
      const two = await (await viewer.get('/')).text();
      const [hosts, own] = two.split('Access logs of this server');
      assert.ok(own, 'an access-log section');
      assert.match(own, /render-7/);
      assert.doesNotMatch(hosts!, /render-7/);
    } finally {
      await w.db.pool.query("UPDATE hosts SET access_log = false WHERE name = 'render-7'");
    }
  });

  it('hostile values in a run are shown as text: markup escaped, hidden characters made visible', async () => {
    const evil: RunSpec = {
      id: 'e5'.repeat(16),
      user: '<b>mallory</b>',
      host: 'ws-1',
      argv: ['-i', '<script>alert(1)</script>.mov', '-metadata', `title="it's"`, 'out\u202Egpj.mp4'],
      inputs: [{ path: '/in/<img src=x onerror="alert(1)">.mov', size: 10, sha256: SHA.A }],
      outputs: [{ path: '/ws/out\u202Egpj.mp4', size: 20, sha256: SHA.C }],
      startMin: 40,
    };
    appendRuns(w.hosts.ws.ledger, [evil]);
    await w.push(w.hosts.ws);
    const list = await (await viewer.get('/runs?host=ws-1')).text();
    assert.ok(list.includes('<td><bdi>&lt;b&gt;mallory&lt;/b&gt;</bdi></td>'), 'the user');
    assert.ok(list.includes('<td class="flow"><bdi>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.mov</bdi> <span aria-label="to">→</span> <bdi>out\\u202egpj.mp4</bdi></td>'), 'the files');
    assert.doesNotMatch(list, /<script>alert|<img|<b>mallory|\u202E/);
    const page = await (await viewer.get(`/runs/${evil.id}`)).text();
    assert.ok(
      page.includes(`<code>ffmpeg -i &#39;&lt;script&gt;alert(1)&lt;/script&gt;.mov&#39; -metadata &#39;title=&quot;it&#39;\\&#39;&#39;s&quot;&#39; &#39;out\\u202egpj.mp4&#39;</code>`),
      'the command line, shell-quoted and escaped',
    );
    assert.ok(page.includes('<td class="path"><bdi>/ws/out\\u202egpj.mp4</bdi>'), 'the output path');
    assert.ok(page.includes('<td class="path"><bdi>/in/&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.mov</bdi>'), 'the input path');
    assert.doesNotMatch(page, /<script>alert|<img|<b>mallory|\u202E/);
  });

  it('the live stream sends a run pushed after it opened, as the row a reload shows', async () => {
    const page = await (await viewer.get('/runs?host=render-7')).text();
    const events = /data-events="([^"]+)"/.exec(page)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(events?.startsWith('/runs/events?host=render-7&after='), events);
    const r = await viewer.get(events!);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const fresh: RunSpec = { id: 'f6'.repeat(16), user: 'render', host: 'render-7', argv: ['-i', '/nfs/x.mov', '/render/y.mp4'], inputs: [], outputs: [{ path: '/render/y.mp4', size: 5, sha256: SHA.B }], startMin: 50 };
    const other: RunSpec = { ...fresh, id: '07'.repeat(16), host: 'ws-1', startMin: 51 };
    const reading = readEvents(r.body!, (evs) => evs.some((e) => e.event === 'run'));
    const t0 = Date.now();
    appendRuns(w.hosts.ws.ledger, [other]);
    await w.push(w.hosts.ws);
    appendRuns(w.hosts.render.ledger, [fresh]);
    await w.push(w.hosts.render);
    const got = (await reading).filter((e) => e.event === 'run');
    const delay = Date.now() - t0;
    assert.equal(got.length, 1, 'only the run of the filter');
    const row = JSON.parse(got[0]!.data) as Record<string, string>;
    assert.deepEqual(row, {
      id: fresh.id,
      log: 'render-7.test/ffaudit',
      href: `/runs/${fresh.id}?log=render-7.test%2Fffaudit`,
      time: '2026-12-01T10:50:00.000000000Z',
      host: 'render-7',
      user: 'render',
      tool: 'ffmpeg',
      status: 'ok',
      inputs: '—',
      outputs: 'y.mp4',
    });
    // The event's id is the run's cursor: a reconnecting browser resumes after it.
    const api = await apiIds('host=render-7&limit=1');
    assert.equal(api.ids[0], fresh.id);
    assert.ok(delay < 4000, `woken by the NOTIFY, not the ${delay} ms poll`);
    const resumed = await viewer.get('/runs/events?host=render-7', { 'last-event-id': got[0]!.id! });
    assert.deepEqual(await readEvents(resumed.body!, () => false, 500), [], 'nothing after the last event');
  });

  it('opening the live stream is recorded as a search; a run sent while incomplete is sent again when it ends', async () => {
    recorded.length = 0;
    const r = await viewer.get('/runs/events?user=late&after=start');
    assert.equal(r.status, 200);
    assert.deepEqual(recorded, [{ action: 'search', query: '?user=late', user: w.users.viewer, via: 'web', client: undefined }]);
    const late: RunSpec = { id: '9c'.repeat(16), user: 'late', host: 'ws-1', argv: ['-i', 'a', 'b.mp4'], inputs: [], outputs: [{ path: '/ws/b.mp4', size: 1, sha256: SHA.B }], startMin: 60 };
    const ledger = w.hosts.ws.ledger;
    const [start, end] = runEntries(late, ledger.size());
    const reading = readEvents(r.body!, (evs) => evs.filter((e) => e.event === 'run').length >= 2);
    ledger.append([start]);
    await w.push(w.hosts.ws);
    // The end after the start was surely sent: the stream wakes for each push.
    await new Promise((res) => setTimeout(res, 300));
    ledger.append([end]);
    await w.push(w.hosts.ws);
    const runs = (await reading).filter((e) => e.event === 'run').map((e) => JSON.parse(e.data) as { id: string; status: string });
    assert.deepEqual(runs.map((x) => [x.id, x.status]), [[late.id, 'incomplete'], [late.id, 'ok']]);
    await r.body!.cancel().catch(() => undefined);
  });

  it('past the bound of open streams, per process or per person, a new one is refused 503, and admitted again once one ends', async () => {
    const { admitStream, MAX_STREAMS, MAX_STREAMS_PER_PERSON, releaseStream } = await import('../live.js');
    const held: (() => void)[] = [];
    try {
      // Other people's streams fill the process.
      for (let i = 0; i < MAX_STREAMS; i++) {
        const end = () => undefined;
        if (admitStream(w.db, -1 - i, end)) held.push(end);
      }
      assert.equal(held.length, MAX_STREAMS);
      assert.equal((await viewer.get('/runs/events?host=ws-1')).status, 503);
      releaseStream(w.db, held.pop()!);
      const r = await viewer.get('/runs/events?host=ws-1');
      assert.equal(r.status, 200);
      await r.body!.cancel();
      for (const end of held.splice(0)) releaseStream(w.db, end);
      // One person's own streams: at most MAX_STREAMS_PER_PERSON, whoever else is watching.
      const mine: Response[] = [];
      for (let i = 0; i < MAX_STREAMS_PER_PERSON; i++) {
        const s = await viewer.get('/runs/events?host=ws-1');
        assert.equal(s.status, 200);
        mine.push(s);
      }
      assert.equal((await viewer.get('/runs/events?host=ws-1')).status, 503);
      const other = await auditor.get('/runs/events?host=ws-1');
      assert.equal(other.status, 200, 'another person is not held up');
      for (const s of [...mine, other]) await s.body!.cancel();
    } finally {
      for (const end of held) releaseStream(w.db, end);
    }
  });

  it('the live stream needs a session and refuses paging parameters', async () => {
    const { webClient } = await import('../../../testing/web-fixture.js');
    assert.equal((await webClient(w.app).get('/runs/events')).status, 303);
    assert.equal((await viewer.get('/runs/events?cursor=abc')).status, 400);
    assert.equal((await viewer.get('/runs/events?after=nonsense')).status, 400);
  });
});
