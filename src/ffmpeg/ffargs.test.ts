import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { analyzeFfmpegArgs, analyzeFfprobeArgs, analyzeFiltergraph, getToken, localFilesOf, parseFiltergraph, parseTeeTargets } from './ffargs.js';

const a = analyzeFfmpegArgs;

describe('analyzeFfmpegArgs', () => {
  it('finds several inputs and outputs with their forced formats', () => {
    const r = a(['-y', '-hide_banner', '-f', 'lavfi', '-i', 'testsrc=duration=1', '-i', 'audio.wav', '-map', '0:v', '-c:v', 'libx264', '-b:a:0', '128k', 'out.mp4', '-f', 'null', '-']);
    assert.deepEqual(r.inputs, ['testsrc=duration=1', 'audio.wav']);
    assert.deepEqual(r.inputFormats, ['lavfi', null]);
    assert.deepEqual(r.outputs, ['out.mp4', '-']);
    assert.deepEqual(r.outputFormats, [null, 'null']);
    assert.equal(r.userReport, false);
  });

  it('knows boolean flags, their -no forms and stream-specifier options', () => {
    const r = a(['-nostdin', '-re', '-i', 'in.mkv', '-an', '-sn', '-dn', '-vn', '-shortest', '-copyts', '-noautorotate', '-map_metadata:s:a', '0:s:a', '-filter:v:0', 'null', '-report', 'o.mkv']);
    assert.deepEqual(r.inputs, ['in.mkv']);
    assert.deepEqual(r.outputs, ['o.mkv']);
    assert.equal(r.userReport, true);
  });

  it('gives unknown (AVOption) options a value, even one that starts with "-"', () => {
    const r = a(['-itsoffset', '-1.5', '-i', 'in.mp4', '-movflags', '+faststart', '-x264-params', 'keyint=10', '-some_private_opt', 'notafile.mp4', 'real.mp4']);
    assert.deepEqual(r.inputs, ['in.mp4']);
    assert.deepEqual(r.outputs, ['real.mp4']);
  });

  it('treats "-" and anything after "--" as file names', () => {
    const r = a(['-i', '-', '-f', 'wav', '-', '--', '-weird-name.wav']);
    assert.deepEqual(r.inputs, ['-']);
    assert.deepEqual(r.outputs, ['-', '-weird-name.wav']);
    assert.deepEqual(r.outputFormats, ['wav', null]);
  });

  it('keeps pipes, URLs, image sequences and odd names verbatim', () => {
    const names = ['pipe:0', 'https://example.com/a b.mp4?x=1', 'img%03d.png', "it's a \"name\".mov", 'vidéo-日本.mkv', 'C:\\x\\y.avi'];
    const r = a(['-i', names[0]!, '-i', names[1]!, '-f', 'image2', '-framerate', '10', '-i', names[2]!, '-i', names[3]!, names[4]!, names[5]!, '-f', 'image2', 'out%03d.jpg', 'pipe:1']);
    assert.deepEqual(r.inputs, names.slice(0, 4));
    assert.deepEqual(r.inputFormats, [null, null, 'image2', null]);
    assert.deepEqual(r.outputs, [names[4], names[5], 'out%03d.jpg', 'pipe:1']);
    assert.deepEqual(r.outputFormats, [null, null, 'image2', null]);
  });

  it('reads concat lists, HLS, DASH and segment outputs as named', () => {
    const r = a(['-f', 'concat', '-safe', '0', '-i', 'list.txt', '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_flags', 'temp_file', '-hls_segment_filename', 'seg_%03d.ts', 'out/playlist.m3u8', '-f', 'dash', 'm.mpd', '-f', 'segment', '-segment_time', '1', '-segment_list', 'l.csv', 's%03d.ts']);
    assert.deepEqual(r.inputs, ['list.txt']);
    assert.deepEqual(r.inputFormats, ['concat']);
    assert.deepEqual(r.outputs, ['out/playlist.m3u8', 'm.mpd', 's%03d.ts']);
    assert.deepEqual(r.outputFormats, ['hls', 'dash', 'segment']);
  });

  it('lists every target of the tee muxer, with its own format', () => {
    const r = a(['-i', 'in.mp4', '-map', '0', '-f', 'tee', 'a.mkv|[f=mpegts:onfail=ignore]b.ts|[select=\\\'v:0\\\']c\\|d.mp4', 'after.mp4']);
    assert.deepEqual(r.outputs, ['a.mkv', 'b.ts', 'c|d.mp4', 'after.mp4']);
    assert.deepEqual(r.outputFormats, [null, 'mpegts', null, null]);
  });

  it('finds movie=, amovie=, subtitles= and ass= sources, unescaped twice as FFmpeg does', () => {
    const r = a([
      '-f', 'lavfi', '-i', "movie=in.mp4[m];amovie=filename='C\\:/music/a.wav':loop=0,anull",
      '-i', 'x.mp4',
      '-vf', "subtitles='sub\\:x.srt':force_style='Fontsize=24',ass=f=my\\,subs.ass",
      '-filter_complex', "[0:v]null[v];movie@logo=filename=logo\\\\ 1.png:f=image2[l];[v][l]overlay",
      '-af', 'anull',
      'o.mp4',
    ]);
    assert.deepEqual(r.filterSources, ['in.mp4', 'C:/music/a.wav', 'sub:x.srt', 'my,subs.ass', 'logo 1.png']);
    assert.deepEqual(r.inputs, ["movie=in.mp4[m];amovie=filename='C\\:/music/a.wav':loop=0,anull", 'x.mp4']);
  });

  it('does not take movie format_name (f=) for a file name', () => {
    const r = a(['-vf', 'movie=f=mpegts:filename=x.ts', '-i', 'in.mp4', 'o.mp4']);
    assert.deepEqual(r.filterSources, ['x.ts']);
  });

  it('lists other files FFmpeg reads and writes because of options', () => {
    const r = a(['-filter_complex_script', 'graph.txt', '-i', 'in.mp4', '-attach', 'font.ttf', '-/filter:v', 'vf.txt', '-vf', "drawtext=fontfile=/f/a.ttf:textfile=t.txt,lut3d=grade.cube", '-progress', 'prog.txt', '-vstats_file', 'v.log', 'o.mkv']);
    assert.deepEqual(r.otherInputFiles, ['graph.txt', 'font.ttf', 'vf.txt', '/f/a.ttf', 't.txt', 'grade.cube']);
    assert.deepEqual(r.otherOutputFiles, ['prog.txt', 'v.log']);
    assert.deepEqual(r.outputs, ['o.mkv']);
  });

  it('swallows the argument of help-like options, as FFmpeg does', () => {
    assert.deepEqual(a(['-h', 'full']).outputs, []);
    assert.deepEqual(a(['-version']).outputs, []);
  });

  it('survives a truncated or hostile command line', () => {
    assert.deepEqual(a(['-i']).inputs, []);
    assert.deepEqual(a(['-c:v']).outputs, []);
    assert.deepEqual(a(['-vf', "movie='unterminated"]).filterSources, ['unterminated']);
    assert.deepEqual(a(['-vf', '[[[[,;;=']).filterSources, []);
    const long = 'x'.repeat(100_000);
    assert.deepEqual(a(['-i', long, long]).outputs, [long]);
  });
});

