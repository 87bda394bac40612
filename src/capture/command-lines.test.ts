/**
 * Real command lines, real FFmpeg: every file a run touched is recorded with its absolute path, size and SHA-256
 * (checked here against the files themselves), and what is not a file is recorded as what it is.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FileRecord } from '../core/entry.js';
import { join } from 'node:path';
import { Ledger } from '../ledger/ledger.js';
import { BIN, Fixture, names, runAsync } from '../testing/capture-fixture.js';
import { PROJECT_ROOT } from '../testing/fixtures.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function assertHashed(files: FileRecord[]): void {
  for (const f of files) {
    const data = readFileSync(f.path);
    assert.equal(f.size, data.length, f.path);
    assert.equal(f.sha256, sha(data), f.path);
  }
}

describe('command lines', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
    fx.media('a.mp4');
    fx.media('b.wav', ['-f', 'lavfi', '-i', 'sine=d=0.5']);
  });
  after(() => fx.remove());

  const ok = (args: string[], cwd?: string) => {
    const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-y', ...args], cwd ? { cwd } : {});
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stderr.length, 0, 'ffaudit is silent on success');
    const run = fx.lastRun();
    assert.equal(run.status, 'ok');
    assert.equal(run.tool, 'ffmpeg');
    return run;
  };

  it('several inputs and outputs, relative paths recorded absolute; lavfi is not a file', () => {
    const run = ok(['-i', 'a.mp4', '-i', 'b.wav', '-f', 'lavfi', '-i', 'sine=d=0.2', '-map', '0:v', '-map', '1:a', 'o1.mkv', '-map', '2:a', 'o2.wav']);
    assert.deepEqual(names(run.inputs, fx.dir), ['a.mp4', 'b.wav']);
    assert.deepEqual(names(run.outputs, fx.dir), ['o1.mkv', 'o2.wav']);
    assertHashed([...run.inputs, ...run.outputs]);
    assert.ok(run.streams.some((s) => s.direction === 'input' && s.type === 'Video' && s.codec === 'h264' && s.width === 64 && s.height === 48));
    assert.ok(run.streams.some((s) => s.direction === 'output' && s.file === 1 && s.type === 'Audio'));
    assert.match(run.ffmpeg.version ?? '', /\d/);
    assert.match(run.ffmpeg.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(run.ffmpeg.sha256, sha(readFileSync(run.ffmpeg.path)));
  });

  it('image sequences in and out expand to the actual frames', () => {
    ok(['-f', 'lavfi', '-i', 'testsrc=duration=0.4:size=32x32:rate=10', 'in%03d.png']);
    let run = fx.lastRun();
    assert.deepEqual(names(run.outputs, fx.dir), ['in001.png', 'in002.png', 'in003.png', 'in004.png']);
    run = ok(['-framerate', '10', '-i', 'in%03d.png', 'out-%02d.jpg']);
    assert.deepEqual(names(run.inputs, fx.dir), ['in001.png', 'in002.png', 'in003.png', 'in004.png']);
    assert.deepEqual(names(run.outputs, fx.dir), ['out-01.jpg', 'out-02.jpg', 'out-03.jpg', 'out-04.jpg']);
    assertHashed([...run.inputs, ...run.outputs]);
  });

  it('a concat list and the files it names; names with spaces, quotes and non-ASCII', () => {
    const odd = "it's a «clip» é.mp4";
    writeFileSync(fx.path(odd), readFileSync(fx.path('a.mp4')));
    writeFileSync(fx.path('list.txt'), `file 'it'\\''s a «clip» é.mp4'\nfile 'a.mp4'\n`);
    const run = ok(['-f', 'concat', '-safe', '0', '-i', 'list.txt', '-c', 'copy', 'joined.mp4']);
    assert.deepEqual(names(run.inputs, fx.dir), ['list.txt', odd, 'a.mp4']);
    assert.deepEqual(names(run.outputs, fx.dir), ['joined.mp4']);
    assertHashed([...run.inputs, ...run.outputs]);
  });

  it('HLS with temporary files: the playlist under its final name and every segment', () => {
    const run = ok(['-i', 'a.mp4', '-c:v', 'mpeg2video', '-g', '2', '-f', 'hls', '-hls_time', '0.2', '-hls_flags', 'temp_file', '-hls_segment_filename', 'hls-%d.ts', 'play.m3u8']);
    const segs = readdirSync(fx.dir).filter((n) => /^hls-\d+\.ts$/.test(n)).sort();
    assert.ok(segs.length >= 2);
    assert.deepEqual(names(run.outputs, fx.dir).sort(), ['play.m3u8', ...segs].sort());
    assert.ok(!names(run.outputs, fx.dir).some((n) => n.endsWith('.tmp')));
    assertHashed(run.outputs);
  });

  it('DASH and segment muxers: manifest, init and media segments', () => {
    mkdirSync(fx.path('dash'));
    let run = ok(['-i', 'a.mp4', '-c', 'copy', '-f', 'dash', 'dash/stream.mpd']);
    const expected = ['dash/stream.mpd', ...readdirSync(fx.path('dash')).filter((n) => n.endsWith('.m4s')).map((n) => `dash/${n}`)];
    assert.deepEqual(names(run.outputs, fx.dir).sort(), expected.sort());
    assertHashed(run.outputs);
    run = ok(['-i', 'a.mp4', '-c:v', 'mpeg2video', '-g', '2', '-f', 'segment', '-segment_time', '0.2', '-segment_list', 'segs.csv', 'seg%02d.ts']);
    const segs = readdirSync(fx.dir).filter((n) => /^seg\d+\.ts$/.test(n)).sort();
    assert.ok(segs.length >= 2);
    assert.deepEqual(names(run.outputs, fx.dir).sort(), ['segs.csv', ...segs].sort());
    assertHashed(run.outputs);
  });

  it('the tee muxer: every target', () => {
    const run = ok(['-i', 'a.mp4', '-map', '0', '-c:v', 'mpeg2video', '-f', 'tee', 'tee1.mkv|[f=mpegts]tee2.ts']);
    assert.deepEqual(names(run.outputs, fx.dir).sort(), ['tee1.mkv', 'tee2.ts']);
    assertHashed(run.outputs);
  });

  it('movie= and subtitles= filter sources are inputs', () => {
    writeFileSync(fx.path('subs.srt'), '1\n00:00:00,000 --> 00:00:00,400\nhello\n');
    const run = ok(['-f', 'lavfi', '-i', 'movie=a.mp4', '-vf', 'subtitles=subs.srt', '-frames:v', '2', 'burned.mp4']);
    assert.deepEqual(names(run.inputs, fx.dir).sort(), ['a.mp4', 'subs.srt']);
    assertHashed(run.inputs);
  });

  it('outputs named but never written and inputs that do not exist', () => {
    const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-y', '-i', 'a.mp4', '-i', 'nope.mp4', 'never.mkv']);
    assert.notEqual(r.status, 0);
    const run = fx.lastRun();
    assert.equal(run.status, 'failed');
    assert.deepEqual(run.inputs.map((f) => [names([f], fx.dir)[0], f.sha256 === null]), [['a.mp4', false], ['nope.mp4', true]]);
    assert.deepEqual(run.outputs, [{ path: fx.path('never.mkv'), size: null, sha256: null, error: 'ENOENT' }]);
  });

  it('a relative path from another working directory', () => {
    mkdirSync(fx.path('sub'));
    const run = ok(['-i', '../a.mp4', '-c', 'copy', 'up.mp4'], fx.path('sub'));
    assert.deepEqual(names(run.inputs, fx.dir), ['a.mp4']);
    assert.deepEqual(names(run.outputs, fx.dir), ['sub/up.mp4']);
    assert.equal(run.cwd, fx.path('sub'));
  });

  it('ffprobe is recorded as an access to its input', () => {
    const r = fx.ffaudit(['ffprobe', '-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', 'a.mp4']);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString().trim(), '0.500000');
    const run = fx.lastRun();
    assert.equal(run.tool, 'ffprobe');
    assert.deepEqual(names(run.inputs, fx.dir), ['a.mp4']);
    assert.deepEqual(run.outputs, []);
    assertHashed(run.inputs);
  });

  it('--actor, --reason and their variables are recorded as asserted', () => {
    const r = fx.ffaudit(['--actor', 'alice@example', '--reason', 'CASE-42', 'ffmpeg', '-v', 'error', '-i', 'a.mp4', '-y', '-c', 'copy', 'act.mp4']);
    assert.equal(r.status, 0, `exit ${r.status} (signal ${r.signal}): ${r.stderr.toString()}`);
    let run = fx.lastRun();
    assert.equal(run.asserted_actor, 'alice@example');
    assert.equal(run.reason, 'CASE-42');
    const r2 = fx.ffaudit(['ffmpeg', '-v', 'error', '-i', 'a.mp4', '-y', '-c', 'copy', 'act.mp4'], { env: fx.env({ FFAUDIT_ACTOR: 'bob', FFAUDIT_REASON: 'T-7' }) });
    assert.equal(r2.status, 0, `exit ${r2.status} (signal ${r2.signal}): ${r2.stderr.toString()}`);
    run = fx.lastRun();
    assert.equal(run.asserted_actor, 'bob');
    assert.equal(run.reason, 'T-7');
  });
});

describe('network inputs and secrets', () => {
  it('a URL is recorded redacted and unhashed; its credentials and headers appear in no file of the ledger', async () => {
    const fx = new Fixture();
    try {
      const media = readFileSync(fx.media('net.mp4'));
      const seen: IncomingHttpHeaders[] = [];
      const server = createServer((req, res) => {
        seen.push(req.headers);
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': media.length });
        res.end(media);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const secrets = ['hunter2pw', 'S3cretBearerTok', 'SIGabc123xyz', 'cookieMonsterVal'];
      const url = `http://alice:hunter2pw@127.0.0.1:${port}/clip.mp4?X-Amz-Signature=SIGabc123xyz&v=1`;
      const r = await runAsync(process.execPath, [BIN, '--ledger', fx.ledger, 'ffmpeg', '-v', 'debug', '-headers', 'Authorization: Bearer S3cretBearerTok\r\n', '-cookies', 'session=cookieMonsterVal; path=/', '-i', url, '-c', 'copy', '-y', 'got.mp4'], { cwd: fx.dir, env: fx.env() });
      server.close();
      assert.equal(r.status, 0, r.stderr.toString().slice(-2000));
      // FFmpeg really sent them (so its debug log could have shown them).
      assert.equal(seen[0]?.authorization, 'Bearer S3cretBearerTok');
      const run = fx.lastRun();
      assert.equal(run.inputs.length, 1);
      assert.equal(run.inputs[0]!.sha256, null);
      assert.match(run.inputs[0]!.path, new RegExp(`^http://<redacted:[0-9a-f]{12}>@127\\.0\\.0\\.1:${port}/clip\\.mp4\\?X-Amz-Signature=<redacted:[0-9a-f]{12}>&v=1$`));
      assert.deepEqual(names(run.outputs, fx.dir), ['got.mp4']);
      assert.ok(run.report_sha256);
      // Every byte the ledger holds: its files (database, WAL, caches) and every blob, decompressed.
      const blobs: Buffer[] = [];
      const { Ledger } = await import('../ledger/ledger.js');
      const l = Ledger.open({ dir: fx.ledger, explicit: true });
      for (const h of l.blobHashes()) blobs.push(l.blob(h)!);
      const report = l.blob(run.report_sha256)!.toString();
      l.close();
      assert.match(report, /Opening 'http:\/\/<redacted:/);
      const files = readdirSync(fx.ledger).map((n) => readFileSync(`${fx.ledger}/${n}`));
      for (const s of secrets) {
        for (const b of [...files, ...blobs]) assert.equal(b.includes(s), false, `secret ${s} found in the ledger`);
      }
      assert.equal(r.stderr.includes('hunter2pw'), true, "FFmpeg's own stderr is passed through untouched");
    } finally {
      fx.remove();
    }
  });
});

describe('extra redaction patterns', () => {
  it('reach the recorded paths and the working directory, not only the argv and the report', async () => {
    const fx = new Fixture();
    try {
      // A ledger whose config calls case numbers secret; the media sit in a directory named after one.
      writeFileSync(`${fx.ledger}/config.json`, JSON.stringify({ redact: [{ name: 'case', pattern: 'CASE-[0-9]{5}' }] }));
      mkdirSync(fx.path('CASE-31337'));
      const input = fx.media('CASE-31337/in.mp4');
      const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-i', 'in.mp4', '-c', 'copy', '-y', 'out-CASE-31337.mp4'], { cwd: fx.path('CASE-31337') });
      assert.equal(r.status, 0, r.stderr.toString());
      const run = fx.lastRun();
      const placeholder = /<redacted:[0-9a-f]{12}>/;
      for (const p of [run.cwd, run.inputs[0]!.path, run.outputs[0]!.path]) {
        assert.match(p, placeholder);
        assert.ok(!p.includes('31337'), p);
      }
      // Still hashed: the content is evidence, only the name is hidden.
      assert.equal(run.inputs[0]!.sha256, createHash('sha256').update(readFileSync(input)).digest('hex'));
      assert.ok(run.outputs[0]!.sha256);
      const { Ledger } = await import('../ledger/ledger.js');
      const l = Ledger.open({ dir: fx.ledger, explicit: true });
      const [start, end] = run.entries.map((i) => JSON.parse(l.entry(i).toString('utf8')) as { redactions: { where: string }[] });
      l.close();
      const where = (e: { redactions: { where: string }[] } | undefined) => new Set(e!.redactions.map((x) => x.where));
      for (const w of ['cwd', 'inputs[0].path']) assert.ok(where(start).has(w), `${w} in run.start`);
      for (const w of ['inputs[0].path', 'outputs[0].path']) assert.ok(where(end).has(w), `${w} in run.end`);
      // No file of the ledger holds the case number, nor any blob once decompressed.
      for (const n of readdirSync(fx.ledger)) assert.ok(!readFileSync(`${fx.ledger}/${n}`).includes('CASE-31337'), n);
      const report = fx.ffaudit(['show', run.id, '--report']).stdout.toString();
      assert.ok(report.length > 0 && !report.includes('CASE-31337'));
    } finally {
      fx.remove();
    }
  });
});

/** Entry `i` of a fixture's ledger, parsed from its stored bytes. */
function storedEntry(fx: Fixture, i: number): Record<string, unknown> & { by: { asserted_actor?: string }; redactions?: { where: string; kind: string }[] } {
  const l = Ledger.open({ dir: fx.ledger, explicit: true });
  try {
    return JSON.parse(l.entry(i).toString('utf8')) as ReturnType<typeof storedEntry>;
  } finally {
    l.close();
  }
}

