// The web interface's speed (src/server/web/), each figure beside its floor in the same run:
//   1. server time of the Runs page (one user, a 30-day window, newest first) and of the File page (a lineage ten
//      runs deep across ten logs), over the 1M-run data set of search.mjs (bench/search-dataset.mjs), beside the JSON
//      API answering the same question (/api/v1/runs, /api/v1/lineage): the page's own cost is the difference.
//      Target p95 ≤ 100 ms for each page.
//   2. a 100-node lineage (50 runs and their files, across 5 hosts) drawn in headless Chromium (Debian's chromium
//      through playwright-core): from navigation to the graph on screen (load event, SVG laid out), beside the same
//      page's bytes served as a static file by a bare node:http server (the browser's own floor). Target ≤ 1 s.
// Requests are interleaved (page, then floor, alternately) and p95 / medians taken. Pages are rendered in process
// through the app's fetch (app.request), as the server's HTTP adapter calls it, with a signed-in session; every
// page view is recorded in a real access log, as in production.
// Usage: npm run build && node bench/web.mjs [--queries 200] [--loads 15]
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { openDb, migrate } from '../dist/server/db/pool.js';
import { createApp } from '../dist/server/app.js';
import { initServerKeys, loadServerKeys } from '../dist/server/keys.js';
import { addToken } from '../dist/server/api/auth.js';
import { addUser } from '../dist/server/web/accounts.js';
import { LedgerAccessLog } from '../dist/server/web/access-log.js';
import { webClient } from '../dist/testing/web-fixture.js';
import { launchChromium } from '../dist/testing/browser.js';
import { Ledger } from '../dist/ledger/ledger.js';
import { pushLedger } from '../dist/push/client.js';
import { joinServer } from '../dist/push/join.js';
import { addHost } from '../dist/server/hosts.js';
import { appendRuns } from '../dist/testing/api-fixture.js';
import { formatTimeNs } from '../dist/time/time.js';
import { adminUrl, CHAINS, chainOut, dbUrl, generate, T0, USERS } from './search-dataset.mjs';
import { arg, header, median, row } from './lib.mjs';

const QUERIES = arg('queries', 200);
const LOADS = arg('loads', 15);
header(`web interface: Runs and File pages over 1M runs (${QUERIES} of each); a 100-node lineage drawn ${LOADS}× in Chromium`);
await generate();

const tmp = mkdtempSync(join(tmpdir(), 'ffaudit-bench-web-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
initServerKeys(join(tmp, 'keys'), 'bench.test');
const keys = loadServerKeys(join(tmp, 'keys'));
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)];
let seed = 7;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};

/** The app over `url`, its access log in `dir`, a signed-in auditor and an auditor's API token. */
async function appOver(url, name) {
  const db = await openDb(url, { max: 4 });
  await migrate(db);
  const deps = { db, keys, log: () => {} };
  const app = createApp(deps);
  const inProcess = (input, init) => app.fetch(new Request(input, init));
  deps.access = await LedgerAccessLog.open({ dir: join(tmp, `access-${name}`), db, keys, fetch: inProcess, log: () => {} });
  await db.pool.query('DELETE FROM users WHERE name = $1', ['bench-auditor']);
  await addUser(db, 'bench-auditor', 'auditor', 'bench auditor passphrase');
  const client = webClient(app);
  const r = await client.signIn('bench-auditor', 'bench auditor passphrase');
  if (r.status !== 303) throw new Error(`sign-in: ${r.status}`);
  const token = (await addToken(db, 'bench', 'auditor')).token;
  return { db, app, deps, client, token };
}

async function timed(fn) {
  const t = performance.now();
  const r = await fn();
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`status ${r.status}`);
  return performance.now() - t;
}

async function compare(label, make, page, floor) {
  const a = [];
  const b = [];
  for (let i = 0; i < QUERIES; i++) {
    const q = make();
    if (i % 2 === 0) {
      a.push(await timed(() => page(q)));
      b.push(await timed(() => floor(q)));
    } else {
      b.push(await timed(() => floor(q)));
      a.push(await timed(() => page(q)));
    }
  }
  row(`${label} p95`, p95(a), p95(b), 'ms', `median ${median(a).toFixed(1)} vs ${median(b).toFixed(1)} ms`);
}

