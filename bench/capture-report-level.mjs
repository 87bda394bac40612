#!/usr/bin/env node
// What FFmpeg's own report (FFREPORT, which an audited run sets at level 48) costs FFmpeg on the short transcode of
// capture-overhead.mjs: bare FFmpeg without a report and with one at levels 32 (info), 40 (verbose), 48 (debug, the
// level ffaudit uses: it is the first to show "Opening '…' for reading|writing") and 56 (trace). Runs are
// interleaved; medians of wall-clock and CPU time (user+sys through GNU time, 10 ms resolution), and the mean CPU
// time, which resolves finer than one tick over many runs.
//   node bench/capture-report-level.mjs [--runs N]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;
const dir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-'));
const args = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=25', '-c:v', 'mpeg4', '-y', join(dir, 'out.mp4')];
const levels = ['none', '32', '40', '48', '56'];
const wall = {};
const cpu = {};
const size = {};
if (spawnSync('/usr/bin/time', ['-f', '%U %S', 'true']).status !== 0) throw new Error('GNU time (/usr/bin/time) is needed');
for (let i = 0; i <= runs; i++) {
  for (const level of levels) {
    const env = { ...process.env };
    delete env.FFREPORT;
    const log = join(dir, `report-${level}.log`);
    if (level !== 'none') env.FFREPORT = `file=${log}:level=${level}`;
    const t = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', 'ffmpeg', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    const m = /cpu ([0-9.]+) ([0-9.]+)\s*$/.exec(r.stderr.toString());
    if (r.status !== 0 || !m) throw new Error(`ffmpeg failed: ${r.stderr.toString()}`);
    if (i === 0) continue; // warm-up round
    (wall[level] ??= []).push(ms);
    (cpu[level] ??= []).push((Number(m[1]) + Number(m[2])) * 1000);
    if (level !== 'none') size[level] = statSync(log).size;
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
for (const level of levels) {
  console.log(
    `${level === 'none' ? 'no report' : `level ${level}`}`.padEnd(10),
    `wall median ${median(wall[level]).toFixed(1)} ms, CPU median ${median(cpu[level]).toFixed(0)} ms, CPU mean ${mean(cpu[level]).toFixed(1)} ms, report ${size[level] ?? 0} bytes (n=${runs})`,
  );
}
rmSync(dir, { recursive: true, force: true });
