// The team server's search across hosts (server/search/), each question beside PostgreSQL answering the same
// question with a hand-written SQL query on the same tables (no entry checks, no assembly: the floor), over a
// generated data set of 1M runs (2M entries) in 100 mirrored logs:
//   1. runs by a file's SHA-256 (p95 target ≤ 10 ms)
//   2. a page of 100 runs of one user in a 30-day window, newest first (p95 target ≤ 50 ms)
//   3. the lineage of a file ten runs deep, crossing ten logs (target ≤ 100 ms)
//   4. an export of 100k runs as ECS documents, streamed (target ≥ 20k runs/s)
// The data set is generated once (through the server's own ingest code: mirror_entries and the index rows in the
// same transactions, as add-entries writes them) into a PostgreSQL cluster kept in bench/.cache/search-pg, and
// reused by later runs; its generation time is printed when it is made. Questions are interleaved (ours, then the
// floor, alternately) and medians / p95 taken over --queries of each.
// Usage: npm run build && node bench/search.mjs [--logs 100] [--runs-per-log 10000] [--queries 200] [--export 100000]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { canonicalBytes } from '../dist/core/canonical-json.js';
import { Frontier, hashLeaf } from '../dist/core/merkle.js';
import { formatVerifierKey, makeEd25519Signer } from '../dist/core/note.js';
import { openDb, migrate } from '../dist/server/db/pool.js';
import { indexEntries } from '../dist/server/search/ingest.js';
import { searchRuns, streamRuns } from '../dist/server/search/query.js';
import { traceAcross } from '../dist/server/search/lookup.js';
import { runToEcs } from '../dist/render/ecs.js';
import { formatTimeNs } from '../dist/time/time.js';
import { arg, header, median, row } from './lib.mjs';

const LOGS = arg('logs', 100);
const PER_LOG = arg('runs-per-log', 10_000);
const QUERIES = arg('queries', 200);
const EXPORT = arg('export', 100_000);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(ROOT, 'bench', '.cache', 'search-pg');
const SCRIPT = join(ROOT, 'scripts', 'pg-test-server.sh');
const DATASET = `search_v1_${LOGS}x${PER_LOG}`;
const T0 = 1_767_225_600n * 1_000_000_000n; // 2026-01-01T00:00:00Z
const STEP = 31_536_000n * 1_000_000_000n / BigInt(LOGS * PER_LOG); // the runs spread over a year
const USERS = 40;
const CHAINS = 1000;

header(`team server search: ${(LOGS * PER_LOG).toLocaleString('en-US')} runs in ${LOGS} logs; ${QUERIES} queries of each kind`);

