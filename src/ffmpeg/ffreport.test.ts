import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { analyzeFfmpegArgs } from './ffargs.js';
import { parseReport } from './ffreport.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-report-'));

function bundledFfmpeg(): string | null {
  try {
    const p = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    return spawnSync(p, ['-version']).status === 0 ? p : null;
  } catch {
    return null;
  }
}

let n = 0;
/** Runs FFmpeg in `tmp` with a debug-level report, as the capture side does, and returns the report's text. */
function report(bin: string, args: string[]): { text: string; status: number | null } {
  const file = path.join(tmp, `report-${n++}.log`);
  const r = spawnSync(bin, ['-nostdin', '-loglevel', 'error', ...args], {
    cwd: tmp,
    env: { ...process.env, FFREPORT: `file=${file}:level=48` },
  });
  return { text: fs.readFileSync(file, 'utf8'), status: r.status };
}

function lavfi(bin: string, out: string): void {
  const r = spawnSync(bin, ['-nostdin', '-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=10', '-f', 'lavfi', '-i', 'sine=duration=1', '-c:v', 'mpeg4', '-c:a', 'aac', '-shortest', out], { cwd: tmp });
  assert.equal(r.status, 0, r.stderr.toString());
}

before(() => lavfi('ffmpeg', 'in.mp4'));

const writes = (text: string) => parseReport(text).opened.filter((o) => o.mode === 'write').map((o) => o.path);
const reads = (text: string) => parseReport(text).opened.filter((o) => o.mode === 'read').map((o) => o.path);

for (const [label, bin] of [['Debian ffmpeg', 'ffmpeg'], ['bundled ffmpeg', bundledFfmpeg()]] as const) {
  describe(`parseReport on real reports (${label})`, { skip: bin === null ? 'not runnable here' : false }, () => {
    const ff = bin!;
    const odd = "in 'q' \"dq\" vidéo.mp4";
    before(() => {
      fs.copyFileSync(path.join(tmp, 'in.mp4'), path.join(tmp, odd));
      fs.writeFileSync(path.join(tmp, 'list.txt'), `file 'in.mp4'\nfile '${odd.replace(/'/g, "'\\''")}'\n`);
      fs.mkdirSync(path.join(tmp, `${label}-hls`), { recursive: true });
      fs.mkdirSync(path.join(tmp, `${label}-img`), { recursive: true });
    });

    it('names the inputs, the version and the stream summaries of a two-input, two-output run', () => {
      const args = ['-y', '-i', 'in.mp4', '-i', odd, '-map', '0:v', '-map', '1:a', '-c:v', 'mpeg4', '-c:a', 'aac', 'out a.mkv', '-map', '0:v', '-s', '80x60', '-c:v', 'mpeg4', 'out b.mp4'];
      const { text, status } = report(ff, args);
      assert.equal(status, 0);
      const r = parseReport(text);
      assert.deepEqual(reads(text), analyzeFfmpegArgs(args).inputs);
      assert.match(r.version ?? '', /^\S+$/);
      const v = r.streams.find((s) => s.direction === 'input' && s.file === 0 && s.stream === 0)!;
      assert.equal(v.type, 'Video');
      assert.equal(v.codec, 'mpeg4');
      assert.equal(v.width, 160);
      assert.equal(v.height, 120);
      assert.match(v.duration ?? '', /^00:00:01\.0\d$/);
      assert.equal(typeof v.bitrate_kbps, 'number');
      assert.deepEqual(r.streams.filter((s) => s.direction === 'output').map((s) => [s.file, s.stream, s.type, s.width ?? null]), [
        [0, 0, 'Video', 160],
        [0, 1, 'Audio', null],
        [1, 0, 'Video', 80],
      ]);
      assert.equal(r.truncated, 0);
    });

    it('reads every file of a concat list and every frame of an image sequence', () => {
      const img = `${label}-img/f%03d.png`;
      const out = report(ff, ['-y', '-i', 'in.mp4', '-frames:v', '3', img]);
      assert.deepEqual(writes(out.text), [1, 2, 3].map((i) => `${label}-img/f00${i}.png`));
      const seq = report(ff, ['-y', '-framerate', '10', '-i', img, '-c:v', 'mpeg4', 'seq.mp4']);
      assert.deepEqual(reads(seq.text), [1, 2, 3].map((i) => `${label}-img/f00${i}.png`));
      const cat = report(ff, ['-y', '-f', 'concat', '-safe', '0', '-i', 'list.txt', '-c', 'copy', 'cat.mkv']);
      assert.equal(cat.status, 0);
      assert.deepEqual(reads(cat.text), ['list.txt', 'in.mp4', odd]);
    });

    it('lists HLS segments and playlists, and the renames of temporary files', () => {
      const { text } = report(ff, ['-y', '-i', 'in.mp4', '-c', 'copy', '-f', 'hls', '-hls_time', '0.5', '-hls_flags', 'temp_file', `${label}-hls/p.m3u8`]);
      const w = writes(text);
      assert.ok(w.some((p) => /p0\.ts(\.tmp)?$/.test(p)), w.join());
      assert.ok(w.some((p) => /p\.m3u8(\.tmp)?$/.test(p)), w.join());
      const r = parseReport(text);
      for (const { from, to } of r.renamed) {
        assert.equal(from, `${to}.tmp`);
        assert.ok(fs.existsSync(path.join(tmp, to)), `${to} exists after the run`);
        assert.ok(!fs.existsSync(path.join(tmp, from)));
      }
      if (label === 'Debian ffmpeg') assert.ok(r.renamed.some((x) => x.to === `${label}-hls/p.m3u8`));
    });

    it('lists every tee target and a subtitles= source', () => {
      const tee = report(ff, ['-y', '-i', 'in.mp4', '-map', '0', '-c:v', 'mpeg4', '-c:a', 'aac', '-f', 'tee', 't 1.mkv|[f=mpegts]t2.ts']);
      assert.deepEqual(writes(tee.text), analyzeFfmpegArgs(['-f', 'tee', 't 1.mkv|[f=mpegts]t2.ts']).outputs);
      fs.writeFileSync(path.join(tmp, 's:1.srt'), '1\n00:00:00,000 --> 00:00:00,500\nhi\n');
      const args = ['-y', '-i', 'in.mp4', '-vf', "subtitles='s\\:1.srt'", '-t', '0.3', '-f', 'null', '-'];
      const subs = report(ff, args);
      // FFmpeg takes "s:" for a protocol and fails, but the attempt is what the record needs.
      assert.ok(reads(subs.text).includes(analyzeFfmpegArgs(args).filterSources[0]!), reads(subs.text).join());
    });
  });
}

