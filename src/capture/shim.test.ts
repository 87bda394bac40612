/** Shims and finding the real FFmpeg: a script calling plain `ffmpeg` is audited, and the shim never finds itself. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fixture } from '../testing/capture-fixture.js';
import { locateTool, SHIM_MARKER } from './locate.js';

describe('shim install', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  it('writes executable ffmpeg and ffprobe scripts that audit calls by name, arguments untouched', () => {
    const r = fx.ffaudit(['shim', 'install', fx.path('shims')]);
    assert.equal(r.status, 0, r.stderr.toString());
    for (const t of ['ffmpeg', 'ffprobe']) {
      assert.ok((statSync(fx.path('shims', t)).mode & 0o111) !== 0);
      assert.ok(readFileSync(fx.path('shims', t), 'utf8').includes(SHIM_MARKER));
    }
    const odd = `o $HOME "q" \`x\` 'y'.mkv`;
    // A script that knows nothing of ffaudit; the ledger given at install is used.
    const env = fx.env({ PATH: `${fx.path('shims')}:${process.env.PATH ?? ''}` });
    const s = spawnSync('sh', ['-c', 'ffmpeg -v error -f lavfi -i testsrc=duration=0.2:size=32x32:rate=10 -y "$1" && ffprobe -v error "$1"', 'sh', odd], { cwd: fx.dir, env });
    assert.equal(s.status, 0, s.stderr.toString());
    assert.ok(existsSync(fx.path(odd)));
    const runs = fx.runs();
    assert.deepEqual(runs.map((x) => x.tool), ['ffmpeg', 'ffprobe']);
    assert.deepEqual(runs[0]!.outputs.map((o) => o.path), [fx.path(odd)]);
    assert.deepEqual(runs[1]!.inputs.map((o) => o.path), [fx.path(odd)]);
    // The real binary was run, not the shim.
    assert.equal(runs[0]!.ffmpeg.path.startsWith(fx.path('shims')), false);
  });

  it('without --ledger, the shim reads FFAUDIT_LEDGER when it runs', () => {
    const other = new Fixture();
    try {
      const inst = other.ffaudit(['shim', 'install', other.path('s2')], { noLedger: true });
      assert.equal(inst.status, 0, inst.stderr.toString());
      assert.equal(readFileSync(other.path('s2', 'ffmpeg'), 'utf8').includes('--ledger'), false);
      const env = other.env({ PATH: `${other.path('s2')}:${process.env.PATH ?? ''}`, FFAUDIT_LEDGER: other.ledger });
      const s = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=d=0.1', '-y', 'x.wav'], { cwd: other.dir, env });
      assert.equal(s.status, 0, s.stderr.toString());
      assert.equal(other.runs().length, 1);
    } finally {
      other.remove();
    }
  });
});

describe('locateTool', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  it('skips shims and links to ffaudit itself on PATH, and takes the first real binary', () => {
    const real = realpathSync(spawnSync('sh', ['-c', 'command -v ffmpeg']).stdout.toString().trim());
    mkdirSync(fx.path('a'));
    mkdirSync(fx.path('b'));
    writeFileSync(fx.path('a', 'ffmpeg'), `#!/bin/sh\n# ${SHIM_MARKER}\nexit 99\n`, { mode: 0o755 });
    symlinkSync(new URL('../../bin/ffaudit.js', import.meta.url).pathname, fx.path('b', 'ffmpeg'));
    const found = locateTool('ffmpeg', undefined, { PATH: `${fx.path('a')}:${fx.path('b')}:relative/dir:${dirname(real)}` });
    assert.equal(realpathSync(found), real);
  });

  it('falls back to the bundled binary when PATH has none, and fails with FFMPEG_NOT_FOUND for a bad explicit path', () => {
    const found = locateTool('ffmpeg', undefined, { PATH: fx.path('a') });
    assert.match(found, /node_modules\/@ffmpeg-installer\//);
    const probe = locateTool('ffprobe', undefined, { PATH: '' });
    assert.match(probe, /node_modules\/@ffprobe-installer\//);
    assert.throws(() => locateTool('ffmpeg', fx.path('nothing'), {}), { code: 'FFMPEG_NOT_FOUND' });
    assert.throws(() => locateTool('ffmpeg', undefined, { FFAUDIT_FFMPEG: fx.path('a') }), { code: 'FFMPEG_NOT_FOUND' });
  });

  it('runs the bundled FFmpeg end to end and records its identity', () => {
    const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=10', '-y', 'bundled.mkv'], { env: fx.env({ PATH: '/nonexistent' }) });
    assert.equal(r.status, 0, r.stderr.toString());
    const run = fx.lastRun();
    assert.match(run.ffmpeg.path, /@ffmpeg-installer/);
    assert.match(run.ffmpeg.version ?? '', /^N-/);
    assert.deepEqual(run.outputs.map((o) => o.path), [fx.path('bundled.mkv')]);
    assert.ok(run.outputs[0]!.sha256);
    assert.ok(run.streams.length >= 2);
  });
});
