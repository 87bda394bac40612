#!/usr/bin/env node
// What `ffaudit ffmpeg …` adds to a short transcode (about 0.1 s of FFmpeg work), beside bare FFmpeg, the cost of
// merely starting node, and a floor: the least a Node program does to keep a durable signed record of the run
// (bench/capture-floor.cjs). Runs are interleaved so that load changes hit all of them alike; medians are reported.
//   node bench/capture-overhead.mjs [--runs N] [--baseline OTHER/bin/ffaudit.js] [--keep-extra-ca-certs]
// --baseline also times another build of ffaudit (e.g. a copy of an earlier commit's bin/ and dist/ beside a
// node_modules link), interleaved with the rest, so that a change is compared under the same load. It keeps its
// code cache in a directory of its own: builds sharing one would each delete the other's cache on every run.
// Children run without NODE_EXTRA_CA_CERTS unless --keep-extra-ca-certs is given (see captureBenchEnv in lib.mjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureBenchEnv } from './lib.mjs';

const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const runs = Number(flag('--runs')) || 15;
const baseline = flag('--baseline');
const BIN = fileURLToPath(new URL('../bin/ffaudit.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-'));
const ledger = join(dir, 'ledger');
spawnSync(process.execPath, [BIN, 'init', '--ledger', ledger], { stdio: 'ignore' });
const args = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=25', '-c:v', 'mpeg4', '-y', join(dir, 'out.mp4')];
const env = captureBenchEnv();
const FLOOR = fileURLToPath(new URL('./capture-floor.cjs', import.meta.url));

// CPU time (user+sys, the command and its children) is also taken, through GNU time when present: on a loaded
// machine it is far steadier than wall-clock time.
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%U %S', 'true']).status === 0;
const cpu = {};
function time(cmd, argv, kind, extraEnv) {
  const e = extraEnv ? { ...env, ...extraEnv } : env;
  const t = process.hrtime.bigint();
  const r = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env: e })
    : spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'], env: e });
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
  'floor': (k) => time(process.execPath, [FLOOR, dir, 'ffmpeg', ...args], k),
  'ffaudit ffmpeg': (k) => time(process.execPath, [BIN, '--ledger', ledger, 'ffmpeg', ...args], k),
};
// A ledger of its own, made by the baseline: an older build may not read the layout this one writes.
if (baseline) spawnSync(process.execPath, [baseline, 'init', '--ledger', `${ledger}-baseline`], { stdio: 'ignore' });
if (baseline) kinds['baseline ffaudit'] = (k) => time(process.execPath, [baseline, '--ledger', `${ledger}-baseline`, 'ffmpeg', ...args], k, { XDG_CACHE_HOME: join(dir, 'baseline-cache') });
for (const f of Object.values(kinds)) f(); // warm caches (and the ffmpeg identity cache)
const t = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (let i = 0; i < runs; i++) for (const [k, f] of Object.entries(kinds)) t[k].push(f(k));
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(17)} median ${v.toFixed(1)} ms  (min ${Math.min(...t[k]).toFixed(1)}, max ${Math.max(...t[k]).toFixed(1)}, n=${runs})`);
const added = m['ffaudit ffmpeg'] - m.ffmpeg;
console.log(`added by ffaudit          ${added.toFixed(1)} ms (ratio ffaudit/ffmpeg ${(m['ffaudit ffmpeg'] / m.ffmpeg).toFixed(2)})`);
console.log(`beyond node's own start   ${(added - m['node -e 0']).toFixed(1)} ms (target <= 25 ms)`);
console.log(`floor beyond node's start ${(m.floor - m.ffmpeg - m['node -e 0']).toFixed(1)} ms (bench/capture-floor.cjs: the least any Node program recording the run pays)`);
if (baseline) {
  const b = m['baseline ffaudit'] - m.ffmpeg - m['node -e 0'];
  console.log(`baseline beyond node's start ${b.toFixed(1)} ms; this build saves ${(m['baseline ffaudit'] - m['ffaudit ffmpeg']).toFixed(1)} ms`);
}
if (gnuTime) {
  const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
  console.log(`CPU time (user+sys) medians: ${Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`);
  const beyond = (k) => (c[k] - c.ffmpeg - c['node -e 0']).toFixed(0);
  console.log(`CPU beyond node's own start ${beyond('ffaudit ffmpeg')} ms (floor ${beyond('floor')} ms${baseline ? `, baseline ${beyond('baseline ffaudit')} ms` : ''}) (10 ms resolution)`);
}
rmSync(dir, { recursive: true, force: true });
