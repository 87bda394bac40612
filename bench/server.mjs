// Team server benchmarks (`ffaudit serve`), each beside its baseline in the same run, on a throwaway PostgreSQL
// cluster started here (scripts/pg-test-server.sh; fsync on, synchronous_commit on: PostgreSQL's defaults):
//   1. add-checkpoint: requests/s and latency percentiles with the witness's cosignatures as `serve init` makes its
//      keys (Ed25519 and ML-DSA-44; bench/ml-dsa.mjs sets Ed25519 alone beside both), over H logs advancing
//      concurrently (each log's requests are sequential, as the protocol requires), beside a bare node:http server
//      answering the same requests with a fixed 200 (the HTTP floor) and beside the same compare-and-set transaction
//      sent straight to PostgreSQL with pg (the database floor). Target ≥ 1,000 requests/s, p99 ≤ 20 ms.
//   2. mirror ingest: entries verified and committed per second through add-entries (32 packages of 256 per
//      request), beside PostgreSQL's own COPY of the same rows into the same table. Target ≥ 0.5× COPY.
//   3. run end to stored cosignature: a joined ledger, real audited FFmpeg runs with the default background push;
//      from the moment the run returns to the moment the ledger holds the witness's and the mirror's cosignatures
//      of its end, beside the bare FFmpeg run itself. Target p95 ≤ 1 s.
// The server runs as its own process (bin/ffaudit.js serve), as in production.
// Usage: npm run build && node bench/server.mjs [--hosts 32] [--requests 4000] [--entries 100000] [--runs 21]
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Frontier, hashLeaf, consistencyProof, rootAt } from '../dist/core/merkle.js';
import { makeEd25519Signer, formatVerifierKey } from '../dist/core/note.js';
import { signCheckpoint } from '../dist/core/checkpoint.js';
import { formatAddCheckpoint } from '../dist/core/witness-protocol.js';
import { encodeAddEntries, packageRanges } from '../dist/core/mirror-protocol.js';
import { subtreeConsistencyProof } from '../dist/core/subtree.js';
import { arg, closePosts, enrolLogs, header, median, post, row, startBenchPostgres, startServe } from './lib.mjs';

const HOSTS = arg('hosts', 32);
const REQUESTS = arg('requests', 4000);
const ENTRIES = arg('entries', 100_000);
const RUNS = arg('runs', 21);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'ffaudit.js');

header(`team server benchmarks: add-checkpoint ${REQUESTS} requests over ${HOSTS} logs; mirror ingest of ${ENTRIES.toLocaleString('en-US')} entries`);

