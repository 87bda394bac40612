/** The capture layer's small pieces, without FFmpeg: stderr filtering, names, FFREPORT parsing, hashing. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hashFile, hashInBackground, READ_BLOCK, SLICE_BLOCK, StreamDigest, SYNC_MAX, WORKER_MIN_BYTES } from './hash.js';
import { ReportBannerFilter } from './stderr-filter.js';
import { classifyTarget, isSequencePattern, sequenceRegExp } from './target.js';
import { parseFfreport } from './user-report.js';

function filtered(chunks: string[], program = 'ffmpeg', report = '/tmp/ffaudit-x/report.log'): string {
  let out = '';
  const f = new ReportBannerFilter(program, report, (b) => (out += b.toString()));
  for (const c of chunks) f.push(Buffer.from(c));
  f.end();
  return out;
}

describe('ReportBannerFilter', () => {
  const debian = 'ffmpeg started on 2026-11-28 at 06:41:08\nReport written to "/tmp/ffaudit-x/report.log"\nLog level: 48\n';
  const rest = 'ffmpeg version 5.1\nInput #0…\nframe=  1\rframe=  2\r';

  it('removes exactly the lines FFREPORT adds (Debian 5.1 and the 2018 static build), whatever the chunking', () => {
    const text = debian + rest;
    for (let cut = 0; cut <= text.length; cut += 7) assert.equal(filtered([text.slice(0, cut), text.slice(cut)]), rest);
    assert.equal(filtered([...text].map((c) => c)), rest);
    const old = 'ffmpeg started on 2026-11-28 at 06:41:08\nReport written to "/tmp/ffaudit-x/report.log"\n';
    assert.equal(filtered([old + rest]), rest);
    assert.equal(filtered(['[info] ffmpeg started on 2026-11-28 at 06:41:08\n[info] Report written to "/tmp/ffaudit-x/report.log"\n[info] Log level: 48\n[info] x\n']), '[info] x\n');
  });

  it('never holds back a prompt, and never removes a line that only looks like ours', () => {
    const prompt = "File 'a.mp4' already exists. Overwrite? [y/N] ";
    let out = '';
    const f = new ReportBannerFilter('ffmpeg', '/r.log', (b) => (out += b.toString()));
    f.push(Buffer.from(prompt));
    assert.equal(out, prompt, 'the prompt must appear before any answer is typed');
    assert.equal(filtered(['Report written to "/elsewhere.log"\n']), 'Report written to "/elsewhere.log"\n');
    assert.equal(filtered(['ffmpeg started on 2026-11-28 at 06:41:08\nReport written to "/other"\n'], 'ffmpeg', '/mine'), 'Report written to "/other"\n');
    assert.equal(filtered(['x\nffmpeg started on 2026-11-28 at 06:41:08\n']), 'x\nffmpeg started on 2026-11-28 at 06:41:08\n');
  });
});

describe('targets', () => {
  it('classifies pipes, URLs, files and virtual inputs', () => {
    assert.deepEqual(classifyTarget('-', 'input', null, '/w'), { kind: 'pipe', fd: 0, path: 'pipe:0' });
    assert.deepEqual(classifyTarget('-', 'output', null, '/w'), { kind: 'pipe', fd: 1, path: 'pipe:1' });
    assert.deepEqual(classifyTarget('pipe:', 'output', null, '/w'), { kind: 'pipe', fd: 1, path: 'pipe:1' });
    assert.deepEqual(classifyTarget('pipe:3', 'input', null, '/w'), { kind: 'pipe', fd: 3, path: 'pipe:3' });
    assert.deepEqual(classifyTarget('https://h/x.mp4', 'input', null, '/w'), { kind: 'url', url: 'https://h/x.mp4' });
    assert.deepEqual(classifyTarget('file:a b.mp4', 'input', null, '/w'), { kind: 'file', path: '/w/a b.mp4' });
    assert.deepEqual(classifyTarget('../x/./y.mp4', 'input', null, '/w/v'), { kind: 'file', path: '/w/x/y.mp4' });
    assert.deepEqual(classifyTarget('testsrc', 'input', 'lavfi', '/w'), { kind: 'virtual' });
    assert.deepEqual(classifyTarget('-', 'output', 'null', '/w'), { kind: 'virtual' });
  });

  it('recognises and expands sequence patterns as FFmpeg does', () => {
    assert.ok(isSequencePattern('img%03d.png'));
    assert.ok(isSequencePattern('seg-%d.ts'));
    assert.equal(isSequencePattern('100%%.png'), false);
    assert.equal(isSequencePattern('plain.png'), false);
    const re = sequenceRegExp('img%03d.png');
    assert.ok(re.test('img001.png') && re.test('img1000.png'));
    assert.equal(re.test('img01.png'), false);
    assert.equal(re.test('imgX01.png'), false);
    assert.ok(sequenceRegExp('a%d(1).png').test('a7(1).png'));
  });
});

describe('FFREPORT values', () => {
  it('splits on unescaped colons, honours backslashes and quotes', () => {
    assert.deepEqual([...parseFfreport('file=/tmp/a\\:b.log:level=32')], [['file', '/tmp/a:b.log'], ['level', '32']]);
    assert.deepEqual([...parseFfreport("file='x:y.log'")], [['file', 'x:y.log']]);
    assert.deepEqual([...parseFfreport('')], []);
  });
});

describe('hashing', () => {
  it('hashes files across block boundaries exactly, read synchronously (small) or pipelined, and streams chunk by chunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffaudit-hash-'));
    try {
      const sizes = [0, 1, READ_BLOCK - 1, READ_BLOCK, READ_BLOCK + 1, 2 * READ_BLOCK + 12345, SYNC_MAX, SYNC_MAX + 1, SYNC_MAX + 2 * READ_BLOCK + 777];
      for (const size of sizes) {
        const data = randomBytes(size);
        const p = join(dir, `f${size}`);
        writeFileSync(p, data);
        assert.deepEqual(await hashFile(p), { size, sha256: createHash('sha256').update(data).digest('hex') });
        const d = new StreamDigest();
        for (let i = 0; i < size; i += 65536) d.update(data.subarray(i, i + 65536));
        assert.deepEqual(d.digest(), { size, sha256: createHash('sha256').update(data).digest('hex') });
      }
      await assert.rejects(hashFile(join(dir, 'missing')), { code: 'IO' });
      await assert.rejects(hashFile(join(dir, 'f1', 'below-a-file')), { code: 'IO' }); // ENOTDIR, not only ENOENT
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hashes a FIFO whose writer is already waiting as the bytes it writes (the small-file path never opens it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffaudit-hash-'));
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    // The writer blocks in open() until a reader comes; a reader that opened and closed at once would release it
    // into a write with no reader left (EPIPE), and the hash would be that of nothing, or wait for ever.
    const writer = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(fifo)}, 'hello world')`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => writer.once('exit', (code) => resolve(code)));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stuck = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('hashFile is still waiting for the FIFO')), 10_000).unref());
      assert.deepEqual(await Promise.race([hashFile(fifo), stuck]), { size: 11, sha256: createHash('sha256').update('hello world').digest('hex') });
      assert.equal(await exited, 0);
    } finally {
      writer.kill();
      try {
        closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK)); // releases a reader still waiting
      } catch {
        // no reader waits
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hashes in the background exactly: in slices that let the event loop run, and large files in a worker thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffaudit-hash-'));
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    try {
      for (const size of [0, 1, SLICE_BLOCK - 1, SLICE_BLOCK, SLICE_BLOCK + 1, 3 * SLICE_BLOCK + 777]) {
        const data = randomBytes(size);
        const p = join(dir, `s${size}`);
        writeFileSync(p, data);
        assert.deepEqual(await hashInBackground(p, size).finish(), { size, sha256: sha(data) });
      }
      // Slices: 48 MiB hashed here while a timer keeps firing (it could not if the hash held the event loop).
      const mid = randomBytes(48 << 20);
      writeFileSync(join(dir, 'mid'), mid);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const d = await hashInBackground(join(dir, 'mid'), mid.length).digest;
      clearInterval(timer);
      assert.deepEqual(d, { size: mid.length, sha256: sha(mid) });
      assert.ok(ticks >= 3, `the event loop ran ${ticks} times while 48 MiB were hashed`);
      // The worker thread, under a name that is not UTF-8 (a raw-byte path). (Which side wins depends on the load of
      // the machine the tests run on; the stalled worker below shows that this size goes to the worker.)
      const big = Buffer.concat([mid, randomBytes(WORKER_MIN_BYTES - mid.length + 12345)]);
      const raw = Buffer.concat([Buffer.from(join(dir, 'big-')), Buffer.from([0xff, 0xfe]), Buffer.from('.nut')]);
      writeFileSync(raw, big);
      const want = { size: big.length, sha256: sha(big) };
      const outcomes: string[] = [];
      const onOutcome = (w: string) => outcomes.push(w);
      const alone = hashInBackground(raw, big.length);
      assert.deepEqual(await alone.digest, want, 'the worker alone');
      alone.cancel(); // closes the file
      assert.deepEqual(await hashInBackground(raw, big.length, { onOutcome }).finish(), want);
      assert.equal(outcomes.length, 1);
      outcomes.length = 0;
      // A worker that never gets the CPU is overtaken by a hash at normal priority, which reads the file through the
      // descriptor opened when the hash started: the name may be gone by the end of the run. The worker is stopped.
      const opened = () => {
        let open!: () => void;
        return { wait: new Promise<void>((resolve) => (open = resolve)), onOpen: () => open() };
      };
      const o1 = opened();
      const starved = hashInBackground(raw, big.length, { stallWorker: true, onOutcome, onOpen: o1.onOpen });
      await o1.wait;
      rmSync(raw);
      assert.deepEqual(await starved.finish(), want);
      assert.deepEqual(outcomes, ['fallback']);
      await assert.rejects(starved.digest, /stopped/);
      // cancel() stops a stalled worker, so nothing keeps the process alive.
      writeFileSync(raw, big);
      const o2 = opened();
      const cancelled = hashInBackground(raw, big.length, { stallWorker: true, onOpen: o2.onOpen });
      await o2.wait;
      cancelled.cancel();
      await assert.rejects(cancelled.digest, /stopped|cancelled/);
      await assert.rejects(cancelled.finish(), /cancelled/);
      await assert.rejects(hashInBackground(join(dir, 'missing'), WORKER_MIN_BYTES).finish(), { code: 'IO' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
