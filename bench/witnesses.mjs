// The extra cost of witness quorums on a push: a run's two entries pushed to the team server alone (baseline), beside
// the same push to the team server and three witnesses listed in the ledger's config (ours: the push asks them at
// once, checks each cosignature with that witness's key and stores it). Every server is a real `ffaudit serve`
// process (bin/ffaudit.js) on its own PostgreSQL database; the two ledgers push in-process (push/client.ts), turn
// about, each push after two entries appended (a run's start and end), so both see the same machine at the same time.
// A third ledger pushes to the three witnesses only (no team server). Reported: median and p90, and the ratios.
// PostgreSQL: $FFAUDIT_TEST_PG_URL when set, else a throwaway cluster (scripts/pg-test-server.sh).
// Usage: npm run build && node bench/witnesses.mjs [--runs 150]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Ledger } from '../dist/ledger/ledger.js';
import { recordNote } from '../dist/ledger/notes.js';
import { pushLedger } from '../dist/push/client.js';
import { arg, header, median, row, startBenchPostgres, startServe, tempDir } from './lib.mjs';

const RUNS = arg('runs', 150);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'ffaudit.js');
const dir = tempDir('ffaudit-bench-witnesses-');

header(`witness quorums: ${RUNS} pushes of one run each, team server alone vs team server and three witnesses`);

const adminUrl = process.env.FFAUDIT_TEST_PG_URL || (await startBenchPostgres()).url;

async function newDb(name) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

function ffaudit(args, input) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input: input ?? '', encoding: 'utf8', env: { ...process.env, FFAUDIT_LEDGER: '' } });
  if (r.status !== 0) throw new Error(`ffaudit ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function startWitness(name) {
  const db = await newDb(`bench_${name}_${process.pid}`);
  const keys = join(dir, `${name}-keys`);
  ffaudit(['serve', 'init', '--name', `${name}.bench`, '--keys', keys]);
  const { url, stop } = await startServe(db, keys);
  const vkey = /^witness (\S+)$/m.exec(ffaudit(['serve', 'key', '--keys', keys]))[1];
  return { name, db, url, vkey, stop };
}

const team = await startWitness('team');
const witnesses = [await startWitness('w1'), await startWitness('w2'), await startWitness('w3')];

function ledger(name, listed, join_ = true) {
  const d = join(dir, name);
  ffaudit(['--ledger', d, 'init', '--origin', `${name}.bench/ffaudit`]);
  if (join_) ffaudit(['--ledger', d, 'join', team.url], ffaudit(['serve', 'hosts', 'add', name, '--db', team.db]));
  const vkey = ffaudit(['--ledger', d, 'pubkey']).trim();
  for (const w of listed) {
    ffaudit(['serve', 'hosts', 'add', name, '--db', w.db, '--log-vkey', vkey]);
    ffaudit(['--ledger', d, 'witness', 'add', w.name, w.url, w.vkey]);
  }
  if (listed.length > 0) ffaudit(['--ledger', d, 'witness', 'quorum', '2']);
  return Ledger.open({ dir: d, explicit: true });
}

const alone = ledger('alone', []);
const quorum = ledger('quorum', witnesses);
const only = ledger('only', witnesses, false);

/** A run's two entries appended, then one push timed; fails loudly if the push did not get what it should. */
async function pushOneRun(l, i) {
  recordNote(l, { text: `run ${i} start`, files: [] });
  recordNote(l, { text: `run ${i} end`, files: [] });
  const t0 = process.hrtime.bigint();
  const r = await pushLedger(l, { retries: 0 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if ((r.server !== null && r.cosigned.witness !== l.size()) || r.witnesses.some((w) => w.status !== 'cosigned') || (r.quorum && !r.quorum.met)) throw new Error(`push ${i} incomplete: ${JSON.stringify(r)}`);
  return ms;
}

const base = [];
const ours = [];
const bare = [];
for (let i = 0; i < 5; i++) {
  await pushOneRun(alone, -i);
  await pushOneRun(quorum, -i);
  await pushOneRun(only, -i);
}
for (let i = 0; i < RUNS; i++) {
  // Turn about: none always goes first.
  const order = [
    [alone, base],
    [quorum, ours],
    [only, bare],
  ];
  for (let k = 0; k < 3; k++) {
    const [l, into] = order[(i + k) % 3];
    into.push(await pushOneRun(l, i));
  }
}
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];
row('push of one run: median', median(ours), median(base), 'ms', `+${(median(ours) - median(base)).toFixed(1)} ms for three witnesses`);
row('push of one run: p90', p90(ours), p90(base), 'ms');
row('three witnesses, no team server: median', median(bare), median(base), 'ms', 'witnesses only, beside the team server alone');
alone.close();
quorum.close();
only.close();
for (const s of [team, ...witnesses]) await s.stop();
