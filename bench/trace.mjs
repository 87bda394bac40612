#!/usr/bin/env node
// Trace latency by content at scale: ffaudit's indexed lookup (content hash → entry indices → runs, each checked
// against its entry) side by side with the baseline a log without indexes needs: a scan of every entry.
//
//   node bench/trace.mjs [--runs 1000000] [--chain 5] [--samples 20] [--dir bench/out/trace-N]
//
// The ledger is built once with batched ledger.append([...many]) of synthetic runs grouped in chains (each run
// reads the previous run's output) and kept in --dir for later runs of the benchmark. Needs `npm run build`.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Ledger } from '../dist/ledger/ledger.js';
import { traceContent } from '../dist/ledger/trace.js';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const RUNS = Number(args.runs ?? 1_000_000);
const CHAIN = Number(args.chain ?? 5);
const SAMPLES = Number(args.samples ?? 20);
const DIR = args.dir ?? join('bench', 'out', `trace-${RUNS}`);
const BATCH_RUNS = 2500;

const sha = (s) => createHash('sha256').update(s).digest('hex');
const contentOf = (run) => sha(`content of run ${run}`);
const by = { user: 'bench', uid: 1000, host: 'render-01' };
const T0 = Date.parse('2026-01-01T00:00:00Z');
const time = (i) => `${new Date(T0 + i).toISOString().slice(0, 19)}.${String(i % 1e9).padStart(9, '0')}Z`;

function runEntries(run, startIndex) {
  const first = run % CHAIN === 0;
  const inputs = [{ path: first ? `/media/in/source-${run}.mov` : `/media/work/step-${run - 1}.mov`, size: 1_000_000, sha256: first ? sha(`source ${run}`) : contentOf(run - 1) }];
  const outputs = [{ path: `/media/work/step-${run}.mov`, size: 900_000, sha256: contentOf(run) }];
  const argv = ['-i', inputs[0].path, '-c:v', 'libx264', '-crf', '18', '-c:a', 'aac', '-y', outputs[0].path];
  const id = `run-${run}`;
  return [
    { v: 1, type: 'run.start', time: time(2 * run), by, run: id, tool: 'ffmpeg', cwd: '/media', argv, redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: '5.1.9', sha256: null }, inputs },
    { v: 1, type: 'run.end', time: time(2 * run + 1), by, run: id, start: startIndex, status: 'ok', exit_code: 0, signal: null, duration_ms: 1234, inputs, outputs, streams: [], report_sha256: null, redactions: [] },
  ];
}

function build() {
  mkdirSync(DIR, { recursive: true });
  const l = Ledger.init(join(DIR, 'ledger'), { origin: 'bench.example/ffaudit/trace' });
  const t = performance.now();
  for (let run = 0; run < RUNS; run += BATCH_RUNS) {
    const entries = [];
    const base = l.size();
    for (let r = run; r < Math.min(RUNS, run + BATCH_RUNS); r++) entries.push(...runEntries(r, base + 2 * (r - run)));
    l.append(entries);
    if (run % 100_000 === 0) process.stderr.write(`\rbuilding: ${run} runs (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  }
  process.stderr.write(`\rbuilt ${RUNS} runs (${l.size()} entries) in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  return l;
}

const l = existsSync(join(DIR, 'ledger', 'ledger.db')) ? Ledger.open({ dir: join(DIR, 'ledger'), explicit: true }) : build();
if (l.size() !== 2 * RUNS) throw new Error(`${DIR} holds ${l.size()} entries, not ${2 * RUNS}: remove it or pass --dir`);
const dbBytes = statSync(join(DIR, 'ledger', 'ledger.db')).size;

// Targets: the last output of chains spread over the whole log.
const targets = Array.from({ length: SAMPLES }, (_, i) => Math.floor(((i + 0.5) / SAMPLES) * (RUNS / CHAIN)) * CHAIN + CHAIN - 1);
// The search indexes are filled by the first search after appends (not by appends): time that once, apart.
const fill = performance.now();
l.searchIndex();
console.log(`search indexes brought up to ${l.size().toLocaleString('en-US')} entries: ${((performance.now() - fill) / 1000).toFixed(1)} s`);
traceContent(l, 'warm-up', contentOf(targets[0])); // the first query pays for opening pages
const times = [];
for (const run of targets) {
  const t = performance.now();
  const lineage = traceContent(l, `/media/work/step-${run}.mov`, contentOf(run));
  times.push(performance.now() - t);
  if (lineage.runs.length !== CHAIN) throw new Error(`trace of run ${run} found ${lineage.runs.length} runs, not ${CHAIN}`);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const p95 = times[Math.min(times.length - 1, Math.floor(times.length * 0.95))];

// Baseline: without indexes, finding even the one run that produced the file means reading every entry.
const target = contentOf(targets[Math.floor(targets.length / 2)]);
const tScan = performance.now();
let found = -1;
const CHUNK = 50_000;
for (let from = 0; from < l.size() && found < 0; from += CHUNK) {
  for (const e of l.store.entries(from, from + CHUNK)) {
    const entry = JSON.parse(e.data.toString('utf8'));
    if (entry.type === 'run.end' && entry.outputs.some((o) => o.sha256 === target)) found = e.index;
  }
}
const scanMs = performance.now() - tScan;

console.log(`trace by content, ${RUNS.toLocaleString('en')} runs (${l.size().toLocaleString('en')} entries, ${(dbBytes / 2 ** 30).toFixed(2)} GiB), chains of ${CHAIN} runs, ${SAMPLES} samples`);
console.log(`  ffaudit trace (indexed, whole ${CHAIN}-run lineage, entries checked): median ${median.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms`);
console.log(`  baseline scan (one step only, up to the producer at entry ${found}): ${scanMs.toFixed(0)} ms`);
console.log(`  ratio: the scan takes ${(scanMs / median).toFixed(0)}x the indexed trace of the whole lineage`);
l.close();
