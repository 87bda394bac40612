import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeFfmpegArgs, analyzeFfprobeArgs, getToken, parseFiltergraph, parseTeeTargets } from './ffargs.js';

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
  it('splits tee specifications', () => {
    assert.deepEqual(parseTeeTargets('[f=flv]rtmp://h/app|'), [{ path: 'rtmp://h/app', format: 'flv' }]);
  });
});
