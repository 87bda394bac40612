#!/usr/bin/env node
// Benchmark: `ffaudit archive` to S3 with Object Lock, beside raw PutObject of the same SDK on the same server.
//
//   node bench/archive.mjs [--entries 100000] [--reports N] [--concurrency 32] [--skip-raw] [--incremental-only]
//                          [--repeat 3]
//
// 1. Builds a ledger of --entries entries, each with a report blob (the first --reports of them; default: all).
// 2. Learns the sizes of the objects an archive of it holds (by archiving it into a scratch directory).
// 3. Raw baseline: PutObject of objects of exactly those sizes, with the same Object Lock retention, checksum and
//    concurrency, into a fresh bucket, before and after ffaudit's own run into another fresh bucket. Prints both
//    throughputs and the ratio against the mean of the two raw runs (target ≥ 80 %).
// 4. Incremental: 100 new entries (with reports) archived into that archive, in-process and through the CLI
//    (target < 2 s), --repeat times each, on the archive built once. --incremental-only skips the raw baseline and
//    the scratch-directory archive (it implies --skip-raw). Every figure is printed with the load average.
// Needs FFAUDIT_TEST_S3_ENDPOINT and AWS credentials (eval "$(scripts/s3-test-server.sh start DIR)"); run
// `npm run build` first.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const { Ledger } = await import(join(root, 'dist/ledger/ledger.js'));
const { archiveLedger } = await import(join(root, 'dist/archive/archive.js'));
const { openTarget } = await import(join(root, 'dist/archive/target.js'));
const { parseRetention } = await import(join(root, 'dist/archive/retention.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ENTRIES = opt('entries', 100_000);
const REPORTS = opt('reports', ENTRIES);
const CONCURRENCY = opt('concurrency', 32);
const REPEAT = opt('repeat', 3);
const INCREMENTAL_ONLY = args.includes('--incremental-only');
const load = () => `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
const endpoint = process.env.FFAUDIT_TEST_S3_ENDPOINT;
if (!endpoint) {
  console.error('set FFAUDIT_TEST_S3_ENDPOINT and AWS credentials: eval "$(scripts/s3-test-server.sh start DIR)"');
  process.exit(2);
}
process.env.AWS_ENDPOINT_URL_S3 = endpoint;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const s3 = await import('@aws-sdk/client-s3');
const client = new s3.S3Client({ endpoint, forcePathStyle: true, region: process.env.AWS_REGION ?? 'us-east-1' });
const newBucket = async () => {
  const b = `bench-${randomBytes(5).toString('hex')}`;
  await client.send(new s3.CreateBucketCommand({ Bucket: b, ObjectLockEnabledForBucket: true }));
  return b;
};

// A report log as ffmpeg writes one: a few KB of text, different for every run.
const report = (i) => Buffer.from(`ffmpeg started on 2026-11-28 at 06:00:00\nReport written to "ffreport-${i}.log"\n${randomBytes(1500).toString('base64')}\n`);

function addRuns(ledger, from, count, withReports) {
  for (let a = 0; a < count; a += 1000) {
    const n = Math.min(1000, count - a);
    const blobs = [];
    const entries = [];
    for (let k = 0; k < n; k++) {
      const i = from + a + k;
      const entry = { v: 1, type: 'custody.note', time: new Date().toISOString().replace('Z', '000000Z'), by: { user: 'bench', uid: 0, host: 'bench' }, text: `run ${i}`, files: [] };
      if (withReports(i)) {
        const data = report(i);
        const sha = createHash('sha256').update(data).digest('hex');
        blobs.push([sha, data]);
        entry.report_sha256 = sha; // as a run's end entry names its report
      }
      entries.push(entry);
    }
    ledger.store.appendTransaction((tx) => {
      for (const [sha, data] of blobs) tx.putBlob(sha, 'gzip', gzipSync(data), data.length);
    });
    ledger.append(entries);
  }
}

const work = mkdtempSync(join(tmpdir(), 'ffaudit-bench-archive-'));
const dir = join(work, 'ledger');
const ledger = Ledger.init(dir, {});
let t = performance.now();
addRuns(ledger, 0, ENTRIES, (i) => i < REPORTS);
console.log(`ledger: ${ENTRIES} entries, ${REPORTS} reports, built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

// The object sizes, from an archive of the same ledger into a scratch directory (no S3 involved).
const retention = parseRetention('governance', '1d');
const scratch = join(work, 'sizes');
const sizes = [];
if (!INCREMENTAL_ONLY) {
const dirTarget = await openTarget(scratch, { create: true });
await archiveLedger(ledger, dirTarget, { retention });
await dirTarget.finish();
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    if (e.name === '.incoming' || e.name === 'checkpoint') continue; // the checkpoint is a link to checkpoints/<size>
    if (e.isDirectory()) walk(join(d, e.name));
    else sizes.push(statSync(join(d, e.name)).size);
  }
};
walk(scratch);
sizes.push(Buffer.byteLength(ledger.checkpoint())); // the latest checkpoint: an object of its own on S3
spawnSync('chattr', ['-R', '-i', scratch], { stdio: 'ignore' });
}
const bytes = sizes.reduce((a, b) => a + b, 0);

