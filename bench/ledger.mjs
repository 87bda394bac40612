// Ledger benchmarks (issue "1 of 4"), each beside its baseline in the same run:
//   durable single appends vs better-sqlite3 inserting the same bytes with the same durability;
//   batched appends; verify of an N-entry ledger vs merely SHA-256-hashing the same bytes with node:crypto;
//   building the tree over N leaf hashes vs merkletreejs; proof generation at N; bytes on disk per entry.
// Usage: npm run build && node bench/ledger.mjs [--n 1000000] [--single 3000]
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { Ledger } from '../dist/ledger/ledger.js';
import { Frontier, hashLeaf } from '../dist/core/merkle.js';
import { canonicalBytes } from '../dist/core/canonical-json.js';
import { arg, header, median, row, tempDir, time } from './lib.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const N = arg('n', 1_000_000);
const SINGLE = arg('single', 3000);
const BATCH = 10_000;

function entry(i) {
  // A realistic run.start-sized entry (~600 bytes).
  return {
    v: 1,
    type: 'custody.note',
    time: `2026-11-28T06:00:00.${String(i % 1e9).padStart(9, '0')}Z`,
    by: { user: 'editor', uid: 1000, host: 'suite-3.example.net' },
    text: `ingest step ${i}: received camera card A${i % 97} from courier, checked seals, copied to NAS share /projects/evening-news`,
    files: [
      { path: `/mnt/nas/projects/evening-news/rushes/card-A${i % 97}/clip_${String(i).padStart(7, '0')}.mxf`, size: 1_000_000 + i, sha256: createHash('sha256').update(String(i)).digest('hex') },
      { path: `/mnt/nas/projects/evening-news/rushes/card-A${i % 97}/clip_${String(i).padStart(7, '0')}.xml`, size: 4000 + (i % 1000), sha256: createHash('sha256').update(`x${i}`).digest('hex') },
    ],
  };
}

/** The baseline: a plain better-sqlite3 table with the ledger's durability (WAL, synchronous=FULL). */
function rawDatabase(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)');
  return { db, ins: db.prepare('INSERT INTO t (idx, data) VALUES (?, ?)') };
}

header(`ledger benchmarks, N=${N.toLocaleString('en-US')}`);

// 1. Durable single appends, each its own committed transaction covered by a signed checkpoint.
{
  const dir = tempDir('ffaudit-bench-');
  const l = Ledger.init(join(dir, 'l'), { origin: 'bench.example/ledger' });
  const entries = Array.from({ length: SINGLE }, (_, i) => entry(i));
  const ours = time(() => {
    for (const e of entries) l.append([e]);
  });
  l.close();
  const { db, ins } = rawDatabase(join(dir, 'raw.db'));
  const bytes = entries.map((e) => canonicalBytes(e));
  const base = time(() => {
    bytes.forEach((b, i) => db.transaction(() => ins.run(i, b)).immediate());
  });
  db.close();
  row('durable single appends (per second)', SINGLE / (ours.ms / 1000), SINGLE / (base.ms / 1000), '/s', 'baseline: better-sqlite3 INSERT, WAL + synchronous=FULL, one tx each');
}

// 2. Batched appends, and the ledger used by 3, 5, 6. The entries are made before the clock starts, on both sides:
// the figure is what appending costs (canonical form, hashing, tree, signing, storing), not making test data.
const dir = tempDir('ffaudit-bench-');
const ledgerDir = join(dir, 'big');
{
  const l = Ledger.init(ledgerDir, { origin: 'bench.example/big' });
  let total = 0;
  let ms = 0;
  for (let a = 0; a < N; a += BATCH) {
    const batch = [];
    for (let i = a; i < Math.min(a + BATCH, N); i++) batch.push(entry(i));
    ms += time(() => {
      total += l.append(batch).indices.length;
    }).ms;
  }
  // The derived search indexes are filled by their first reader, not by appends: what that first search costs.
  const index = time(() => l.searchIndex());
  l.close();
  const { db, ins } = rawDatabase(join(dir, 'raw-batch.db'));
  const M = Math.min(N, 200_000);
  let baseMs = 0;
  for (let a = 0; a < M; a += BATCH) {
    const bytes = [];
    for (let i = a; i < Math.min(a + BATCH, M); i++) bytes.push(canonicalBytes(entry(i)));
    baseMs += time(() => {
      db.transaction(() => {
        bytes.forEach((b, k) => ins.run(a + k, b));
      }).immediate();
    }).ms;
  }
  db.close();
  row(`batched appends, ${BATCH}/batch (entries/s)`, total / (ms / 1000), M / (baseMs / 1000), '/s', 'baseline: better-sqlite3 INSERT of the canonical bytes in the same batches');
  console.log(`search indexes filled from ${total.toLocaleString('en-US')} entries by the first search afterwards: ${(index.ms / 1000).toFixed(1)} s (${((index.ms * 1000) / total).toFixed(1)} µs per entry)`);
}