// --- the cached cluster --------------------------------------------------------------------------------------------
mkdirSync(join(ROOT, 'bench', '.cache'), { recursive: true });
let adminUrl;
if (existsSync(join(CACHE, 'data'))) {
  spawnSync('bash', [SCRIPT, 'halt', CACHE]); // left running by an interrupted run
  const r = spawnSync('bash', [SCRIPT, 'restart', CACHE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  adminUrl = `postgres://ffaudit@127.0.0.1:${spawnSync('cat', [join(CACHE, 'port')], { encoding: 'utf8' }).stdout.trim()}/postgres`;
} else {
  const r = spawnSync('bash', [SCRIPT, 'start', CACHE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  adminUrl = r.stdout.trim().replace(/^export FFAUDIT_TEST_PG_URL=/, '');
}
process.on('exit', () => spawnSync('bash', [SCRIPT, 'halt', CACHE]));
const dbUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${DATASET}`;
  return u.toString();
})();

// --- the data set ---------------------------------------------------------------------------------------------------
const sha = (s) => createHash('sha256').update(s).digest('hex');
const user = (L, k) => `user${String((L * 7 + k * 13) % USERS).padStart(2, '0')}`;
const timeOf = (L, k) => T0 + (BigInt(k) * BigInt(LOGS) + BigInt(L)) * STEP;
const origin = (L) => `host${String(L).padStart(3, '0')}.bench/ffaudit`;
/** Run k of log L is step s of chain c when k = 1000 s + c and the chain's step s lives in log L. */
function chainStep(L, k) {
  const s = Math.floor(k / 1000);
  const c = k % 1000;
  return c < CHAINS && s < 10 && (c + 7 * s) % LOGS === L ? { c, s } : null;
}
const chainLog = (c, s) => (c + 7 * s) % LOGS;
const chainOut = (c, s) => sha(`chain-${c}-${s}`);
function files(L, k) {
  const ch = chainStep(L, k);
  if (ch) return { input: ch.s === 0 ? sha(`chainsrc-${ch.c}`) : chainOut(ch.c, ch.s - 1), output: chainOut(ch.c, ch.s) };
  return { input: sha(`src-${L}-${k}`), output: sha(`out-${L}-${k}`) };
}
const PRESETS = ['ultrafast', 'fast', 'medium', 'slow'];
function entriesOf(L, k) {
  const f = files(L, k);
  const by = { host: `host${L}`, uid: 1000 + ((L + k) % USERS), user: user(L, k), ...(k % 3 === 0 ? { asserted_actor: `editor${k % 11}@example.org` } : {}) };
  const t = timeOf(L, k);
  const run = sha(`run-${L}-${k}`).slice(0, 32);
  const inPath = `/media/proj${L % 17}/clip-${k}.mov`;
  const outPath = `/media/proj${L % 17}/out/clip-${k}.mp4`;
  const input = { path: inPath, sha256: f.input, size: 1_000_000 + k };
  const start = {
    v: 1, type: 'run.start', time: formatTimeNs(t), by, ffaudit_version: '0.1.0', run, tool: 'ffmpeg', cwd: `/media/proj${L % 17}`,
    argv: ['-i', inPath, '-c:v', 'libx264', '-preset', PRESETS[k % 4], '-crf', String(18 + (k % 8)), outPath], redactions: [],
    ffmpeg: { path: '/usr/bin/ffmpeg', version: '6.1.1', sha256: sha('ffmpeg') }, inputs: [input],
  };
  const status = k % 100 < 95 ? 'ok' : k % 100 < 99 ? 'failed' : 'terminated';
  const end = {
    v: 1, type: 'run.end', time: formatTimeNs(t + 2_000_000_000n), by, ffaudit_version: '0.1.0', run, start: 2 * k, status,
    exit_code: status === 'ok' ? 0 : status === 'failed' ? 1 : null, signal: status === 'terminated' ? 'SIGTERM' : null, duration_ms: 2000,
    inputs: [input], outputs: status === 'ok' ? [{ path: outPath, sha256: f.output, size: 500_000 + k }] : [], streams: [], report_sha256: null, redactions: [],
  };
  return [canonicalBytes(start), canonicalBytes(end)];
}

async function generate() {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATASET])).rowCount > 0;
  if (exists) {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    const done = await c.query("SELECT to_regclass('bench_dataset') IS NOT NULL AS ok").then((r) => r.rows[0].ok);
    const made = done ? (await c.query('SELECT seconds, made_at FROM bench_dataset')).rows[0] : undefined;
    await c.end();
    if (made) {
      console.log(`# data set ${DATASET}: cached (generated ${made.made_at.toISOString()} in ${Number(made.seconds).toFixed(0)} s)`);
      await admin.end();
      return;
    }
    await admin.query(`DROP DATABASE ${DATASET}`);
  }
  await admin.query(`CREATE DATABASE ${DATASET}`);
  await admin.end();
  const t0 = performance.now();
  const db = await openDb(dbUrl, { max: 4 });
  await migrate(db);
  const BATCH = 2000;
  for (let L = 0; L < LOGS; L++) {
    const signer = makeEd25519Signer(origin(L), createHash('sha256').update(`key-${L}`).digest());
    const hostId = (await db.pool.query(
      "INSERT INTO hosts (name, status, origin, origin_hash, vkey, joined_at, last_push_at) VALUES ($1, 'active', $2, $3, $4, now(), now()) RETURNING id",
      [`host-${L}`, origin(L), createHash('sha256').update(origin(L)).digest(), formatVerifierKey(origin(L), signer.publicKey)],
    )).rows[0].id;
    const frontier = new Frontier();
    for (let k0 = 0; k0 < PER_LOG; k0 += BATCH / 2) {
      const entries = [];
      for (let k = k0; k < Math.min(PER_LOG, k0 + BATCH / 2); k++) entries.push(...entriesOf(L, k));
      const leaves = entries.map((e) => hashLeaf(e));
      for (const l of leaves) frontier.push(l);
      const offsets = [];
      const lengths = [];
      let at = 1;
      for (const e of entries) {
        offsets.push(at);
        lengths.push(e.length);
        at += e.length;
      }
      await db.tx(async (c) => {
        await c.query(
          `INSERT INTO mirror_entries (host_id, epoch, idx, data, leaf)
           SELECT $1, 0, $2::bigint + e.i - 1, substring($3::bytea FROM e.o FOR e.l), substring($4::bytea FROM ((e.i - 1) * 32 + 1)::int FOR 32)
             FROM unnest($5::int[], $6::int[]) WITH ORDINALITY AS e(o, l, i)`,
          [hostId, 2 * k0, Buffer.concat(entries), Buffer.concat(leaves), offsets, lengths],
        );
        await indexEntries(c, hostId, 0, 2 * k0, entries);
      });
    }
    await db.pool.query("INSERT INTO mirror_state (host_id, epoch, size, root, note) VALUES ($1, 0, $2, $3, '')", [hostId, 2 * PER_LOG, frontier.root()]);
    if (L % 10 === 9) console.log(`#   ${L + 1} logs generated (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  await db.pool.query('VACUUM ANALYZE');
  const seconds = (performance.now() - t0) / 1000;
  await db.pool.query('CREATE TABLE bench_dataset (seconds double precision, made_at timestamptz DEFAULT now())');
  await db.pool.query('INSERT INTO bench_dataset (seconds) VALUES ($1)', [seconds]);
  await db.close();
  console.log(`# data set ${DATASET}: generated in ${seconds.toFixed(0)} s (${((2 * LOGS * PER_LOG) / seconds).toFixed(0)} entries/s through ingest)`);
}

await generate();

// --- the questions ------------------------------------------------------------------------------------------------
const db = await openDb(dbUrl, { max: 4 });
const raw = new pg.Client({ connectionString: dbUrl });
await raw.connect();
const scope = { hostIds: null };
let seed = 42;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)];
async function timed(fn) {
  const t = performance.now();
  const r = await fn();
  return { ms: performance.now() - t, r };
}

/** ours vs floor, interleaved; each pair gets the same question. */
async function compare(label, make, ours, floor, check) {
  const a = [];
  const b = [];
  for (let i = 0; i < QUERIES; i++) {
    const q = make();
    const first = i % 2 === 0;
    const x = first ? await timed(() => ours(q)) : undefined;
    const y = await timed(() => floor(q));
    const x2 = first ? x : await timed(() => ours(q));
    check?.(x2.r, y.r, q);
    a.push(x2.ms);
    b.push(y.ms);
  }
  row(`${label} p95`, p95(a), p95(b), 'ms', `median ${median(a).toFixed(2)} vs ${median(b).toFixed(2)} ms`);
  return { ours: p95(a), floor: p95(b) };
}

const startOut = () => {
  const L = rand(LOGS);
  let k = rand(PER_LOG);
  while (chainStep(L, k) || k % 100 >= 95) k = (k + 1) % PER_LOG;
  return files(L, k).output;
};

const ENTRY_JOIN = 'JOIN mirror_entries e ON e.host_id = r.host_id AND e.epoch = r.epoch AND e.idx = ANY (ARRAY[r.start_idx, r.end_idx])';
await compare(
  'runs by SHA-256',
  startOut,
  (h) => searchRuns(db, scope, { sha256: h }, { limit: 100, order: 'desc' }),
  (h) => raw.query(
    `SELECT r.host_id, r.start_idx, e.idx, e.data FROM (SELECT DISTINCT r.* FROM idx_files f JOIN idx_runs r ON r.host_id = f.host_id AND r.epoch = f.epoch AND (r.start_idx = f.idx OR r.end_idx = f.idx)
       WHERE f.sha256 = $1 ORDER BY r.started_ns DESC LIMIT 100) r ${ENTRY_JOIN}`, [Buffer.from(h, 'hex')]),
  (ours, floor) => {
    if (ours.items.length !== 1 || floor.rows.length !== 2) throw new Error(`runs by sha256: ${ours.items.length} runs vs ${floor.rows.length} entries`);
  },
);

const DAY = 86_400n * 1_000_000_000n;
await compare(
  'user + 30-day page of 100',
  () => {
    const since = T0 + BigInt(rand(300)) * DAY;
    return { user: `user${String(rand(USERS)).padStart(2, '0')}`, since, until: since + 30n * DAY };
  },
  (q) => searchRuns(db, scope, { user: q.user, sinceNs: q.since, untilNs: q.until }, { limit: 100, order: 'desc' }),
  (q) => raw.query(
    `SELECT r.host_id, r.start_idx, e.idx, e.data FROM (SELECT * FROM idx_runs WHERE usr = $1 AND started_ns BETWEEN $2 AND $3
       ORDER BY started_ns DESC, host_id DESC, start_idx DESC LIMIT 100) r ${ENTRY_JOIN}`, [q.user, q.since.toString(), q.until.toString()]),
  (ours, floor) => {
    if (ours.items.length !== 100 || floor.rows.length !== 200) throw new Error(`page: ${ours.items.length} runs vs ${floor.rows.length} entries`);
  },
);

await compare(
  'lineage 10 deep across 10 logs',
  // A chain whose every step ended ok (the generator fails 5% of runs: k % 100 ≥ 95, and a chain's k % 100 is c % 100).
  () => {
    let c = rand(CHAINS);
    while (c % 100 >= 95) c = rand(CHAINS);
    return c;
  },
  (c) => traceAcross(db, scope, { path: `/media/chain-${c}.mp4`, sha256: chainOut(c, 9) }),
  (c) => raw.query(
    `WITH RECURSIVE walk(sha, depth) AS (
       SELECT $1::bytea, 0
       UNION
       SELECT fi.sha256, w.depth + 1 FROM walk w
         JOIN idx_files fo ON fo.sha256 = w.sha AND fo.role = 'output'
         JOIN idx_runs r ON r.host_id = fo.host_id AND r.epoch = fo.epoch AND r.end_idx = fo.idx
         JOIN idx_files fi ON fi.host_id = r.host_id AND fi.epoch = r.epoch AND fi.idx = r.end_idx AND fi.role = 'input' AND fi.sha256 IS NOT NULL
       WHERE w.depth < 64)
     SELECT r.host_id, e.idx, e.data FROM walk w
       JOIN idx_files fo ON fo.sha256 = w.sha AND fo.role = 'output'
       JOIN idx_runs r ON r.host_id = fo.host_id AND r.epoch = fo.epoch AND r.end_idx = fo.idx ${ENTRY_JOIN}`, [Buffer.from(chainOut(c, 9), 'hex')]),
  (ours, floor, c) => {
    const logs = new Set(ours.runs.map((r) => r.log ?? ours.log));
    if (ours.runs.length !== 10 || logs.size !== 10 || floor.rows.length !== 20) throw new Error(`chain ${c}: ${ours.runs.length} runs in ${logs.size} logs vs ${floor.rows.length} entries`);
  },
);

// Export: the runs of a window holding EXPORT runs, as ECS NDJSON (ours) vs the rows' bytes (floor).
const windowNs = (BigInt(EXPORT) * STEP);
const exportFrom = T0 + 100n * DAY;
const exportTo = exportFrom + windowNs - 1n;
const ex = [];
const fl = [];
for (let i = 0; i < 3; i++) {
  const a = await timed(async () => {
    let n = 0;
    let bytes = 0;
    for await (const x of streamRuns(db, scope, { sinceNs: exportFrom, untilNs: exportTo })) {
      if ('unreadable' in x) throw new Error(x.unreadable.error);
      bytes += JSON.stringify(runToEcs(x, x.log)).length + 1;
      n++;
    }
    return { n, bytes };
  });
  const b = await timed(async () => {
    let n = 0;
    let after = [exportFrom - 1n, 0, 0];
    for (;;) {
      const { rows } = await raw.query(
        `SELECT r.started_ns, r.host_id, r.start_idx, s.data AS s, e.data AS e FROM (SELECT * FROM idx_runs WHERE (started_ns, host_id, start_idx) > ($1, $2, $3) AND started_ns <= $4
           ORDER BY started_ns, host_id, start_idx LIMIT 1000) r
         JOIN mirror_entries s ON s.host_id = r.host_id AND s.epoch = r.epoch AND s.idx = r.start_idx
         LEFT JOIN mirror_entries e ON e.host_id = r.host_id AND e.epoch = r.epoch AND e.idx = r.end_idx ORDER BY r.started_ns, r.host_id, r.start_idx`,
        [after[0].toString(), after[1], after[2], exportTo.toString()],
      );
      n += rows.length;
      if (rows.length < 1000) break;
      const last = rows[rows.length - 1];
      after = [BigInt(last.started_ns), last.host_id, last.start_idx];
    }
    return n;
  });
  if (a.r.n !== b.r) throw new Error(`export: ${a.r.n} runs vs ${b.r}`);
  ex.push(a.r.n / (a.ms / 1000));
  fl.push(b.r / (b.ms / 1000));
}
row(`export ${ex.length ? EXPORT.toLocaleString('en-US') : ''} runs as ECS NDJSON`, median(ex), median(fl), 'runs/s', '(higher is better; floor: the rows fetched by keyset pages)');

await raw.end();
await db.close();