describe('parseReport on DASH and segment output (Debian ffmpeg)', () => {
  it('lists init and media segments, manifests and lists', () => {
    fs.mkdirSync(path.join(tmp, 'dash'), { recursive: true });
    const dash = report('ffmpeg', ['-y', '-i', 'in.mp4', '-c', 'copy', '-f', 'dash', 'dash/m.mpd']);
    const r = parseReport(dash.text);
    assert.ok(writes(dash.text).includes('dash/init-stream0.m4s'));
    assert.ok(r.renamed.some((x) => x.to === 'dash/m.mpd'));
    assert.ok(fs.existsSync(path.join(tmp, 'dash/m.mpd')));
    const seg = report('ffmpeg', ['-y', '-i', 'in.mp4', '-c', 'copy', '-f', 'segment', '-segment_list', 'sl.m3u8', 'sg%02d.ts']);
    assert.deepEqual([...new Set(writes(seg.text))].sort(), ['sg00.ts', 'sl.m3u8.tmp']);
  });

  it('keeps a file name with a newline whole', () => {
    const name = 'two\nlines.mp4';
    fs.copyFileSync(path.join(tmp, 'in.mp4'), path.join(tmp, name));
    const { text } = report('ffmpeg', ['-y', '-i', name, '-t', '0.2', '-f', 'null', '-']);
    assert.deepEqual(reads(text), [name]);
  });
});

describe('parseReport on hostile text', () => {
  it('counts a truncated Opening message instead of inventing a path', () => {
    const long = 'a'.repeat(1100);
    const text = `[NULL @ 0x1] Opening '${long.slice(0, 990)}[file @ 0x2] Setting default whitelist 'file'\n[NULL @ 0x3] Opening 'ok.mp4' for reading\n`;
    const r = parseReport(text);
    assert.deepEqual(r.opened, [{ path: 'ok.mp4', mode: 'read' }]);
    assert.equal(r.truncated, 1);
  });

  it('does not take an Opening line quoted inside another message', () => {
    const r = parseReport("[tcp @ 0x1] error text Opening 'x' for writing\nOpening 'y' for reading\n");
    assert.deepEqual(r.opened, [{ path: 'y', mode: 'read' }]);
  });

  it('keeps quotes inside paths and ignores stream lines outside their file dump', () => {
    const text = [
      "ffprobe version 7.1-test Copyright",
      "[NULL @ 0x1] Opening 'it's ' for reading' for reading",
      "  Stream #0:0: Video: fake, 1x1",
      "Input #0, mov, from 'x':",
      "  Duration: N/A, bitrate: N/A",
      "  Stream #1:0: Video: wrongfile, 2x2",
      "  Stream #0:0(eng): Video: h264 (High), yuv420p, 640x360, 900 kb/s",
      "  Stream #0:0: Video: duplicate, 3x3",
      "Output #0, mp4, to 'y':",
      "  Stream #0:0: Audio: aac (LC), 48000 Hz, stereo, fltp, 128 kb/s",
      "",
    ].join('\n');
    const r = parseReport(text);
    assert.equal(r.version, '7.1-test');
    assert.deepEqual(r.opened, [{ path: "it's ' for reading", mode: 'read' }]);
    assert.deepEqual(r.streams.map((s) => [s.direction, s.file, s.stream, s.codec, s.width ?? null, s.bitrate_kbps ?? null, s.duration ?? null]), [
      ['input', 0, 0, 'h264', 640, 900, null],
      ['output', 0, 0, 'aac', null, 128, null],
    ]);
  });

  it('stays linear on many unterminated Opening messages', () => {
    const text = `[NULL @ 0x1] Opening '${'a'.repeat(990)}`.repeat(20_000);
    const t = Date.now();
    const r = parseReport(text);
    assert.equal(r.truncated, 20_000);
    assert.deepEqual(r.opened, []);
    assert.ok(Date.now() - t < 5_000, `${Date.now() - t} ms`);
  });

  it('returns empty results for empty or binary input', () => {
    assert.deepEqual(parseReport(''), { opened: [], renamed: [], streams: [], version: null, truncated: 0 });
    assert.doesNotThrow(() => parseReport('\u0000\uFFFD'.repeat(10_000)));
  });
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));