describe('analyzeFfprobeArgs', () => {
  it('takes -i or the positional input, skipping option values', () => {
    assert.deepEqual(analyzeFfprobeArgs(['-v', 'error', '-show_format', '-show_streams', '-of', 'json', 'in put.mp4']).inputs, ['in put.mp4']);
    assert.deepEqual(analyzeFfprobeArgs(['-hide_banner', '-i', 'pipe:0', '-select_streams', 'v']).inputs, ['pipe:0']);
    assert.deepEqual(analyzeFfprobeArgs(['-show_entries', 'format=duration', '-count_frames', 'https://h/x.m3u8']).inputs, ['https://h/x.m3u8']);
    assert.deepEqual(analyzeFfprobeArgs(['-f', 'lavfi', '-i', 'testsrc', '-o', 'out.json']), { inputs: ['testsrc'], inputFormats: ['lavfi'] });
  });
});

describe('localFilesOf', () => {
  it('resolves the files behind wrapping protocols, as libavformat does', () => {
    assert.deepEqual(localFilesOf('in.mp4'), ['in.mp4']);
    assert.deepEqual(localFilesOf('./a:b.mp4'), ['./a:b.mp4']);
    assert.deepEqual(localFilesOf('my file:x.mp4'), ['my file:x.mp4']);
    assert.deepEqual(localFilesOf('file:a:b.mp4'), ['a:b.mp4']);
    assert.deepEqual(localFilesOf('concat:a.ts|file:b.ts|cache:c.ts'), ['a.ts', 'b.ts', 'c.ts']);
    assert.deepEqual(localFilesOf('crypto+file:x.enc'), ['x.enc']);
    assert.deepEqual(localFilesOf('crypto:x.enc'), ['x.enc']);
    assert.deepEqual(localFilesOf('async:cache:v.mkv'), ['v.mkv']);
    assert.deepEqual(localFilesOf('subfile,,start,10,end,20,,:part.mkv'), ['part.mkv']);
    assert.deepEqual(localFilesOf('concatf:list.txt'), ['list.txt']);
    for (const none of ['-', 'pipe:', 'pipe:1', 'fd:3', 'https://h/x.mp4', 'rtmp://h/a', 'sub:x.srt', 'data:,x', 'cache:https://h/x']) assert.deepEqual(localFilesOf(none), [], none);
  });
});

