#!/usr/bin/env node
// Hashing throughput of ffaudit's file hasher (src/capture/hash.ts) beside `openssl dgst -sha256` on the same file,
// start-up excluded on both sides (ours is timed in process; OpenSSL's start-up is measured on an empty file and
// subtracted). The file is read once first so both read it from the page cache.
//   node bench/capture-hash.mjs [--size-mb N] (default 1024)
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile } from '../dist/capture/hash.js';

const sizeMb = Number(process.argv[process.argv.indexOf('--size-mb') + 1]) || 1024;
const rounds = 3;
const dir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-'));
const file = join(dir, 'big.bin');
const empty = join(dir, 'empty.bin');
writeFileSync(empty, '');
const fd = openSync(file, 'w');
const block = randomBytes(1 << 20);
for (let i = 0; i < sizeMb; i++) writeSync(fd, block);
closeSync(fd);

function openssl(p) {
  const t = process.hrtime.bigint();
  const r = spawnSync('openssl', ['dgst', '-sha256', p], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('openssl failed');
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, hex: r.stdout.trim().split(' ').pop() };
}
async function ours(p) {
  const t = process.hrtime.bigint();
  const d = await hashFile(p);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, hex: d.sha256 };
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
await ours(file); // page cache
const o = [];
const s = [];
const st = [];
for (let i = 0; i < rounds; i++) {
  st.push(openssl(empty).ms);
  const a = openssl(file);
  const b = await ours(file);
  if (a.hex !== b.hex) throw new Error(`digests differ: ${a.hex} ${b.hex}`);
  o.push(a.ms);
  s.push(b.ms);
}
const startup = median(st);
const osslMs = median(o) - startup;
const oursMs = median(s);
const mbps = (ms) => (sizeMb / (ms / 1000)).toFixed(0);
console.log(`file ${sizeMb} MiB, median of ${rounds}`);
console.log(`openssl dgst -sha256  ${osslMs.toFixed(0)} ms (start-up ${startup.toFixed(0)} ms excluded)  ${mbps(osslMs)} MiB/s`);
console.log(`ffaudit hashFile      ${oursMs.toFixed(0)} ms  ${mbps(oursMs)} MiB/s`);
console.log(`ratio (ours/openssl throughput) ${(osslMs / oursMs).toFixed(3)} (target >= 0.90)`);
rmSync(dir, { recursive: true, force: true });
