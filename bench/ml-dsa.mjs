// ML-DSA-44 witness cosignatures (c2sp.org/tlog-cosignature type 0x06), each beside its baseline in the same run:
//   1. add-checkpoint requests/s of `ffaudit serve` with the witness's Ed25519 key alone (a server initialised
//      before ML-DSA-44) and with both keys (as `serve init` makes them now): rounds alternate between the two
//      configurations, each on a fresh database with the same logs and requests, H logs advancing concurrently.
//      Printed as the ratio both / Ed25519 alone.
//   2. one cosignature made and one verified, in ms: ML-DSA-44 (pq/ml-dsa44.ts, @noble/post-quantum) beside
//      Ed25519 (node:crypto), over the same checkpoint.
// The server runs as its own process (bin/ffaudit.js serve) on a throwaway PostgreSQL cluster (scripts/pg-test-server.sh).
// Usage: npm run build && node bench/ml-dsa.mjs [--hosts 16] [--requests 600] [--rounds 6] [--signs 200]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Frontier, hashLeaf, consistencyProof, rootAt } from '../dist/core/merkle.js';
import { makeEd25519Signer, formatVerifierKey, parseNote } from '../dist/core/note.js';
import { signCheckpoint, formatCheckpointText } from '../dist/core/checkpoint.js';
import { makeCosigner, makeCosignatureVerifier, makeMlDsaCosigner, makeMlDsaCosignatureVerifier } from '../dist/core/cosignature.js';
import { formatAddCheckpoint } from '../dist/core/witness-protocol.js';
import { mlDsa44 } from '../dist/pq/ml-dsa44.js';
import { arg, closePosts, enrolLogs, header, median, post, row, startBenchPostgres, startServe } from './lib.mjs';

const HOSTS = arg('hosts', 16);
const REQUESTS = arg('requests', 600);
const ROUNDS = arg('rounds', 6);
const SIGNS = arg('signs', 200);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'ffaudit.js');

header(`ML-DSA-44 witness: add-checkpoint ${REQUESTS} requests over ${HOSTS} logs, ${ROUNDS} alternating rounds; ${SIGNS} signatures`);

// 2 first (no server needed): the primitive's cost per cosignature, made and verified.
{
  const text = formatCheckpointText({ origin: 'bench.example/host-0', size: 123456, root: randomBytes(32), extensions: [] });
  const ed = makeCosigner('bench.example/witness', randomBytes(32));
  const pq = makeMlDsaCosigner('bench.example/witness', randomBytes(32), mlDsa44);
  const edV = makeCosignatureVerifier(ed.name, ed.publicKey);
  const pqV = makeMlDsaCosignatureVerifier(pq.name, pq.publicKey, mlDsa44);
  const sigOf = (line) => parseNote(`${text}\n${line}`).signatures[0].signature;
  for (let i = 0; i < 20; i++) pqV.verify(text, sigOf(pq.cosign(text, 1_700_000_000 + i))); // JIT warm-up
  const timeEach = (fn) => {
    const ms = [];
    for (let i = 0; i < SIGNS; i++) {
      const t = performance.now();
      fn(i);
      ms.push(performance.now() - t);
    }
    return median(ms);
  };
  const edLines = Array.from({ length: SIGNS }, (_, i) => sigOf(ed.cosign(text, 1_700_000_000 + i)));
  const pqLines = Array.from({ length: SIGNS }, (_, i) => sigOf(pq.cosign(text, 1_700_000_000 + i)));
  const t0 = performance.now();
  makeMlDsaCosigner('bench.example/witness', randomBytes(32), mlDsa44);
  const keygen = performance.now() - t0;
  row('cosign (median ms) ML-DSA-44 vs Ed25519', timeEach((i) => pq.cosign(text, 1_700_000_000 + i)), timeEach((i) => ed.cosign(text, 1_700_000_000 + i)), 'ms');
  row('verify (median ms) ML-DSA-44 vs Ed25519', timeEach((i) => pqV.verify(text, pqLines[i])), timeEach((i) => edV.verify(text, edLines[i])), 'ms', `ML-DSA-44 key from its seed ${keygen.toFixed(1)} ms`);
}