// Raw baseline: the same number of objects of the same sizes, with the same retention, checksum and concurrency,
// once before and once after ffaudit's run; the mean is the baseline (the shared server's speed drifts).
async function rawPuts() {
  const rawBucket = await newBucket();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < sizes.length) {
        const i = next++;
        await client.send(
          new s3.PutObjectCommand({
            Bucket: rawBucket,
            Key: `raw/${i}`,
            Body: randomBytes(sizes[i]),
            ObjectLockMode: 'GOVERNANCE',
            ObjectLockRetainUntilDate: retention.until,
            ChecksumAlgorithm: 'SHA256',
          }),
        );
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}
const SKIP_RAW = INCREMENTAL_ONLY || args.includes('--skip-raw'); // only the incremental figures
const raw1 = SKIP_RAW ? 0 : await rawPuts();
const archiveBucket = await newBucket();
const target = await openTarget(`s3://${archiveBucket}/log`);
t = performance.now();
const result = await archiveLedger(ledger, target, { retention, concurrency: CONCURRENCY });
const ffauditSeconds = (performance.now() - t) / 1000;
const raw2 = SKIP_RAW ? 0 : await rawPuts();
const rawSeconds = (raw1 + raw2) / 2;
if (!SKIP_RAW) console.log(`raw runs: ${raw1.toFixed(1)} s before, ${raw2.toFixed(1)} s after`);
const rate = (n, s) => (n / s).toFixed(1);
const total = result.written.tiles + result.written.bundles + result.written.blobs + 3;
console.log(`full archive: ${total} objects (${result.written.tiles} tiles, ${result.written.bundles} bundles, ${result.written.blobs} reports) in ${ffauditSeconds.toFixed(1)} s, ${rate(total, ffauditSeconds)} objects/s; ${load()}`);
if (!SKIP_RAW) {
  console.log(`objects: ${sizes.length} written by each (${(bytes / 1e6).toFixed(1)} MB)`);
  console.log(`raw PutObject : ${rawSeconds.toFixed(1)} s, ${rate(sizes.length, rawSeconds)} objects/s, ${rate(bytes / 1e6, rawSeconds)} MB/s`);
  console.log(`ffaudit archive: ${ffauditSeconds.toFixed(1)} s, ${rate(sizes.length, ffauditSeconds)} objects/s, ${rate(bytes / 1e6, ffauditSeconds)} MB/s`);
  console.log(`ratio ffaudit/raw: ${((rawSeconds / ffauditSeconds) * 100).toFixed(0)} % (target ≥ 80 %)`);
}

// Incremental: 100 new entries with their reports each time, in-process and through the CLI, on the archive built
// once above.
let size = ENTRIES;
for (let r = 0; r < REPEAT; r++) {
  addRuns(ledger, size, 100, () => true);
  size += 100;
  const t0 = performance.now();
  const inc = await archiveLedger(ledger, target, { retention, concurrency: CONCURRENCY });
  const s = (performance.now() - t0) / 1000;
  const objects = inc.written.blobs + inc.written.tiles + inc.written.bundles + 2;
  console.log(`incremental (in-process) ${r + 1}: 100 entries + 100 reports into a ${size - 100}-entry archive: ${s.toFixed(2)} s (${inc.mode}, ${objects} objects written, ${inc.alreadyThere} already there; target < 2 s); ${load()}`);
}
target.close();
ledger.close();
for (let r = 0; r < REPEAT; r++) {
  const l = Ledger.open({ dir, explicit: true });
  addRuns(l, size, 100, () => true);
  size += 100;
  l.close();
  const t0 = performance.now();
  const cli = spawnSync(process.execPath, [join(root, 'bin/ffaudit.js'), '--ledger', dir, 'archive', '--to', `s3://${archiveBucket}/log`, '--retain', '1d', '--json'], { encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (cli.status !== 0) console.error(cli.stderr);
  const inc = JSON.parse(cli.stdout);
  console.log(`incremental (ffaudit archive CLI, process start included) ${r + 1}: ${s.toFixed(2)} s (${inc.mode}, ${inc.written.blobs} reports written); ${load()}`);
}
console.log(`machine: ${cpus().length} CPUs (nproc), loaded by other work while measuring`);
client.destroy();
rmSync(work, { recursive: true, force: true });
