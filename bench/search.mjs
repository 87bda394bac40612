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
import pg from 'pg';
import { openDb } from '../dist/server/db/pool.js';
import { searchRuns, streamRuns } from '../dist/server/search/query.js';
import { traceAcross } from '../dist/server/search/lookup.js';
import { runToEcs } from '../dist/render/ecs.js';
import { CHAINS, chainOut, chainStep, dbUrl, files, generate, LOGS, PER_LOG, STEP, T0, USERS } from './search-dataset.mjs';
import { arg, header, median, row } from './lib.mjs';

const QUERIES = arg('queries', 200);
const EXPORT = arg('export', 100_000);
header(`team server search: ${(LOGS * PER_LOG).toLocaleString('en-US')} runs in ${LOGS} logs; ${QUERIES} queries of each kind`);
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
