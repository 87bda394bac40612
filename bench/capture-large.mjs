#!/usr/bin/env node
// A transcode and a `-c copy` remux of a large input (default 1 GiB of raw video in NUT), bare FFmpeg beside
// `ffaudit ffmpeg`, interleaved, median of N. Targets: transcode total within 5% of bare FFmpeg (the input is
// hashed while FFmpeg runs); remux: added time no more than hashing the input at OpenSSL speed (measured here).
// Every run writes a new output file, with the disk idle (`sync`, untimed) before it. `--overwrite` instead lets
// each run overwrite the previous run's output (`-y`), which on ext4 (auto_da_alloc) writes FFmpeg's output to disk
// when it closes it, so any durable commit right after it waits for that write (about 1 s per GiB here).
//   node bench/capture-large.mjs [--size-mb N] [--runs N] [--overwrite] [--keep-extra-ca-certs]
// Children run without NODE_EXTRA_CA_CERTS unless --keep-extra-ca-certs is given (see captureBenchEnv in lib.mjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureBenchEnv } from './lib.mjs';

const arg = (n, d) => Number(process.argv[process.argv.indexOf(n) + 1]) || d;
const sizeMb = arg('--size-mb', 1024);
const runs = arg('--runs', 3);
const BIN = fileURLToPath(new URL('../bin/ffaudit.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-'));
const ledger = join(dir, 'ledger');
const env = captureBenchEnv();
spawnSync(process.execPath, [BIN, 'init', '--ledger', ledger], { stdio: 'ignore' });

// 320x240 yuv420p = 115,200 bytes a frame.
const frames = Math.ceil((sizeMb * 1048576) / 115200);
const input = join(dir, 'input.nut');
const g = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=25`, '-frames:v', String(frames), '-pix_fmt', 'yuv420p', '-c:v', 'rawvideo', '-y', input], { stdio: 'inherit' });
if (g.status !== 0) throw new Error('could not make the input');
const bytes = statSync(input).size;

const overwrite = process.argv.includes('--overwrite');
function time(cmd, argv, out) {
  if (out && !overwrite) {
    rmSync(out, { force: true });
    spawnSync('sync');
  }
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const jobs = {
  transcode: ['-v', 'error', '-i', input, '-c:v', 'mpeg4', '-q:v', '5', '-y', join(dir, 'out.mp4')],
  remux: ['-v', 'error', '-i', input, '-c', 'copy', '-y', join(dir, 'copy.nut')],
};
const outputOf = (args) => args[args.length - 1];
const ossl = () => time('openssl', ['dgst', '-sha256', input]) - time('openssl', ['dgst', '-sha256', '/dev/null']);
time('cat', [input]); // page cache
console.log(`input ${(bytes / 1048576).toFixed(0)} MiB, ${frames} frames, median of ${runs}, ${overwrite ? 'each run overwriting the last output' : 'a new output file each run'}`);
const hashMs = median(Array.from({ length: runs }, ossl));
console.log(`openssl dgst -sha256 of the input: ${hashMs.toFixed(0)} ms`);
for (const [name, args] of Object.entries(jobs)) {
  const bare = [];
  const aud = [];
  for (let i = 0; i < runs; i++) {
    // The order alternates: on this VM the second of two back-to-back 1 GiB writes is often the slower one
    // (FFmpeg's own kernel time doubles, whichever of the two it runs under), so a fixed order charges it to one side.
    const runBare = () => bare.push(time('ffmpeg', args, outputOf(args)));
    const runAudited = () => aud.push(time(process.execPath, [BIN, '--ledger', ledger, 'ffmpeg', ...args], outputOf(args)));
    if (i % 2 === 0) {
      runBare();
      runAudited();
    } else {
      runAudited();
      runBare();
    }
  }
  const b = median(bare);
  const a = median(aud);
  // Each audited run is paired with the bare run beside it: the median of those pairs' differences is steadier than
  // the difference of the medians when the disk's state swings run times by a second either way.
  const paired = median(aud.map((x, i) => x - bare[i]));
  console.log(
    `${name.padEnd(9)} ffmpeg ${b.toFixed(0)} ms, ffaudit ffmpeg ${a.toFixed(0)} ms, added ${(a - b).toFixed(0)} ms (${((a / b - 1) * 100).toFixed(1)}%); ` +
      `paired: added ${paired.toFixed(0)} ms (${((paired / b) * 100).toFixed(1)}%)` +
      (name === 'remux' ? `, hash-at-openssl-speed ${hashMs.toFixed(0)} ms` : '') +
      `\n          runs: ${bare.map((x, i) => `${x.toFixed(0)}/${aud[i].toFixed(0)}`).join(' ')} (bare/ffaudit, ms)`,
  );
}
rmSync(dir, { recursive: true, force: true });