// --- 1. pages over 1M runs ------------------------------------------------------------------------------------------
{
  const w = await appOver(dbUrl, 'big');
  const DAY = 86_400n * 1_000_000_000n;
  const iso = (ns) => formatTimeNs(ns).replace(/\.\d+Z$/, 'Z');
  const api = (path) => w.app.request(path, { headers: { authorization: `Bearer ${w.token}` } });
  await compare(
    'Runs page: user + 30 days',
    () => {
      const since = T0 + BigInt(rand(300)) * DAY;
      return `user=user${String(rand(USERS)).padStart(2, '0')}&since=${iso(since)}&until=${iso(since + 30n * DAY)}`;
    },
    (q) => w.client.get(`/runs?${q}`),
    (q) => api(`/api/v1/runs?${q}&limit=100`),
  );
  await compare(
    'File page: lineage 10 deep, 10 logs',
    () => {
      let c = rand(CHAINS);
      while (c % 100 >= 95) c = rand(CHAINS);
      return chainOut(c, 9);
    },
    (h) => w.client.get(`/file/${h}`),
    (h) => api(`/api/v1/lineage?sha256=${h}`),
  );
  await w.deps.access?.close();
  await w.db.close();
}

// --- 2. a 100-node lineage in Chromium -------------------------------------------------------------------------------
{
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS bench_web_graph');
  await admin.query('CREATE DATABASE bench_web_graph');
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = '/bench_web_graph';
  const w = await appOver(u.toString(), 'graph');
  const viaApp = (input, init) => w.app.request(input instanceof Request ? input : String(input), init);
  const sha = (s) => createHash('sha256').update(s).digest('hex');
  // 50 runs in a chain across 5 hosts, each reading the previous output and a source of its own: 50 runs + 50 outputs
  // + 50 sources + the first input = 151 nodes would be too many; every other run takes a source: 50 + 50 + 25 = 125,
  // so 40 runs: 40 runs + 40 outputs + 20 sources = 100 nodes.
  const hosts = [];
  for (let h = 0; h < 5; h++) {
    const ledger = Ledger.init(join(tmp, `host-${h}`), { origin: `graph-${h}.bench/ffaudit` });
    const { token } = await addHost(w.db, `graph-${h}`);
    await joinServer(ledger, 'http://server.test', token, { fetch: viaApp });
    hosts.push(ledger);
  }
  const file = (path, sha256) => ({ path, size: 1000, sha256 });
  let prev = null;
  for (let i = 0; i < 40; i++) {
    const out = sha(`graph-out-${i}`);
    const inputs = [...(prev ? [file(`/in/step-${i}.mov`, prev)] : []), ...(i % 2 === 0 ? [file(`/src/source-${i}.mov`, sha(`graph-src-${i}`))] : [])];
    appendRuns(hosts[i % 5], [{ id: sha(`graph-run-${i}`).slice(0, 32), user: 'editor', host: `graph-${i % 5}`, argv: ['-i', 'x', `/out/step-${i}.mp4`], inputs, outputs: [file(`/out/step-${i}.mp4`, out)], startMin: i * 2 }]);
    prev = out;
  }
  for (const l of hosts) await pushLedger(l, { fetch: viaApp, retries: 0 });
  const server = serve({ fetch: w.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const pagePath = `/file/${prev}`;
  // The floor: the same page's bytes and assets from a bare server that does no work.
  const html = await (await w.client.get(pagePath)).text();
  const nodes = (html.match(/<g class="node/g) ?? []).length;
  const assets = new Map();
  for (const m of html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)) assets.set(m[1], Buffer.from(await (await w.app.request(m[1])).arrayBuffer()));
  const bare = http.createServer((req, res) => {
    const a = assets.get(req.url);
    res.writeHead(200, { 'content-type': a ? (req.url.endsWith('.css') ? 'text/css' : req.url.endsWith('.svg') ? 'image/svg+xml' : 'text/javascript') : 'text/html; charset=utf-8' });
    res.end(a ?? html);
  });
  await new Promise((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${bare.address().port}${pagePath}`;
  const browser = await launchChromium();
  const context = await browser.newContext();
  await context.addCookies([...w.client.cookies].map(([name, value]) => ({ name, value, url: base })));
  const page = await context.newPage();
  const drawn = async (url) => {
    const t = performance.now();
    await page.goto(url, { waitUntil: 'load' });
    // Laid out and painted: the graph's box is known after the next frame.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => r(document.querySelector("svg")?.getBoundingClientRect().width)))');
    return performance.now() - t;
  };
  await drawn(base + pagePath); // warm the browser once
  const a = [];
  const b = [];
  for (let i = 0; i < LOADS; i++) {
    if (i % 2 === 0) {
      a.push(await drawn(base + pagePath));
      b.push(await drawn(bareUrl));
    } else {
      b.push(await drawn(bareUrl));
      a.push(await drawn(base + pagePath));
    }
  }
  row(`100-node lineage drawn (${nodes} nodes)`, p95(a), p95(b), 'ms', `median ${median(a).toFixed(0)} vs ${median(b).toFixed(0)} ms (floor: the same bytes from a bare server)`);
  await browser.close();
  server.close();
  bare.close();
  for (const l of hosts) l.close();
  await w.deps.access?.close();
  await w.db.close();
}
process.exit(0);