// --- a throwaway PostgreSQL --------------------------------------------------------------------------------------
const { url: adminUrl, dir: pgdir } = await startBenchPostgres();
async function sql(url, text, params) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}
async function newDb(name) {
  await sql(adminUrl, `CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
{
  const r = await sql(adminUrl, "SELECT current_setting('fsync') AS f, current_setting('synchronous_commit') AS s, version() AS v");
  console.log(`PostgreSQL: fsync=${r.rows[0].f} synchronous_commit=${r.rows[0].s}; ${r.rows[0].v.split(',')[0]}`);
}

// --- an in-memory log per host -----------------------------------------------------------------------------------
function makeLog(origin, n, entryOf) {
  const signer = makeEd25519Signer(origin, randomBytes(32));
  const nodes = new Map();
  const f = new Frontier();
  const entries = [];
  for (let i = 0; i < n; i++) {
    const e = entryOf(i);
    entries.push(e);
    const leaf = hashLeaf(e);
    nodes.set(`0:${i}`, leaf);
    f.push(leaf, (level, index, hash) => nodes.set(`${level}:${index}`, hash));
  }
  const src = { perfect: (level, index) => nodes.get(`${level}:${index}`) };
  const checkpoint = (size) => signCheckpoint({ origin, size, root: rootAt(src, size), extensions: [] }, signer);
  return { origin, signer, vkey: formatVerifierKey(origin, signer.publicKey), entries, src, checkpoint };
}

// --- the server --------------------------------------------------------------------------------------------------
function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Sends each log's bodies in order, all logs at once; returns requests/s and latencies (ms). */
async function drive(url, perLog) {
  const lat = [];
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(
    perLog.map(async (bodies) => {
      for (const b of bodies) {
        const s = performance.now();
        const r = await post(`${url}/add-checkpoint`, b);
        lat.push(performance.now() - s);
        if (r.status !== 200) bad++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { rps: lat.length / secs, p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99), bad };
}

const keysDir = join(pgdir, '..', `ffaudit-bench-keys-${process.pid}`);
spawnSync(process.execPath, [BIN, 'serve', 'init', '--name', 'bench.example', '--keys', keysDir], { stdio: 'ignore' });
process.on('exit', () => rmSync(keysDir, { recursive: true, force: true }));

// 1. add-checkpoint ------------------------------------------------------------------------------------------------
{
  const perHost = Math.ceil(REQUESTS / HOSTS);
  const logs = Array.from({ length: HOSTS }, (_, h) => makeLog(`bench.example/host-${h}`, perHost + 1, (i) => Buffer.from(`entry ${h}/${i} ${'x'.repeat(500)}`)));
  // Request k of a log moves it from size k to size k+1 with an RFC 6962 consistency proof.
  const bodies = logs.map((l) => Array.from({ length: perHost }, (_, k) => formatAddCheckpoint({ oldSize: k, proof: k === 0 ? [] : consistencyProof(l.src, k, k + 1), checkpoint: l.checkpoint(k + 1) })));
  const dbUrl = await newDb('bench_witness');
  await enrolLogs(dbUrl, logs);
  const server = await startServe(dbUrl, keysDir);
  const ours = await drive(server.url, bodies);
  await server.stop();

  // The HTTP floor: the same client and bodies against a server that reads the body and answers 200.
  const floor = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok\n'));
  });
  await new Promise((r) => floor.listen(0, '127.0.0.1', r));
  const floorRes = await drive(`http://127.0.0.1:${floor.address().port}`, bodies);
  floor.close();

  // The database floor: the witness's compare-and-set as bare SQL over a pool of 10, the same count and concurrency.
  const pool = new pg.Pool({ connectionString: await newDb('bench_cas'), max: 10 });
  await pool.query('CREATE TABLE state (log int PRIMARY KEY, size bigint NOT NULL, root bytea NOT NULL, note text NOT NULL)');
  await pool.query('CREATE TABLE trail (log int, size bigint, root bytea, note text, PRIMARY KEY (log, size))');
  const dbLat = [];
  const t0 = performance.now();
  await Promise.all(
    logs.map(async (l, h) => {
      await pool.query('INSERT INTO state VALUES ($1, 0, $2, $3)', [h, Buffer.alloc(32), '']);
      for (let k = 0; k < perHost; k++) {
        const s = performance.now();
        const c = await pool.connect();
        await c.query('BEGIN');
        await c.query('SELECT size, root FROM state WHERE log = $1 FOR UPDATE', [h]);
        await c.query('UPDATE state SET size = $2, root = $3, note = $4 WHERE log = $1', [h, k + 1, Buffer.alloc(32, k), 'n'.repeat(300)]);
        await c.query('INSERT INTO trail VALUES ($1, $2, $3, $4)', [h, k + 1, Buffer.alloc(32, k), 'n'.repeat(300)]);
        await c.query('COMMIT');
        c.release();
        dbLat.push(performance.now() - s);
      }
    }),
  );
  const dbRps = dbLat.length / ((performance.now() - t0) / 1000);
  await pool.end();

  console.log(`add-checkpoint: ${ours.bad} of ${HOSTS * perHost} requests not answered 200`);
  row('add-checkpoint requests/s vs HTTP floor', ours.rps, floorRes.rps, 'req/s');
  row('add-checkpoint requests/s vs SQL compare-and-set', ours.rps, dbRps, 'req/s');
  row('add-checkpoint p50 latency vs HTTP floor', ours.p50, floorRes.p50, 'ms');
  row('add-checkpoint p99 latency vs SQL floor', ours.p99, percentile(dbLat, 99), 'ms', `p95 ${ours.p95.toFixed(1)} ms; target ≥ 1,000 req/s, p99 ≤ 20 ms`);
}

// 2. mirror ingest vs COPY ------------------------------------------------------------------------------------------
{
  const log = makeLog('bench.example/ingest', ENTRIES, (i) => Buffer.from(JSON.stringify({ v: 1, type: 'custody.note', i, text: `step ${i} ${'y'.repeat(520)}` })));
  const dbUrl = await newDb('bench_mirror');
  await enrolLogs(dbUrl, [log]);
  // Requests of 32 packages (the spec's suggested bound), built before the clock starts.
  const N = ENTRIES;
  const ranges = packageRanges(0, N);
  const requests = [];
  for (let i = 0; i < ranges.length; i += 32) {
    const slice = ranges.slice(i, i + 32);
    requests.push(
      encodeAddEntries(
        { origin: log.origin, uploadStart: slice[0].start, uploadEnd: N, ticket: Buffer.alloc(0) },
        slice.map((p) => ({ entries: log.entries.slice(p.start, p.end), proof: subtreeConsistencyProof(log.src, p.subtreeStart, p.end, N) })),
      ),
    );
  }
  const server = await startServe(dbUrl, keysDir);
  const cp = await post(`${server.url}/add-checkpoint`, formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: log.checkpoint(N) }));
  if (cp.status !== 200) throw new Error(`add-checkpoint ${cp.status} ${cp.body}`);
  const t0 = performance.now();
  let last;
  for (const body of requests) {
    last = await post(`${server.url}/add-entries`, body, { 'content-type': 'application/octet-stream' });
    if (last.status !== 200 && last.status !== 202) throw new Error(`add-entries ${last.status} ${last.body}`);
  }
  const oursSecs = (performance.now() - t0) / 1000;
  if (last.status !== 200) throw new Error(`the last add-entries answered ${last.status}`);
  await server.stop();

  // COPY of the same rows into the same table (a fresh database with the server's schema), from a server-side file.
  const copyDb = await newDb('bench_copy');
  await enrolLogs(copyDb, []);
  const file = join(pgdir, 'rows.copy');
  const lines = log.entries.map((e, i) => `1\t0\t${i}\t\\\\x${e.toString('hex')}\t\\\\x${hashLeaf(e).toString('hex')}\n`);
  writeFileSync(file, lines.join(''));
  chmodSync(file, 0o644);
  const c = new pg.Client({ connectionString: copyDb });
  await c.connect();
  const t1 = performance.now();
  await c.query(`COPY mirror_entries (host_id, epoch, idx, data, leaf) FROM '${file}'`);
  const copySecs = (performance.now() - t1) / 1000;
  const n = (await c.query('SELECT count(*)::int AS n FROM mirror_entries')).rows[0].n;
  await c.end();
  if (n !== N) throw new Error(`COPY stored ${n} rows`);
  row('mirror ingest entries/s vs COPY', N / oursSecs, N / copySecs, 'entries/s', 'target ≥ 0.5×');
}

