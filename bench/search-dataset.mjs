// The data set of the team server's benchmarks (search.mjs, web.mjs): 1M runs (2M entries) in 100 mirrored logs,
// generated once through the server's own ingest code (mirror_entries and the index rows in the same transactions,
// as add-entries writes them) into a PostgreSQL cluster kept in bench/.cache/search-pg, and reused by later runs.
// Run k of log L has user user((L*7 + k*13) % 40), one input and (95% of runs) one output; 1000 chains of ten runs
// cross ten logs each (chainStep), for the lineage questions.
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
import { formatTimeNs } from '../dist/time/time.js';
import { arg } from './lib.mjs';

export const LOGS = arg('logs', 100);
export const PER_LOG = arg('runs-per-log', 10_000);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(ROOT, 'bench', '.cache', 'search-pg');
const SCRIPT = join(ROOT, 'scripts', 'pg-test-server.sh');
const DATASET = `search_v1_${LOGS}x${PER_LOG}`;
export const T0 = 1_767_225_600n * 1_000_000_000n; // 2026-01-01T00:00:00Z
export const STEP = 31_536_000n * 1_000_000_000n / BigInt(LOGS * PER_LOG); // the runs spread over a year
export const USERS = 40;
export const CHAINS = 1000;


// --- the cached cluster --------------------------------------------------------------------------------------------
mkdirSync(join(ROOT, 'bench', '.cache'), { recursive: true });
export let adminUrl;
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
export const dbUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${DATASET}`;
  return u.toString();
})();

// --- the data set ---------------------------------------------------------------------------------------------------
export const sha = (s) => createHash('sha256').update(s).digest('hex');
const user = (L, k) => `user${String((L * 7 + k * 13) % USERS).padStart(2, '0')}`;
const timeOf = (L, k) => T0 + (BigInt(k) * BigInt(LOGS) + BigInt(L)) * STEP;
export const origin = (L) => `host${String(L).padStart(3, '0')}.bench/ffaudit`;
/** Run k of log L is step s of chain c when k = 1000 s + c and the chain's step s lives in log L. */
export function chainStep(L, k) {
  const s = Math.floor(k / 1000);
  const c = k % 1000;
  return c < CHAINS && s < 10 && (c + 7 * s) % LOGS === L ? { c, s } : null;
}
const chainLog = (c, s) => (c + 7 * s) % LOGS;
export const chainOut = (c, s) => sha(`chain-${c}-${s}`);
export function files(L, k) {
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

/** Makes the data set unless the cache holds it; prints how long it took when made. */
export async function generate() {
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

