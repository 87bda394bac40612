#!/usr/bin/env node
// What `ffaudit ffmpeg …` adds to a short transcode (about 0.1 s of FFmpeg work), beside bare FFmpeg and the cost of
// merely starting node. Runs are interleaved so that load changes hit all three alike; medians are reported.
//   node bench/capture-overhead.mjs [--runs N] [--baseline OTHER/bin/ffaudit.js]
// --baseline also times another build of ffaudit (e.g. a copy of an earlier commit's bin/ and dist/ beside a
// node_modules link), interleaved with the rest, so that a change is compared under the same load.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const runs = Number(flag('--runs')) || 15;
const baseline = flag('--baseline');
const BIN = fileURLToPath(new URL('../bin/ffaudit.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-'));
const ledger = join(dir, 'ledger');
spawnSync(process.execPath, [BIN, 'init', '--ledger', ledger], { stdio: 'ignore' });
const args = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=25', '-c:v', 'mpeg4', '-y', join(dir, 'out.mp4')];
const env = { ...process.env };
for (const k of Object.keys(env)) if (k.startsWith('FFAUDIT_') || k === 'FFREPORT') delete env[k];

// CPU time (user+sys, the command and its children) is also taken, through GNU time when present: on a loaded
// machine it is far steadier than wall-clock time.
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%U %S', 'true']).status === 0;
const cpu = {};
function time(cmd, argv, kind) {
  const t = process.hrtime.bigint();
  const r = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env })
    : spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'], env });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr ?? ''}`);
  const m = gnuTime ? /cpu ([0-9.]+) ([0-9.]+)\s*$/.exec(r.stderr.toString()) : null;
  if (m && kind) (cpu[kind] ??= []).push((Number(m[1]) + Number(m[2])) * 1000);
  return ms;
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const kinds = {
  'node -e 0': (k) => time(process.execPath, ['-e', '0'], k),
  'ffmpeg': (k) => time('ffmpeg', args, k),
  'ffaudit ffmpeg': (k) => time(process.execPath, [BIN, '--ledger', ledger, 'ffmpeg', ...args], k),
};
if (baseline) kinds['baseline ffaudit'] = (k) => time(process.execPath, [baseline, '--ledger', ledger, 'ffmpeg', ...args], k);
for (const f of Object.values(kinds)) f(); // warm caches (and the ffmpeg identity cache)
const t = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (let i = 0; i < runs; i++) for (const [k, f] of Object.entries(kinds)) t[k].push(f(k));
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(17)} median ${v.toFixed(1)} ms  (min ${Math.min(...t[k]).toFixed(1)}, max ${Math.max(...t[k]).toFixed(1)}, n=${runs})`);
const added = m['ffaudit ffmpeg'] - m.ffmpeg;
console.log(`added by ffaudit          ${added.toFixed(1)} ms (ratio ffaudit/ffmpeg ${(m['ffaudit ffmpeg'] / m.ffmpeg).toFixed(2)})`);
console.log(`beyond node's own start   ${(added - m['node -e 0']).toFixed(1)} ms (target <= 25 ms)`);
if (baseline) {
  const b = m['baseline ffaudit'] - m.ffmpeg - m['node -e 0'];
  console.log(`baseline beyond node's start ${b.toFixed(1)} ms; this build saves ${(m['baseline ffaudit'] - m['ffaudit ffmpeg']).toFixed(1)} ms`);
}
if (gnuTime) {
  const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
  console.log(`CPU time (user+sys) medians: node -e 0 ${c['node -e 0'].toFixed(0)} ms, ffmpeg ${c.ffmpeg.toFixed(0)} ms, ffaudit ffmpeg ${c['ffaudit ffmpeg'].toFixed(0)} ms${baseline ? `, baseline ffaudit ${c['baseline ffaudit'].toFixed(0)} ms` : ''}`);
  console.log(`CPU beyond node's own start ${(c['ffaudit ffmpeg'] - c.ffmpeg - c['node -e 0']).toFixed(0)} ms${baseline ? ` (baseline ${(c['baseline ffaudit'] - c.ffmpeg - c['node -e 0']).toFixed(0)} ms)` : ''} (10 ms resolution)`);
}
rmSync(dir, { recursive: true, force: true });
