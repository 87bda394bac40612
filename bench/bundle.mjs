#!/usr/bin/env node
// Evidence bundles: size per run and offline verification time, for lineages of 1, 10 and 100 runs in a ledger
// of --runs background runs, side by side with the baseline a person without a bundle has: a copy of the whole
// ledger and a full `ffaudit verify` of it.
//
//   node bench/bundle.mjs [--runs 100000] [--dir bench/out/bundle-N]
//
// Needs `npm run build`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatBundle, verifyBundle } from '../dist/core/bundle.js';
import { bundleLineages } from '../dist/ledger/bundle.js';
import { Ledger } from '../dist/ledger/ledger.js';
import { traceContent } from '../dist/ledger/trace.js';
import { verifyStore } from '../dist/ledger/verify.js';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const RUNS = Number(args.runs ?? 100_000);
const DIR = args.dir ?? join('bench', 'out', `bundle-${RUNS}`);
const CHAINS = [1, 10, 100];
const BATCH_RUNS = 2500;

const sha = (s) => createHash('sha256').update(s).digest('hex');
const by = { user: 'editor', uid: 1000, host: 'suite-02' };
const T0 = Date.parse('2026-01-01T00:00:00Z');
let clock = 0;
const time = () => `${new Date(T0 + clock++).toISOString().slice(0, 19)}.${String(clock % 1e9).padStart(9, '0')}Z`;

function runEntries(id, startIndex, input, output, reportSha) {
  const inputs = [input];
  const outputs = [output];
  const argv = ['-i', input.path, '-vf', 'scale=1920:1080,fps=25', '-c:v', 'libx264', '-preset', 'slow', '-crf', '18', '-c:a', 'aac', '-b:a', '192k', '-y', output.path];
  const streams = [
    { direction: 'input', file: 0, stream: 0, type: 'Video', codec: 'prores', width: 3840, height: 2160, detail: 'prores (HQ), yuv422p10le, 3840x2160, 25 fps' },
    { direction: 'output', file: 0, stream: 0, type: 'Video', codec: 'h264', width: 1920, height: 1080, detail: 'h264, yuv420p, 1920x1080, 25 fps' },
    { direction: 'output', file: 0, stream: 1, type: 'Audio', codec: 'aac', detail: 'aac, 48000 Hz, stereo, 192 kb/s' },
  ];
  return [
    { v: 1, type: 'run.start', time: time(), by, run: id, tool: 'ffmpeg', cwd: '/media/project', argv, redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: '5.1.9', sha256: sha('ffmpeg') }, inputs },
    { v: 1, type: 'run.end', time: time(), by, run: id, start: startIndex, status: 'ok', exit_code: 0, signal: null, duration_ms: 81234, inputs, outputs, streams, report_sha256: reportSha, redactions: [] },
  ];
}

const file = (name, content) => ({ path: `/media/project/${name}`, size: 123_456_789, sha256: content });

function build() {
  mkdirSync(DIR, { recursive: true });
  const l = Ledger.init(join(DIR, 'ledger'), { origin: 'bench.example/ffaudit/bundle' });
  const t = performance.now();
  const half = Math.floor(RUNS / 2);
  const background = (from, to) => {
    for (let run = from; run < to; run += BATCH_RUNS) {
      const entries = [];
      const base = l.size();
      for (let r = run; r < Math.min(to, run + BATCH_RUNS); r++) {
        entries.push(...runEntries(`bg-${r}`, base + entries.length, file(`in-${r}.mov`, sha(`in ${r}`)), file(`out-${r}.mp4`, sha(`out ${r}`)), null));
      }
      l.append(entries);
    }
  };
  background(0, half);
  // The chains sit in the middle of the log: proofs have the depth of the whole tree.
  for (const n of CHAINS) {
    let content = sha(`chain ${n} source`);
    for (let i = 0; i < n; i++) {
      const next = sha(`chain ${n} step ${i}`);
      // A report log of a few KiB per run, as FFmpeg writes at -loglevel info.
      const report = Buffer.from(`ffmpeg started on 2026-01-01 at 00:00:00 (run chain-${n}-${i})\nReport written to "ffreport.log"\n${'frame=  250 fps= 25 q=28.0 size=    1024kB time=00:00:10.00 bitrate= 838.9kbits/s speed=1.00x\n'.repeat(40)}`);
      const reportSha = l.putBlob(report);
      l.append(runEntries(`chain-${n}-${i}`, l.size(), file(`c${n}-${i}.mov`, content), file(`c${n}-${i + 1}.mov`, next), reportSha));
      content = next;
    }
  }
  background(half, RUNS);
  process.stderr.write(`built ${RUNS} background runs (${l.size()} entries) in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  return l;
}

const l = existsSync(join(DIR, 'ledger', 'ledger.db')) ? Ledger.open({ dir: join(DIR, 'ledger'), explicit: true }) : build();
const dbBytes = statSync(join(DIR, 'ledger', 'ledger.db')).size;
const pubkey = l.verifier;
console.log(`evidence bundles in a ledger of ${l.size().toLocaleString('en')} entries (${(dbBytes / 2 ** 20).toFixed(0)} MiB database)`);
const results = new Map();
console.log('  runs | bundle bytes | bytes/run | +reports bytes/run | bundle ms | verify-bundle ms | verify ms/run');
for (const n of CHAINS) {
  const target = sha(`chain ${n} step ${n - 1}`);
  const lineage = traceContent(l, `/media/project/c${n}-${n}.mov`, target);
  if (lineage.runs.length !== n) throw new Error(`chain ${n}: traced ${lineage.runs.length} runs`);
  let t = performance.now();
  const text = formatBundle(bundleLineages(l, [lineage]));
  const bundleMs = performance.now() - t;
  const withReports = formatBundle(bundleLineages(l, [lineage], { withReports: true }));
  const bytes = Buffer.from(text);
  verifyBundle(bytes, { pubkey, fileSha256: target }); // warm-up
  const reps = Math.max(3, Math.floor(200 / n));
  t = performance.now();
  for (let i = 0; i < reps; i++) {
    const v = verifyBundle(bytes, { pubkey, fileSha256: target });
    if (!v.ok) throw new Error(`chain ${n}: ${v.failures.join('; ')}`);
  }
  const verifyMs = (performance.now() - t) / reps;
  results.set(n, { bytes: bytes.length, verifyMs });
  console.log(
    `  ${String(n).padStart(4)} | ${String(bytes.length).padStart(12)} | ${String(Math.round(bytes.length / n)).padStart(9)} | ${String(Math.round(Buffer.byteLength(withReports) / n)).padStart(18)} | ${bundleMs.toFixed(1).padStart(9)} | ${verifyMs.toFixed(2).padStart(16)} | ${(verifyMs / n).toFixed(3).padStart(13)}`,
  );
}

// Baseline: without a bundle, the whole ledger must be handed over and verified.
const t = performance.now();
const report = verifyStore(l.store, l.origin, l.verifier);
const fullMs = performance.now() - t;
if (!report.ok) throw new Error('the benchmark ledger does not verify');
const big = results.get(100);
console.log(`  baseline: hand over the whole ledger (${(dbBytes / 2 ** 20).toFixed(0)} MiB) and verify all of it: ${(fullMs / 1000).toFixed(1)} s`);
console.log(`  ratio (100-run lineage): the bundle is ${(dbBytes / big.bytes).toFixed(0)}x smaller and verifies ${(fullMs / big.verifyMs).toFixed(0)}x faster than the whole ledger`);
l.close();