// 3. verify, in a child process so its peak memory is its own; three times, the median reported. The disk first
// finishes writing what the appends and the index fill left in the page cache (`sync`), so that verify is not
// charged for that writeback.
{
  spawnSync('sync');
  const runs = [1, 2, 3].map(() => spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { Ledger } from '${new URL('../dist/ledger/ledger.js', import.meta.url).href}';
    import { verifyStore } from '${new URL('../dist/ledger/verify.js', import.meta.url).href}';
    const l = Ledger.open({ dir: ${JSON.stringify(ledgerDir)}, explicit: true });
    const t0 = process.hrtime.bigint();
    const r = await verifyStore(l.store, l.origin, l.verifier);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({ ms, ok: r.ok, size: r.size, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  `], { encoding: 'utf8' })).map((child) => JSON.parse(child.stdout.trim().split('\n').pop()));
  const v = runs.sort((a, b) => a.ms - b.ms)[1];
  // Baseline: merely SHA-256-hashing the same bytes (read into memory first; the hashing alone is timed).
  const db = new Database(join(ledgerDir, 'ledger.db'), { readonly: true });
  const datas = db.prepare('SELECT data FROM entries ORDER BY idx').raw().all().map((r) => r[0]);
  db.close();
  const base = time(() => {
    for (const d of datas) createHash('sha256').update(d).digest();
  });
  row(`verify ${v.size.toLocaleString('en-US')} entries (ms)`, v.ms, base.ms, 'ms', `ok=${v.ok} · median of 3 (${runs.map((r) => Math.round(r.ms)).join(', ')} ms) · peak RSS ${Math.round(Math.max(...runs.map((r) => r.maxRssMb)))} MB · baseline: SHA-256 of the same bytes`);
}

// 4. Building the tree over N leaf hashes: ours (RFC 6962, every perfect node computed) vs merkletreejs.
{
  const leaves = Array.from({ length: N }, (_, i) => hashLeaf(Buffer.from(String(i))));
  const ours = time(() => {
    const f = new Frontier();
    for (const h of leaves) f.push(h, () => {});
    return f.root();
  });
  let baseMs = NaN;
  try {
    const { MerkleTree } = require('merkletreejs');
    const sha256 = (d) => createHash('sha256').update(d).digest();
    baseMs = time(() => new MerkleTree(leaves, sha256).getRoot()).ms;
  } catch (e) {
    console.log(`merkletreejs failed: ${e.message}`);
  }
  row(`tree over ${N.toLocaleString('en-US')} leaf hashes (ms)`, ours.ms, baseMs, 'ms', 'baseline: merkletreejs new MerkleTree(leaves, sha256)');
}

// 5. Proof generation at N, and 6. bytes on disk per entry.
{
  const l = Ledger.open({ dir: ledgerDir, explicit: true });
  const size = l.size();
  const samples = [];
  for (let k = 0; k < 2000; k++) {
    const n = Math.floor(Math.random() * size);
    samples.push(time(() => l.proof(n)).ms);
  }
  const cons = [];
  for (let k = 0; k < 500; k++) {
    const a = Math.floor(Math.random() * size);
    cons.push(time(() => l.consistency(a, size)).ms);
  }
  l.close();
  console.log(`proof generation at ${size.toLocaleString('en-US')} entries: median ${median(samples).toFixed(3)} ms, p99 ${samples.sort((a, b) => a - b)[Math.floor(samples.length * 0.99)].toFixed(3)} ms (tlog-proof text incl. checkpoint); consistency proof median ${median(cons).toFixed(3)} ms`);
  const db = new Database(join(ledgerDir, 'ledger.db'), { readonly: true });
  const avg = db.prepare('SELECT avg(length(data)) AS a FROM entries').get().a;
  db.close();
  const bytes = statSync(join(ledgerDir, 'ledger.db')).size;
  console.log(`bytes on disk per entry: ${(bytes / size).toFixed(0)} (entry bytes alone: ${avg.toFixed(0)}; database ${(bytes / 1e6).toFixed(0)} MB)`);
}