// --- a throwaway PostgreSQL --------------------------------------------------------------------------------------
const { url: adminUrl, dir: pgdir } = await startBenchPostgres();
async function newDb(name) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

// --- the logs: the same for every round --------------------------------------------------------------------------
function makeLog(origin, n) {
  const signer = makeEd25519Signer(origin, randomBytes(32));
  const nodes = new Map();
  const f = new Frontier();
  for (let i = 0; i < n; i++) {
    const leaf = hashLeaf(Buffer.from(`entry ${origin} ${i} ${'x'.repeat(400)}`));
    nodes.set(`0:${i}`, leaf);
    f.push(leaf, (level, index, hash) => nodes.set(`${level}:${index}`, hash));
  }
  const src = { perfect: (level, index) => nodes.get(`${level}:${index}`) };
  return { origin, vkey: formatVerifierKey(origin, signer.publicKey), src, checkpoint: (size) => signCheckpoint({ origin, size, root: rootAt(src, size), extensions: [] }, signer) };
}
const perHost = Math.ceil(REQUESTS / HOSTS);
const logs = Array.from({ length: HOSTS }, (_, h) => makeLog(`bench.example/host-${h}`, perHost + 1));
const bodies = logs.map((l) => Array.from({ length: perHost }, (_, k) => formatAddCheckpoint({ oldSize: k, proof: k === 0 ? [] : consistencyProof(l.src, k, k + 1), checkpoint: l.checkpoint(k + 1) })));

// --- two key directories: both keys, and the same Ed25519 keys alone ----------------------------------------------
const keysBoth = join(pgdir, '..', `ffaudit-bench-keys-both-${process.pid}`);
const keysEd = join(pgdir, '..', `ffaudit-bench-keys-ed-${process.pid}`);
spawnSync(process.execPath, [BIN, 'serve', 'init', '--name', 'bench.example', '--keys', keysBoth], { stdio: 'ignore' });
spawnSync('cp', ['-a', keysBoth, keysEd]);
rmSync(join(keysEd, 'witness-ml-dsa44.key'));
process.on('exit', () => {
  rmSync(keysBoth, { recursive: true, force: true });
  rmSync(keysEd, { recursive: true, force: true });
});

/** One round: a fresh database, the server on `keysDir`, every log's requests in order, all logs at once. */
async function round(keysDir, n) {
  const dbUrl = await newDb(`bench_pq_${n}`);
  await enrolLogs(dbUrl, logs);
  const server = await startServe(dbUrl, keysDir);
  let bad = 0;
  let lines = 0;
  const t0 = performance.now();
  await Promise.all(
    bodies.map(async (list) => {
      for (const b of list) {
        const r = await post(`${server.url}/add-checkpoint`, b);
        if (r.status !== 200) bad++;
        else lines = r.body.split('\n').length - 1;
      }
    }),
  );
  const rps = (HOSTS * perHost) / ((performance.now() - t0) / 1000);
  await server.stop();
  if (bad > 0) throw new Error(`${bad} requests not answered 200`);
  return { rps, lines };
}

// 1. add-checkpoint, interleaved --------------------------------------------------------------------------------------
{
  await round(keysEd, 'warm'); // the first server start pays for the disk cache; not counted
  const ed = [];
  const both = [];
  for (let i = 0; i < ROUNDS; i++) {
    const useBoth = i % 2 === 1;
    const r = await round(useBoth ? keysBoth : keysEd, i);
    if (r.lines !== (useBoth ? 2 : 1)) throw new Error(`round ${i}: ${r.lines} cosignature lines`);
    (useBoth ? both : ed).push(r.rps);
  }
  console.log(`add-checkpoint rounds (req/s): Ed25519 alone ${ed.map((x) => x.toFixed(0)).join(', ')}; both ${both.map((x) => x.toFixed(0)).join(', ')}`);
  row('add-checkpoint req/s, both keys vs Ed25519 alone', median(both), median(ed), 'req/s', 'medians of the rounds');
}
closePosts();