describe('what the user says about a run: --reason and --actor', () => {
  it('are redacted as the argv is (built-in rules and the ledger’s own patterns), in runs and notes', () => {
    const fx = new Fixture();
    try {
      writeFileSync(`${fx.ledger}/config.json`, JSON.stringify({ redact: [{ name: 'case', pattern: 'CASE-[0-9]{5}' }] }));
      const secrets = ['31337', 'hunter22', 't0k3nv4lue'];
      const reason = 'CASE-31337, from https://ingest:hunter22@nas.example/x?token=t0k3nv4lue';
      const r = fx.ffaudit(['--actor', 'alice for CASE-31337', '--reason', reason, 'ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.1:size=32x32:rate=10', '-f', 'null', '-']);
      assert.equal(r.status, 0, r.stderr.toString());
      const byEnv = fx.ffaudit(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.1:size=32x32:rate=10', '-f', 'null', '-'], { env: fx.env({ FFAUDIT_ACTOR: 'CASE-31337', FFAUDIT_REASON: 'CASE-31337' }) });
      assert.equal(byEnv.status, 0, byEnv.stderr.toString());
      const note = fx.ffaudit(['note', 'viewed', '--actor', 'bob (CASE-31337)', '--json']);
      assert.equal(note.status, 0, note.stderr.toString());

      const [run, envRun] = fx.runs();
      const [start, end] = run!.entries.map((i) => storedEntry(fx, i));
      const placeholder = '<redacted:[0-9a-f]{12}>';
      assert.match(start!.reason as string, new RegExp(`^${placeholder}, from https://${placeholder}@nas\\.example/x\\?token=${placeholder}$`));
      assert.match(start!.by.asserted_actor!, new RegExp(`^alice for ${placeholder}$`));
      assert.equal(end!.by.asserted_actor, start!.by.asserted_actor);
      const said = (e: typeof start) => e!.redactions!.filter((x) => x.where === 'reason' || x.where === 'by.asserted_actor').map((x) => `${x.where} ${x.kind}`).sort();
      assert.deepEqual(said(start), ['by.asserted_actor pattern:case', 'reason pattern:case', 'reason url-credentials', 'reason url-query:token']);
      assert.deepEqual(said(end), ['by.asserted_actor pattern:case']);
      assert.match(envRun!.reason!, new RegExp(`^${placeholder}$`));
      assert.match(envRun!.asserted_actor!, new RegExp(`^${placeholder}$`));
      const n = storedEntry(fx, (JSON.parse(note.stdout.toString()) as { index: number }).index);
      assert.match(n.by.asserted_actor!, new RegExp(`^bob \\(${placeholder}\\)$`));
      assert.deepEqual(n.redactions!.map((x) => `${x.where} ${x.kind}`), ['by.asserted_actor pattern:case']);
      // No file of the ledger holds any of them.
      for (const f of readdirSync(fx.ledger)) for (const secret of secrets) assert.ok(!readFileSync(`${fx.ledger}/${f}`).includes(secret), `${secret} in ${f}`);
    } finally {
      fx.remove();
    }
  });
});

describe('the version of ffaudit', () => {
  it('`ffaudit --version` prints it; every entry (run.start, run.end, custody.note) records the version that wrote it', () => {
    const fx = new Fixture();
    try {
      const { version } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
      for (const flag of ['--version', '-V']) {
        const v = fx.ffaudit([flag], { noLedger: true });
        assert.equal(v.status, 0, v.stderr.toString());
        assert.equal(v.stdout.toString(), `ffaudit ${version}\n`);
        assert.equal(v.stderr.length, 0);
      }
      assert.equal(fx.ffaudit(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.1:size=32x32:rate=10', '-f', 'null', '-']).status, 0);
      assert.equal(fx.ffaudit(['ffprobe', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.1']).status, 0);
      assert.equal(fx.ffaudit(['note', 'checked']).status, 0);
      const l = Ledger.open({ dir: fx.ledger, explicit: true });
      const size = l.size();
      l.close();
      assert.equal(size, 5);
      for (let i = 0; i < size; i++) {
        const e = storedEntry(fx, i);
        assert.equal(e.ffaudit_version, version, `entry ${i} (${String(e.type)})`);
      }
    } finally {
      fx.remove();
    }
  });
});
