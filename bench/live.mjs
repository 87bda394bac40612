// Live runs on the web interface: from the moment a host starts pushing a new run to the moment a browser's event
// stream (/runs/events, server-sent events) delivers it, beside the push's own duration (the floor: the run cannot
// be shown before the transaction that stores it commits). A real `ffaudit serve` process on a throwaway PostgreSQL
// (scripts/pg-test-server.sh), a host ledger joined to it pushing one run at a time with the push client, and one
// signed-in event stream, as a browser's EventSource holds it. Target: the run's event within 1 s, p95.
// Usage: npm run build && node bench/live.mjs [--runs 30]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Ledger } from '../dist/ledger/ledger.js';
import { joinServer } from '../dist/push/join.js';
import { pushLedger } from '../dist/push/client.js';
import { migrate, openDb } from '../dist/server/db/pool.js';
import { addHost } from '../dist/server/hosts.js';
import { initServerKeys } from '../dist/server/keys.js';
import { addUser } from '../dist/server/web/accounts.js';
import { appendRuns } from '../dist/testing/api-fixture.js';
import { arg, header, median } from './lib.mjs';

const RUNS = arg('runs', 30);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'ffaudit.js');
const SCRIPT = join(ROOT, 'scripts', 'pg-test-server.sh');

header(`live runs: push start → server-sent event, ${RUNS} runs`);

const tmp = mkdtempSync(join(tmpdir(), 'ffaudit-bench-live-'));
// Its own directory: as root, the cluster belongs to the postgres user, who cannot enter a 0700 directory of root's.
const pgdir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-live-pg-'));
const started = spawnSync('bash', [SCRIPT, 'start', pgdir], { encoding: 'utf8' });
if (started.status !== 0) {
  console.error(started.stderr);
  process.exit(1);
}
const adminUrl = started.stdout.trim().replace(/^export FFAUDIT_TEST_PG_URL=/, '');
let serveChild;
process.on('exit', () => {
  serveChild?.kill('SIGKILL');
  spawnSync('bash', [SCRIPT, 'stop', pgdir]);
  rmSync(tmp, { recursive: true, force: true });
});

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query('CREATE DATABASE live');
await admin.end();
const dbUrl = Object.assign(new URL(adminUrl), { pathname: '/live' }).toString();
const db = await openDb(dbUrl);
await migrate(db);
const keys = join(tmp, 'keys');
initServerKeys(keys, 'bench.test');
const { token } = await addHost(db, 'ws-1');
await addUser(db, 'vera', 'viewer', 'viewer passphrase 1');
await db.close();

// The server, as in production.
serveChild = spawn(process.execPath, [BIN, 'serve', '--db', dbUrl, '--keys', keys, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  serveChild.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (\S+?);/.exec(out);
    if (m) resolve(m[1]);
  });
  serveChild.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
});

// The host.
const ledger = Ledger.init(join(tmp, 'ws-1'), { origin: 'ws-1.bench/ffaudit' });
await joinServer(ledger, url, token);

// A signed-in browser: the sign-in form's token and cookie, then the session cookie.
const form = await fetch(`${url}/signin`);
const signinCookie = form.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const signinToken = /name="_signin" value="([^"]+)"/.exec(await form.text())[1];
const signedIn = await fetch(`${url}/signin`, {
  method: 'POST',
  redirect: 'manual',
  headers: { cookie: signinCookie, 'content-type': 'application/x-www-form-urlencoded', origin: url },
  body: new URLSearchParams({ _signin: signinToken, name: 'vera', password: 'viewer passphrase 1', next: '/' }).toString(),
});
if (signedIn.status !== 303) throw new Error(`sign-in: ${signedIn.status}`);
const session = signedIn.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('ffaudit-session='));

// The event stream: each run event's arrival time, by run id.
const arrived = new Map();
const waiters = new Map();
const stream = await fetch(`${url}/runs/events?after=start`, { headers: { cookie: session, accept: 'text/event-stream' } });
if (stream.status !== 200) throw new Error(`events: ${stream.status}`);
(async () => {
  const dec = new TextDecoder();
  let text = '';
  for await (const chunk of stream.body) {
    const now = performance.now();
    text += dec.decode(chunk, { stream: true });
    let cut;
    while ((cut = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      if (!block.includes('event: run')) continue;
      const id = JSON.parse(/^data: (.*)$/m.exec(block)[1]).id;
      arrived.set(id, now);
      waiters.get(id)?.();
    }
  }
})().catch(() => undefined);

const delays = [];
const pushes = [];
for (let i = 0; i < RUNS + 1; i++) {
  const id = i.toString(16).padStart(32, '0');
  appendRuns(ledger, [{ id, user: 'bench', host: 'ws-1', argv: ['-i', 'in.mov', `out-${i}.mp4`], inputs: [], outputs: [{ path: `/out/out-${i}.mp4`, size: 1, sha256: null }], startMin: i }]);
  const got = new Promise((resolve) => waiters.set(id, resolve));
  const t0 = performance.now();
  const r = await pushLedger(ledger, { retries: 0 });
  const t1 = performance.now();
  if (r.stopped) throw new Error(`push stopped: ${r.stopped}`);
  await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error(`run ${i} never arrived`)), 15_000))]);
  // The first run warms up the connections on both sides: not counted.
  if (i === 0) continue;
  delays.push(arrived.get(id) - t0);
  pushes.push(t1 - t0);
}

const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1];
const f = (x) => `${x.toFixed(1)} ms`;
console.log(`push start → event:    median ${f(median(delays))}, p95 ${f(p95(delays))}  (target p95 < 1000 ms)`);
console.log(`push alone (the floor): median ${f(median(pushes))}, p95 ${f(p95(pushes))}`);
console.log(`event − push end:       median ${f(median(delays.map((d, i) => d - pushes[i])))}  (negative: shown while the push still sends its checkpoint)`);
// A server closing with a stream open ends the stream and stops (serve.ts close).
const t2 = performance.now();
const exited = new Promise((resolve) => serveChild.once('exit', resolve));
serveChild.kill('SIGTERM');
await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('serve did not stop within 10 s with a stream open')), 10_000))]);
console.log(`serve stopped with a stream open in ${f(performance.now() - t2)}`);
process.exit(0);