// 3. run end to stored cosignature ---------------------------------------------------------------------------------
{
  const { Ledger } = await import('../dist/ledger/ledger.js');
  const dbUrl = await newDb('bench_runs');
  await enrolLogs(dbUrl, []);
  const server = await startServe(dbUrl, keysDir);
  const work = mkdtempSync(join(tmpdir(), 'ffaudit-bench-runs-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  const ledgerDir = join(work, 'ledger');
  const env = { ...process.env, FFAUDIT_LEDGER: ledgerDir };
  for (const k of Object.keys(env)) if (k.startsWith('FFAUDIT_') && k !== 'FFAUDIT_LEDGER') delete env[k];
  spawnSync(process.execPath, [BIN, 'init', '--origin', 'bench.example/runs'], { env, stdio: 'ignore' });
  const token = spawnSync(process.execPath, [BIN, 'serve', 'hosts', 'add', 'runs', '--db', dbUrl], { encoding: 'utf8' }).stdout;
  const joined = spawnSync(process.execPath, [BIN, 'join', server.url], { env, input: token, encoding: 'utf8' });
  if (joined.status !== 0) throw new Error(`join: ${joined.stderr}`);
  const ffArgs = (i) => ['-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'testsrc=duration=0.5:size=160x120:rate=25', '-y', join(work, `out${i}.mp4`)];
  const cosignedTo = () => {
    const l = Ledger.open({ dir: ledgerDir, explicit: true });
    try {
      const srv = l.server();
      const w = l.lastCosigned(srv.config.url, srv.witness.name)?.size ?? 0;
      const m = l.lastCosigned(srv.config.url, srv.mirror.name)?.size ?? 0;
      return { size: l.size(), done: Math.min(w, m) };
    } finally {
      l.close();
    }
  };
  const waits = [];
  const bare = [];
  const audited = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    spawnSync('ffmpeg', ffArgs(`b${i}`), { stdio: 'ignore' });
    bare.push(performance.now() - t);
    t = performance.now();
    const r = spawnSync(process.execPath, [BIN, 'ffmpeg', ...ffArgs(i)], { env, stdio: 'ignore' });
    const returned = performance.now();
    audited.push(returned - t);
    if (r.status !== 0) throw new Error(`audited run ${i} exited ${r.status}`);
    for (;;) {
      const c = cosignedTo();
      if (c.done >= c.size) break;
      if (performance.now() - returned > 30_000) throw new Error(`run ${i}: no cosignature after 30 s`);
      await new Promise((res) => setTimeout(res, 10));
    }
    waits.push(performance.now() - returned);
  }
  await server.stop();
  row('run returned → cosignatures stored, p95', percentile(waits, 95), median(bare), 'ms', `median ${median(waits).toFixed(0)} ms; baseline: the bare FFmpeg run; target p95 ≤ 1,000 ms`);
  row('audited run (background push) vs bare FFmpeg', median(audited), median(bare), 'ms');
}
closePosts();