describe('FFmpeg token grammar', () => {
  it('unescapes like av_get_token', () => {
    assert.deepEqual(getToken("  a\\:b 'c:d'  :rest", 0, ':'), { token: 'a:b c:d', end: 14 });
    assert.equal(getToken('x\\ ', 0, ':').token, 'x ');
  });
  it('splits filtergraphs into filters with their arguments', () => {
    assert.deepEqual(parseFiltergraph('sws_flags=bicubic;[in]scale=2:2 [a] , null; [a]movie=x\\,y.mp4'), [
      { name: 'scale', args: '2:2' },
      { name: 'null', args: null },
      { name: 'movie', args: 'x,y.mp4' },
    ]);
  });
  it('names the files of a filtergraph script', () => {
    assert.deepEqual(analyzeFiltergraph("[0:v][1:v]overlay[o];\nmovie='logo 2.png'[l];\n[o][l]overlay,lut3d=file=g.cube"), { filterSources: ['logo 2.png'], otherInputFiles: ['g.cube'] });
  });
  it('splits tee specifications', () => {
    assert.deepEqual(parseTeeTargets('[f=flv]rtmp://h/app|'), [{ path: 'rtmp://h/app', format: 'flv' }]);
  });
});

/** FFmpeg's own split of a command line, from its debug report ("Reading option … matched as input/output url"). */
function ffmpegSplit(bin: string, argv: string[], dir: string): { inputs: string[]; outputs: string[] } {
  const file = path.join(dir, 'split.log');
  fs.rmSync(file, { force: true });
  spawnSync(bin, ['-nostdin', ...argv], { cwd: dir, env: { ...process.env, FFREPORT: `file=${file}:level=48` }, timeout: 20_000 });
  const text = fs.readFileSync(file, 'utf8');
  // A name may hold a newline, so a match may span lines, but never across another "Reading option" message.
  const name = String.raw`((?:(?!' \.\.\. matched as|Reading option ')[\s\S])*?)`;
  const inputs = [...text.matchAll(new RegExp(String.raw`^Reading option '-i' \.\.\. matched as input url with argument '${name}'\.$`, 'gm'))].map((m) => m[1]!);
  // After a bare '--', FFmpeg logs the next message on the same line.
  const outputs = [...text.matchAll(new RegExp(String.raw`(?:^|(?<=' \.\.\.))Reading option '${name}' \.\.\. matched as output url\.$`, 'gm'))].map((m) => m[1]!);
  return { inputs, outputs };
}

function bundled(): string | null {
  try {
    const p = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    return spawnSync(p, ['-version']).status === 0 ? p : null;
  } catch {
    return null;
  }
}

// Inputs that do not exist make FFmpeg stop right after splitting, which is all these tests need.
const BATTERY: string[][] = [
  ['-y', '-hide_banner', '-i', 'a.mp4', '-i', 'b c.wav', '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-b:a:0', '96k', 'o1.mkv', '-f', 'null', '-'],
  ['-re', '-stream_loop', '-1', '-itsoffset', '-2', '-i', 'x.ts', '-an', '-sn', '-dn', '-shortest', '-copyts', '-map_metadata:s:a', '0:s:a', 'y.ts'],
  ['-stats', '-nostats', '-benchmark', '-i', "it's \"q\" é.mp4", '-vn', '-movflags', '+faststart', '-metadata', 'title=-x', '-metadata:s:a:0', 'language=eng', 'out\nnl.mp4'],
  ['-f', 'concat', '-safe', '0', '-i', 'list.txt', '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_flags', 'temp_file+delete_segments', '-hls_segment_filename', 'seg_%03d.ts', 'p.m3u8'],
  ['-framerate', '25', '-f', 'image2', '-i', 'img%03d.png', '-filter_complex', '[0:v]split[a][b]', '-map', '[a]', 'a%04d.jpg', '-map', '[b]', '-f', 'segment', '-segment_time', '1', 's%02d.ts'],
  ['-i', 'pipe:0', '-f', 'wav', 'pipe:1', '-f', 'dash', '-seg_duration', '2', 'm.mpd', '--', '-dash-name.mkv'],
  ['-accurate_seek', '-noaccurate_seek', '-ss', '1', '-t', '2', '-i', 'https://example.com/a b.mp4?x=1&y=2', '-vf', 'scale=-2:240', '-af', 'volume=0.5', '-fps_mode', 'cfr', '-autorotate', '0', '-noautorotate', '-autoscale', '1', 'o.webm'],
  ['-copypriorss', '1', '-i', 'in.mkv', '-force_fps', '-nofind_stream_info', '-dump', '-hex', '-xerror', '-psnr', '-vstats', '-debug_ts', 'o.mkv'],
];

