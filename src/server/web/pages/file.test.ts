// The File pages in process against real PostgreSQL and api-fixture's three hosts: lookup, lineage graph and
// tables, hostile names, roles, the evidence downloads (checked by the real `ffaudit verify-bundle`), the access log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { FileRecord } from '../../../core/entry.js';
import { traceAcross } from '../../search/lookup.js';
import { REPORT_CSP } from '../../search/file-evidence.js';
import { appendRuns, RUNS, SHA, sha, type RunSpec } from '../../../testing/api-fixture.js';
import { runCli } from '../../../testing/cli.js';
import { testPostgres } from '../../../testing/pg-server.js';
import { RecordingAccessLog, webWorld, type WebWorld } from '../../../testing/web-fixture.js';
import { layOut } from '../graph.js';
import { WEB_CSP } from '../routes.js';
import { MAX_DRAWN } from './file.js';
import { pastedHash } from './file-lookup.js';
import { FileView } from './file-view.js';
import { lineageGraph, NODE } from './lineage-graph.js';
import { FONT_SIZE } from './lineage-svg.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let w: WebWorld;
let tmp: string;

/** The access log as its contract says (deps.ts AccessLog): recorded before the answer, or the answer fails. */
const access = new RecordingAccessLog();
const events = access.events;

/** A name made to break a page: markup, quotes, and a right-to-left override that would reverse what follows. */
const HOSTILE = `/out/<img src=x onerror="alert(1)">\u202e'4pm.mov`;
const HOSTILE_SHOWN = '/out/&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\u202e&#39;4pm.mov';
const H = sha('hostile output');
/** r5 reads C and writes the hostile name. */
const R5: RunSpec = { id: 'e5'.repeat(16), user: 'qc', host: 'ingest-2', argv: ['-i', '/out/c.mp4', HOSTILE], inputs: [{ path: '/out/c.mp4', sha256: SHA.C, size: 4242 }], outputs: [{ path: HOSTILE, sha256: H, size: 10 }], startMin: 40 };

/**
 * A lineage of 103 nodes across the three hosts: 10 runs from a lavfi source, four layers of 10 runs each reading two
 * files of the layer before, and one run reading the last 10 into FINAL: 51 runs, 51 files, 1 source.
 */
const layerFile = (layer: number, i: number) => sha(`layer ${layer} file ${i}`);
const FINAL = sha('final master');
function wideLineage(): { ws: RunSpec[]; render: RunSpec[]; ingest: RunSpec[] } {
  const out = { ws: [] as RunSpec[], render: [] as RunSpec[], ingest: [] as RunSpec[] };
  const hosts = ['ws', 'render', 'ingest'] as const;
  const f = (layer: number, i: number): FileRecord => ({ path: `/l${layer}/clip-${i}.mov`, sha256: layerFile(layer, i), size: 1000 + i });
  let n = 0;
  const add = (inputs: FileRecord[], output: FileRecord, layer: number) => {
    const host = hosts[n % 3]!;
    out[host].push({ id: (0x1000 + n).toString(16).repeat(8), user: `op${n}`, host: `${host}-host`, argv: ['-i', 'x', output.path], inputs, outputs: [output], startMin: 100 + layer * 10 });
    n++;
  };
  for (let i = 0; i < 10; i++) add([{ path: 'testsrc=size=1280x720', sha256: null, size: null }], f(0, i), 0);
  for (let layer = 1; layer < 5; layer++) for (let i = 0; i < 10; i++) add([f(layer - 1, i), f(layer - 1, (i + 1) % 10)], f(layer, i), layer);
  add(
    Array.from({ length: 10 }, (_, i) => f(4, i)),
    { path: '/deliver/final-master.mov', sha256: FINAL, size: 99 },
    5,
  );
  return out;
}

