// The extra cost of RFC 3161 timestamps on a run. A real TSA (OpenSSL's `openssl ts -reply` behind a loopback HTTP
// front: src/testing/tsa-server.ts) answers both sides, turn about, after a run's two entries are appended:
//   ours:     stampHead: the request for the head checkpoint, the complete verification of the answer (CMS signature,
//             ESSCertIDv2, EKU, chain to the CA, imprint, nonce) and the durable store of the token in the ledger;
//   baseline: the same request bytes POSTed to the same TSA and its reply read, nothing checked or kept (the floor:
//             the TSA's own work and the round trip).
// Also the re-check of one stored token (verify and every scheduled push do it per token) beside the bare ECDSA
// verification of the TSA's signature with node:crypto, the floor of any verifier.
// Usage: npm run build && node bench/timestamp.mjs [--runs 60]
import { createHash, createPublicKey, verify as verifySig, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../dist/ledger/ledger.js';
import { recordNote } from '../dist/ledger/notes.js';
import { timestampRequest } from '../dist/timestamp/request.js';
import { stampHead } from '../dist/timestamp/ledger-stamps.js';
import { verifyTimestampToken } from '../dist/timestamp/verify.js';
import { startTestTsa } from '../dist/testing/tsa-server.js';
import { parseSignedCheckpoint } from '../dist/core/checkpoint.js';
import { arg, header, median, row, tempDir } from './lib.mjs';

const RUNS = arg('runs', 60);
const dir = tempDir('ffaudit-bench-timestamp-');
header(`RFC 3161 timestamps: ${RUNS} runs, each checkpoint stamped, beside the bare TSA round trip`);

const tsa = await startTestTsa(dir);
const l = Ledger.init(join(dir, 'ledger'), { origin: 'timestamp.bench/ffaudit' });
const caCerts = tsa.ca();

async function bare() {
  const req = timestampRequest(parseSignedCheckpoint(l.checkpoint()).parsed.text);
  const t0 = process.hrtime.bigint();
  const res = await fetch(tsa.url(), { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: req.der });
  await res.arrayBuffer();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
async function ours() {
  const t0 = process.hrtime.bigint();
  const r = await stampHead(l, { url: tsa.url(), caCerts }, { force: true });
  if (!r.stamped) throw new Error('not stamped');
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const a = [];
const b = [];
for (let i = -3; i < RUNS; i++) {
  recordNote(l, { text: `run ${i} start`, files: [] });
  recordNote(l, { text: `run ${i} end`, files: [] });
  // Turn about: neither side always goes first.
  let x;
  let y;
  if (i % 2 === 0) {
    x = await ours();
    y = await bare();
  } else {
    y = await bare();
    x = await ours();
  }
  if (i >= 0) {
    a.push(x);
    b.push(y);
  }
}
row('stamp a run (request, verify, store)', median(a), median(b), 'ms', 'baseline: the same request to the same TSA, nothing checked');

// Re-checking stored tokens.
const stored = l.timestamps();
const one = stored[stored.length - 1];
const imprint = createHash('sha256').update(parseSignedCheckpoint(one.checkpoint).parsed.text).digest();
const signer = new X509Certificate(readFileSync(tsa.file('tsa.pem')));
const key = createPublicKey(signer.publicKey.export({ type: 'spki', format: 'pem' }));
const msg = Buffer.alloc(200, 1);
const ecSig = (await import('node:crypto')).sign('sha256', msg, readFileSync(tsa.file('tsa.key')));
const v = [];
const f = [];
for (let i = 0; i < 200; i++) {
  let t0 = process.hrtime.bigint();
  verifyTimestampToken(one.token, { imprint, caCerts });
  v.push(Number(process.hrtime.bigint() - t0) / 1e6);
  t0 = process.hrtime.bigint();
  if (!verifySig('sha256', msg, key, ecSig)) throw new Error('floor failed');
  f.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
row('re-check one stored token', median(v), median(f), 'ms', 'baseline: one ECDSA P-256 verify (node:crypto), the floor');
l.close();
await tsa.close();