for (const [label, bin] of [['Debian ffmpeg', 'ffmpeg'], ['bundled ffmpeg', bundled()]] as const) {
  describe(`analyzeFfmpegArgs agrees with FFmpeg's own split (${label})`, { skip: bin === null ? 'not runnable here' : false }, () => {
    it('finds the same inputs and outputs on real command lines', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-split-'));
      try {
        for (const argv of BATTERY) {
          // -fps_mode and -autoscale are newer than the bundled build.
          if (label === 'bundled ffmpeg' && (argv.includes('-fps_mode') || argv.includes('-autoscale'))) continue;
          const truth = ffmpegSplit(bin!, argv, dir);
          const ours = analyzeFfmpegArgs(argv);
          assert.deepEqual({ inputs: ours.inputs, outputs: ours.outputs }, truth, argv.join(' '));
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('filter sources agree with the files FFmpeg opens (Debian ffmpeg)', () => {
  // FFmpeg's two levels of escaping (ffmpeg-filters(1), "Notes on filtergraph escaping").
  const escapeOption = (v: string) => v.replace(/[\\':]/g, (c) => `\\${c}`);
  const escapeGraph = (v: string) => v.replace(/[\\'[\],;]/g, (c) => `\\${c}`);

  it('unescapes movie= and subtitles= file names exactly as FFmpeg does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-filters-'));
    try {
      const names = ['a b.mp4', "it's.mp4", 'c:d.mp4', 'x,y;[z].mp4', 'back\\slash.mp4', 'é ü.mp4'];
      for (const name of names) {
        const graph = `movie=${escapeGraph(escapeOption(name))}`;
        const argv = ['-f', 'lavfi', '-i', graph, '-vf', `subtitles=${escapeGraph(escapeOption(name))}.srt`, '-frames:v', '1', '-f', 'null', '-'];
        const file = path.join(dir, 'r.log');
        fs.rmSync(file, { force: true });
        spawnSync('ffmpeg', ['-nostdin', ...argv], { cwd: dir, env: { ...process.env, FFREPORT: `file=${file}:level=48` }, timeout: 20_000 });
        const opened = [...fs.readFileSync(file, 'utf8').matchAll(/\] Opening '(.*)' for reading$/gm)].map((m) => m[1]!);
        const ours = analyzeFfmpegArgs(argv).filterSources;
        assert.deepEqual(ours, [name, `${name}.srt`], graph);
        // The movie source is opened first; FFmpeg stops there, since the file does not exist.
        assert.equal(opened[0], name, graph);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('analyzeFfprobeArgs agrees with the file FFprobe opens (Debian ffprobe)', () => {
  it('takes the same input on real command lines', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-probe-'));
    try {
      const cases = [
        ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', '-select_streams', 'v', '-read_intervals', '%+1', '-count_frames', '-show_entries', 'format=duration', 'my file.mp4'],
        ['-hide_banner', '-pretty', '-unit', '-prefix', '-sexagesimal', '-show_frames', '-i', "it's -x.mkv"],
        ['-print_format', 'flat', '-show_data_hash', 'sha256', '-show_private_data', '-analyzeduration', '1', '--', '-dash.ts'],
        ['-show_format', '--', '-v'],
      ];
      for (const argv of cases) {
        const file = path.join(dir, 'p.log');
        fs.rmSync(file, { force: true });
        spawnSync('ffprobe', argv, { cwd: dir, env: { ...process.env, FFREPORT: `file=${file}:level=48` }, timeout: 20_000 });
        const opened = [...fs.readFileSync(file, 'utf8').matchAll(/\] Opening '(.*)' for reading$/gm)].map((m) => m[1]!);
        assert.deepEqual(analyzeFfprobeArgs(argv).inputs, opened, argv.join(' '));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