before(async () => {
  if (skip) return;
  w = await webWorld((pgc as { url: string }).url, { access });
  tmp = mkdtempSync(join(tmpdir(), 'ffaudit-file-page-'));
  appendRuns(w.hosts.ingest.ledger, [R5]);
  const wide = wideLineage();
  appendRuns(w.hosts.ws.ledger, wide.ws);
  appendRuns(w.hosts.render.ledger, wide.render);
  appendRuns(w.hosts.ingest.ledger, wide.ingest);
  for (const h of Object.values(w.hosts)) await w.push(h);
});
after(async () => {
  await w?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface SvgGraph {
  svg: string;
  nodes: Map<string, string>;
  edges: Set<string>;
}

/** The lineage SVG of a page: its nodes (data-node → the node's markup) and edges ("from → to"). */
function svgOf(html: string): SvgGraph {
  const svg = /<svg[^>]*class="lineage-svg"[\s\S]*?<\/svg>/.exec(html)?.[0];
  assert.ok(svg, 'the page draws the lineage');
  const nodes = new Map<string, string>();
  for (const m of svg.matchAll(/<g class="node[^"]*" transform="[^"]*" data-node="([^"]+)">([\s\S]*?)<\/g>/g)) nodes.set(m[1]!, m[0]);
  const edges = new Set<string>();
  for (const m of svg.matchAll(/<path class="edge" d="[^"]*" fill="none" marker-end="url\(#lineage-arrow\)" data-from="([^"]+)" data-to="([^"]+)"/g)) edges.add(`${m[1]} → ${m[2]}`);
  return { svg, nodes, edges };
}

const runNode = (origin: string, id: string) => `r:${origin}/${id}`;

describe('the File pages', { skip }, () => {
  it('reads a pasted hash in its usual spellings, and nothing else', () => {
    const h = SHA.C;
    assert.equal(pastedHash(h), h);
    assert.equal(pastedHash(`  sha256:${h.toUpperCase()}\n`), h);
    assert.equal(pastedHash(`SHA256:${h}`), h);
    assert.equal(pastedHash(`${h}  /out/c.mp4`), h);
    for (const bad of ['', h.slice(1), `${h}0`, `md5:${h}`, `${h.slice(0, 63)}g`, `x${h}`]) assert.equal(pastedHash(bad), undefined, bad);
  });

  it('/file: the lookup form, the hidden drop zone with its labelled controls, a pasted hash sent to its page', async () => {
    const c = await w.as('viewer');
    const r = await c.get('/file');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-security-policy'), WEB_CSP);
    const html = await r.text();
    assert.match(html, /<form method="get" action="\/file" class="row" id="hash-form">/);
    assert.match(html, /<label for="sha256">SHA-256 of the file<\/label>/);
    assert.match(html, /<div id="file-drop" class="drop-zone" hidden="">/);
    assert.match(html, /<label for="file-pick">Choose a file to hash<\/label><input type="file" id="file-pick"\/>/);
    assert.match(html, /<label for="hash-bar" id="hash-label">Hashing<\/label><progress id="hash-bar" max="100" value="0"><\/progress>/);
    assert.match(html, /<p id="hash-status" class="hash-status" role="status" aria-live="polite"><\/p>/);
    assert.match(html, /<script src="\/assets\/file-drop.js" defer=""><\/script>/);
    assert.doesNotMatch(html, /style=|<script>| on[a-z]+=/);

    const go = await c.get(`/file?sha256=${encodeURIComponent(`sha256:${SHA.C.toUpperCase()}`)}`);
    assert.equal(go.status, 303);
    assert.equal(go.headers.get('location'), `/file/${SHA.C}`);
    const upper = await c.get(`/file/${SHA.C.toUpperCase()}`);
    assert.equal(upper.status, 301);
    assert.equal(upper.headers.get('location'), `/file/${SHA.C}`);
    assert.equal((await c.get('/file/not-a-hash')).status, 404);

    const bad = await c.get(`/file?sha256=${encodeURIComponent('<b>"nope"</b>')}`);
    assert.equal(bad.status, 400);
    const badHtml = await bad.text();
    assert.match(badHtml, /value="&lt;b&gt;&quot;nope&quot;&lt;\/b&gt;"/);
    assert.match(badHtml, /<p class="error-text" id="sha256-error" role="alert">That is not a SHA-256/);
    assert.match(badHtml, /aria-invalid="true"/);
  });

  it('a lineage across three hosts: the graph holds exactly its files, runs and edges, this file highlighted', async () => {
    const c = await w.as('viewer');
    events.length = 0;
    const r = await c.get(`/file/${SHA.C}`);
    assert.equal(r.status, 200);
    const html = await r.text();
    assert.deepEqual(events.map((e) => [e.action, e.user, e.via, e.files]), [['view.file', 'vera', 'web', [SHA.C]]]);

    const g = svgOf(html);
    const [ws, render, ingest] = [w.hosts.ws.origin, w.hosts.render.origin, w.hosts.ingest.origin];
    assert.deepEqual(
      [...g.nodes.keys()].sort(),
      [`f:${SHA.A}`, `f:${SHA.B}`, `f:${SHA.C}`, `f:${H}`, runNode(ws, RUNS.r1.id), runNode(render, RUNS.r2.id), runNode(ingest, RUNS.r3.id), runNode(ingest, R5.id), 's:testsrc'].sort(),
    );
    assert.deepEqual(
      [...g.edges].sort(),
      [
        `s:testsrc → ${runNode(ws, RUNS.r1.id)}`,
        `${runNode(ws, RUNS.r1.id)} → f:${SHA.A}`,
        `f:${SHA.A} → ${runNode(render, RUNS.r2.id)}`,
        `${runNode(render, RUNS.r2.id)} → f:${SHA.B}`,
        `f:${SHA.B} → ${runNode(ingest, RUNS.r3.id)}`,
        `${runNode(ingest, RUNS.r3.id)} → f:${SHA.C}`,
        `f:${SHA.C} → ${runNode(ingest, R5.id)}`,
        `${runNode(ingest, R5.id)} → f:${H}`,
      ].sort(),
    );
    const self = g.nodes.get(`f:${SHA.C}`)!;
    assert.match(self, /^<g class="node node-file current"/);
    assert.match(self, new RegExp(`<a href="/file/${SHA.C}" aria-current="page"><title>File /out/c.mp4, sha256:${SHA.C}</title>`));
    assert.match(g.nodes.get(`f:${SHA.A}`)!, new RegExp(`<a href="/file/${SHA.A}"><title>File /ws/a.mov, /nfs/a.mov, sha256:${SHA.A}</title><rect width="232" height="50" rx="14"></rect><text x="14" y="21" class="line1">/ws/a.mov</text><text x="14" y="39" class="line2">sha256:${SHA.A.slice(0, 16)}…</text>`));
    const r2 = g.nodes.get(runNode(render, RUNS.r2.id))!;
    assert.match(r2, /^<g class="node node-run status-ok"/);
    assert.match(r2, new RegExp(`<a href="/runs/${RUNS.r2.id}\\?log=render-7\\.test%2Fffaudit"><title>Run ${RUNS.r2.id}: ffmpeg on render-7 by render \\(for farm\\), started 2026-12-01T10:10:00.000000000Z, ok; log render-7.test/ffaudit</title>`));
    assert.match(r2, /<text x="14" y="21" class="line1">ffmpeg on render-7<\/text><text x="14" y="39" class="line2">render · 2026-12-01 · ok<\/text>/);
    assert.match(g.nodes.get('s:testsrc')!, /^<g class="node node-source"[^>]*><title>Source testsrc \(not a file: no content hash\)<\/title><rect/);
    assert.equal(g.edges.size, (g.svg.match(/<path class="edge"/g) ?? []).length, 'no edge drawn twice');

    // The same lineage without the drawing: the tables link every run and file.
    assert.match(html, /<h1>\/out\/c.mp4<\/h1>/);
    assert.match(html, /<dt>Size<\/dt><dd>4.2 KB \(4,242 bytes\)<\/dd>/);
    assert.match(html, /<dt>Lineage<\/dt><dd>3 runs in 3 logs, from 1 origin<\/dd>/);
    for (const run of [RUNS.r1, RUNS.r2, RUNS.r3, R5]) assert.match(html, new RegExp(`<th scope="row"><a href="/runs/${run.id}\\?log=[a-z0-9-]+\\.test%2Fffaudit" class="mono">${run.id.slice(0, 12)}</a>`));
    assert.match(html, /<p class="note-text">received from render-7, checked<\/p>/);
    assert.match(html, /<div class="graph-scroll" id="lineage-graph" tabindex="0" role="region" aria-label="The drawing, scrollable">/);
  });

  it('hostile names are escaped and their controls shown, in the drawing, its titles and the tables', async () => {
    const c = await w.as('viewer');
    const html = await (await c.get(`/file/${SHA.C}`)).text();
    assert.ok(!html.includes('\u202e'), 'no raw right-to-left override reaches the page');
    assert.ok(!html.includes('<img'), 'no markup from a name');
    const node = svgOf(html).nodes.get(`f:${H}`)!;
    assert.match(node, new RegExp(`<title>File ${escapeRe(HOSTILE_SHOWN)}, sha256:${H}</title>`));
    // Cut from the start to 28 characters (the ellipsis one of them), the whole name in the title.
    assert.ok(node.includes('<text x="14" y="21" class="line1">…r=&quot;alert(1)&quot;&gt;\\u202e&#39;4pm.mov</text>'), node);
    assert.ok(html.includes(`<a class="file-ref" href="/file/${H}">${HOSTILE_SHOWN}</a>`));
    const own = await (await c.get(`/file/${H}`)).text();
    assert.ok(own.includes(`<h1>${HOSTILE_SHOWN}</h1>`));
    assert.ok(own.includes('<title>File &lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\u202e&#39;4pm.mov · ffaudit</title>'), 'the page title too');
    assert.ok(!own.includes('\u202e') && !own.includes('<img'));
  });

  it('a lineage of 103 nodes lays out in well under a second, at its natural size, every label at 13 px', async () => {
    const lineage = await traceAcross(w.db, { hostIds: null }, { path: FINAL, sha256: FINAL });
    assert.equal(lineage.runs.length, 51);
    const { nodes, edges } = lineageGraph(lineage);
    assert.equal(nodes.length, 103);
    assert.equal(edges.length, 10 + 80 + 10 + 51);
    await layOut(nodes, edges); // dagre loaded
    const t0 = performance.now();
    const laid = await layOut(nodes, edges);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `layout took ${ms.toFixed(0)} ms`);
    // Left to right, six ranks of runs with their files between: wider than tall is not required, but it is never
    // squeezed: no two nodes overlap.
    for (const a of laid.nodes) {
      for (const b of laid.nodes) {
        if (a === b) continue;
        const apart = a.x + NODE.width <= b.x || b.x + NODE.width <= a.x || a.y + NODE.height <= b.y || b.y + NODE.height <= a.y;
        assert.ok(apart, `${a.id} and ${b.id} overlap`);
      }
    }

    const c = await w.as('viewer');
    const t1 = performance.now();
    const r = await c.get(`/file/${FINAL}`);
    const pageMs = performance.now() - t1;
    assert.equal(r.status, 200);
    const g = svgOf(await r.text());
    assert.equal(g.nodes.size, 103);
    assert.equal(g.edges.size, 151);
    const head = /^<svg[^>]*>/.exec(g.svg)![0];
    const width = Number(/ width="(\d+)"/.exec(head)![1]);
    const height = Number(/ height="(\d+)"/.exec(head)![1]);
    assert.match(head, new RegExp(`viewBox="0 0 ${width} ${height}"`), 'one unit is one pixel: the drawing is not scaled');
    assert.match(head, new RegExp(` font-size="${FONT_SIZE}"`));
    assert.ok(width >= 11 * NODE.width, `natural width ${width}`);
    assert.doesNotMatch(g.svg, /<text[^>]*font-size|scale\(|style=/, 'no label is given another size or scaled');
    assert.ok(pageMs < 3000, `page took ${pageMs.toFixed(0)} ms`);
    console.log(`# 103-node layout ${ms.toFixed(1)} ms; whole page ${pageMs.toFixed(0)} ms; drawing ${width}×${height}`);
  });

  it('a run whose recorded id the Run page does not take is linked by its start entry in its log', async () => {
    const { runHref } = await import('./run-row.js');
    assert.equal(runHref({ id: RUNS.r3.id, log: 'ingest-2.test/ffaudit', entries: [4, 5] }), `/runs/${RUNS.r3.id}?log=ingest-2.test%2Fffaudit`);
    assert.equal(runHref({ id: '"><script>', log: 'a.test/ffaudit', entries: [7, 9] }), '/runs/7?log=a.test%2Fffaudit');
  });

  it('a lineage past MAX_DRAWN boxes and arrows is not drawn; its tables still are', async () => {
    const lineage = await traceAcross(w.db, { hostIds: null }, { path: SHA.C, sha256: SHA.C });
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a hono JSX node's toString is its HTML
    const html = await ((await FileView({ lineage, paths: ['/out/c.mp4'], size: null, graph: null, nodeCount: MAX_DRAWN + 1, auditor: null }))?.toString() ?? '');
    assert.ok(html.includes(`<p class="muted" id="lineage-graph-too-large">This lineage has ${MAX_DRAWN + 1} files and runs: too many to draw legibly. The tables below list every step.</p>`));
    assert.ok(!html.includes('<svg'));
    assert.ok(html.includes(`<a href="/runs/${RUNS.r3.id}?log=ingest-2.test%2Fffaudit" class="mono">`));
  });

  it('unknown bytes: a 404 page that says so, recorded as a view', async () => {
    const c = await w.as('viewer');
    const nobody = sha('never recorded');
    events.length = 0;
    const r = await c.get(`/file/${nobody}`);
    assert.equal(r.status, 404);
    const html = await r.text();
    assert.match(html, /<h1 id="unknown-heading">Unknown to every log<\/h1>/);
    assert.ok(html.includes(`sha256:${nobody}`));
    assert.match(html, /<h2 id="lookup-heading">Look up another file<\/h2>/);
    assert.deepEqual(events.map((e) => [e.action, e.files]), [['view.file', [nobody]]]);
  });

  it('a viewer sees no evidence downloads and is refused them (403)', async () => {
    const c = await w.as('viewer');
    const html = await (await c.get(`/file/${SHA.C}`)).text();
    assert.ok(!html.includes('/bundle') && !html.includes('/report'), 'no link a viewer cannot use');
    assert.ok(!html.includes('Access history'));
    events.length = 0;
    assert.equal((await c.get(`/file/${SHA.C}/bundle`)).status, 403);
    assert.equal((await c.get(`/file/${SHA.C}/report`)).status, 403);
    assert.equal(events.length, 0, 'nothing handed out, nothing recorded');
  });

  it('an auditor downloads the bundle, which the real `ffaudit verify-bundle` accepts with the three hosts\' keys', async () => {
    const c = await w.as('auditor');
    const html = await (await c.get(`/file/${SHA.C}`)).text();
    assert.ok(html.includes(`<form method="get" action="/file/${SHA.C}/bundle" class="stack" id="bundle-form">`));
    assert.ok(html.includes(`<a class="button" href="/file/${SHA.C}/report" id="download-report">Download chain-of-custody report</a>`));
    assert.match(html, /<h2 id="access-history-title">Access history<\/h2>/);

    events.length = 0;
    const r = await c.get(`/file/${SHA.C}/bundle`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="${SHA.C.slice(0, 12)}.ffaudit-bundle.json"`);
    const body = await r.text();
    assert.deepEqual(events.map((e) => [e.action, e.user, e.files]), [['download.bundle', 'aude', [SHA.C]]]);
    const api = await w.app.request(`/api/v1/bundle?sha256=${SHA.C}`, { headers: { authorization: `Bearer ${w.tokens.auditor}` } });
    const sameButTime = (t: string) => JSON.stringify(JSON.parse(t), (k, v: unknown) => (k === 'created' ? '' : v));
    assert.equal(sameButTime(body), sameButTime(await api.text()), 'the bundle /api/v1/bundle makes');

    const bundle = join(tmp, 'c.ffaudit-bundle.json');
    writeFileSync(bundle, body);
    const file = join(tmp, 'c.mp4');
    writeFileSync(file, 'content C');
    const keys = Object.values(w.hosts).map((h) => {
      const k = join(tmp, `${h.name}.vkey`);
      writeFileSync(k, `${h.ledger.vkey}\n`);
      return ['--pubkey', k];
    });
    const ok = runCli(['verify-bundle', bundle, '--file', file, ...keys.flat(), '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const missing = runCli(['verify-bundle', bundle, '--file', file, ...keys.slice(1).flat()]);
    assert.notEqual(missing.status, 0, 'one host key short, the bundle is not accepted');

    const withReports = await c.get(`/file/${SHA.C}/bundle?with_reports=true`);
    assert.equal(withReports.status, 200);
    assert.equal((await c.get(`/file/${SHA.C}/bundle?with_reports=maybe`)).status, 400);
    assert.equal((await c.get(`/file/${sha('never recorded')}/bundle`)).status, 404);
  });

  it('an auditor downloads the chain-of-custody report with the API route\'s own CSP, recorded first', async () => {
    const c = await w.as('auditor');
    events.length = 0;
    const r = await c.get(`/file/${SHA.C}/report`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-security-policy'), REPORT_CSP);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.headers.get('x-ffaudit-verified'), 'true');
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="custody-report-${SHA.C.slice(0, 12)}.html"`);
    const html = await r.text();
    assert.match(html, /^<!doctype html>/i);
    assert.ok(html.includes(SHA.C));
    assert.deepEqual(events.map((e) => [e.action, e.files]), [['download.report', [SHA.C]]]);
    // The pages keep theirs.
    assert.equal((await c.get(`/file/${SHA.C}`)).headers.get('content-security-policy'), WEB_CSP);
  });

  it('when the access log cannot record, nothing is shown or handed out (503)', async () => {
    const c = await w.as('auditor');
    access.failing = true;
    try {
      for (const path of [`/file/${SHA.C}`, `/file/${SHA.C}/bundle`, `/file/${SHA.C}/report`]) {
        const r = await c.get(path);
        assert.equal(r.status, 503, path);
        const text = await r.text();
        assert.ok(!text.includes('received from render-7') && !text.includes('ffaudit-bundle'), path);
      }
    } finally {
      access.failing = false;
    }
  });
});

describe('dagre is loaded by the first layout, not with the server', () => {
  it('the whole app imports without it; a layout brings it in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffaudit-lazy-'));
    try {
      // A module hook that refuses dagre: the app must import without asking for it, and a layout must ask.
      writeFileSync(join(dir, 'hooks.mjs'), "export async function resolve(s, c, next) { if (s === '@dagrejs/dagre') throw new Error('dagre asked for'); return next(s, c); }\n");
      writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
      const app = new URL('../../app.js', import.meta.url).href;
      const graph = new URL('../graph.js', import.meta.url).href;
      const probe = `await import(${JSON.stringify(app)}); console.log('app imported'); const { layOut } = await import(${JSON.stringify(graph)}); await layOut([{ id: 'a', width: 1, height: 1 }], []).catch((e) => console.log(e.message));`;
      const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', probe], { encoding: 'utf8' });
      assert.equal(r.stdout, 'app imported\ndagre asked for\n', r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('sha256-worker.js, as built for the browser', () => {
  // The shipped script run as a worker would: its global scope receives the file and posts back progress and the hash.
  const script = new URL('../../../web/sha256-worker.js', import.meta.url);
  const CHUNK = 4 * 1024 * 1024;

  async function hashInWorker(blob: Blob): Promise<{ messages: { type: string; done?: number; total?: number; sha256?: string; message?: string }[] }> {
    const { readFileSync } = await import('node:fs');
    const { createContext, runInContext } = await import('node:vm');
    const messages: { type: string; done?: number; total?: number; sha256?: string; message?: string }[] = [];
    let settle: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (settle = resolve));
    const scope: Record<string, unknown> = {
      postMessage: (m: { type: string }) => {
        messages.push(structuredClone(m));
        if (m.type !== 'progress') settle();
      },
    };
    createContext(scope);
    runInContext(readFileSync(script, 'utf8'), scope);
    (scope.onmessage as (e: { data: { file: Blob } }) => void)({ data: { file: blob } });
    await finished;
    return { messages };
  }

  for (const size of [0, 1, 63, 64, 65, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17]) {
    it(`hashes ${size} bytes as node's crypto does`, async () => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 131 + (i >>> 11)) & 0xff;
      const { messages } = await hashInWorker(new Blob([bytes]));
      const done = messages.at(-1)!;
      assert.deepEqual(done, { type: 'done', sha256: createHash('sha256').update(bytes).digest('hex') });
      const progress = messages.filter((m) => m.type === 'progress');
      if (size > 0) assert.deepEqual(progress.at(-1), { type: 'progress', done: size, total: size }, 'the last progress is the whole file');
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.done! > progress[i - 1]!.done!);
    });
  }

  it('a file that shrinks while it is read is an error, not a wrong hash', async () => {
    const real = new Blob([new Uint8Array(CHUNK + 10)]);
    const shrinking = { size: real.size, slice: (a: number, b: number) => real.slice(a, a === 0 ? b : a + 3) } as unknown as Blob;
    const { messages } = await hashInWorker(shrinking);
    assert.deepEqual(messages.at(-1), { type: 'error', message: 'the file changed while it was being read; try again' });
  });
});
