/**
 * `ffaudit ffmpeg ARGS` must behave as `ffmpeg ARGS`: same stdout bytes, same stderr (apart from what differs between
 * two bare runs too: heap addresses and the measured speed), same exit status; pipes are recorded as pipe:0/pipe:1
 * with the hash of the bytes that streamed through.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { commandLine } from '../render/shell-quote.js';
import { Ledger } from '../ledger/ledger.js';
import { BIN, Fixture } from '../testing/capture-fixture.js';
import { locateTool } from './locate.js';

/** What legitimately differs between two runs of the same command: heap addresses and the measured speed. */
function stable(stderr: Buffer): string {
  return stderr
    .toString('latin1')
    .replace(/0x[0-9a-f]+/g, '0x?')
    .replace(/speed= *[0-9.e+]+x/g, 'speed=?x')
    .replace(/(fps|bitrate)= *[0-9.]+/g, '$1=?');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('passthrough', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  it('writes the same WAV bytes to stdout and the same stderr, and records pipe:1 with its hash', () => {
    const args = ['-hide_banner', '-nostats', '-f', 'lavfi', '-i', 'sine=d=0.3', '-f', 'wav', '-'];
    const bare = fx.bare(args);
    const aud = fx.ffaudit(['ffmpeg', ...args]);
    assert.equal(aud.status, bare.status);
    assert.equal(aud.status, 0);
    assert.ok(aud.stdout.length > 20000);
    assert.ok(aud.stdout.equals(bare.stdout), 'stdout bytes differ');
    assert.equal(stable(aud.stderr), stable(bare.stderr));
    assert.doesNotMatch(aud.stderr.toString(), /Report written to|started on|Log level/);
    const run = fx.lastRun();
    assert.equal(run.status, 'ok');
    assert.deepEqual(run.outputs, [{ path: 'pipe:1', size: aud.stdout.length, sha256: sha(aud.stdout) }]);
  });

  it('reads piped media from stdin and records pipe:0 with the hash of what went through', () => {
    const wav = fx.bare(['-v', 'error', '-f', 'lavfi', '-i', 'sine=d=0.3', '-f', 'wav', '-']).stdout;
    const args = ['-hide_banner', '-nostats', '-f', 'wav', '-i', '-', '-f', 's16le', '-'];
    const bare = fx.bare(args, { input: wav });
    const aud = fx.ffaudit(['ffmpeg', ...args], { input: wav });
    assert.equal(aud.status, bare.status);
    assert.ok(aud.stdout.equals(bare.stdout), 'stdout bytes differ');
    assert.equal(stable(aud.stderr), stable(bare.stderr));
    const run = fx.lastRun();
    // The same WAV bytes went through pipe:1 of the test above: that run's end is named as their producer.
    const { produced_by: producer, ...input } = run.inputs[0]!;
    assert.deepEqual([input], [{ path: 'pipe:0', size: wav.length, sha256: sha(wav) }]);
    assert.ok(typeof producer === 'object' && Number.isSafeInteger(producer.index) && /^[0-9a-f]{64}$/.test(producer.leaf), JSON.stringify(producer));
    assert.deepEqual(run.outputs, [{ path: 'pipe:1', size: aud.stdout.length, sha256: sha(aud.stdout) }]);
  });

  it('leaves a pipe FFmpeg shares with ffaudit blocking: nothing is lost to a slow reader (2>&1 | slow reader)', () => {
    // A user's pipeline, run by sh only to build it: ffprobe writes its JSON straight into the pipe it shares with
    // ffaudit's stderr. Were that pipe made non-blocking while ffprobe runs (as building Node's process.stderr
    // does), ffprobe's writes would fail with EAGAIN once the reader fell 64 KiB behind, and the output would be cut
    // short. Quiet, and with FFmpeg's log on stderr (which ffaudit passes on while ffprobe writes its JSON).
    fx.media('many-packets.nut', ['-f', 'lavfi', '-i', 'testsrc=duration=20:size=32x24:rate=50', '-c:v', 'rawvideo']);
    for (const level of [['-v', 'quiet'], []]) {
      const probe = ['ffprobe', ...level, '-of', 'json', '-show_packets', 'many-packets.nut'];
      const bare = spawnSync('sh', ['-c', `${commandLine(probe)} 2>&1 | wc -c`], { cwd: fx.dir, env: fx.env() });
      const want = Number(bare.stdout.toString().trim());
      assert.ok(want > 256 << 10, `${want} bytes are not enough to fill a pipe`);
      const cmd = `${commandLine([process.execPath, BIN, '--ledger', fx.ledger, ...probe])} 2>&1 | (sleep 1; wc -c)`;
      const r = spawnSync('sh', ['-c', cmd], { cwd: fx.dir, env: fx.env() });
      assert.equal(Number(r.stdout.toString().trim()), want, `${level.join(' ') || 'default log level'}: ${r.stderr.toString()}`);
    }
  });

  it('stops FFmpeg as a closed pipe would when the reader of its stdout goes away (| head -c 1000)', () => {
    const ff = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=600:size=320x240:rate=25', '-f', 'rawvideo', '-'];
    const started = Date.now();
    const cmd = `${commandLine([process.execPath, BIN, '--ledger', fx.ledger, 'ffmpeg', ...ff])} 2>/dev/null; echo "exit $?" >&2`;
    const r = spawnSync('sh', ['-c', `(${cmd}) | head -c 1000 | wc -c`], { cwd: fx.dir, env: fx.env(), timeout: 90_000 });
    assert.equal(r.stdout.toString().trim(), '1000');
    assert.match(r.stderr.toString(), /exit 1\n/);
    assert.ok(Date.now() - started < 60_000, 'FFmpeg ran on after its reader had gone');
    const run = fx.lastRun();
    assert.equal(run.status, 'failed');
    assert.deepEqual(run.outputs.map((o) => o.path), ['pipe:1']);
  });

  it('records the run, and fails it, when its stdout cannot be written (> /dev/full)', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const ff = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=600:size=320x240:rate=25', '-f', 'rawvideo', '-'];
      const r = spawnSync(process.execPath, [BIN, '--ledger', fx.ledger, 'ffmpeg', ...ff], { cwd: fx.dir, env: fx.env(), stdio: ['ignore', full, 'pipe'], timeout: 90_000 });
      assert.notEqual(r.status, 0);
      assert.equal(r.signal, null);
      assert.ok(!r.stderr.toString().includes('    at '), r.stderr.toString());
      const run = fx.lastRun();
      assert.notEqual(run.status, 'incomplete');
      assert.deepEqual(run.outputs.map((o) => [o.path, o.size]), [['pipe:1', 0]]);
      const l = Ledger.open({ dir: fx.ledger, explicit: true });
      try {
        const end = JSON.parse(l.entry(run.entries[1]!).toString('utf8')) as { notes?: string[] };
        assert.match(JSON.stringify(end.notes ?? []), /stdout \(pipe:1\) was cut short: ENOSPC/);
      } finally {
        l.close();
      }
    } finally {
      closeSync(full);
    }
  });

  it('passes progress lines ending in \\r through unchanged', () => {
    const aud = fx.ffaudit(['ffmpeg', '-hide_banner', '-stats', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=64x48:rate=25', '-f', 'null', '-']);
    assert.equal(aud.status, 0);
    assert.match(aud.stderr.toString(), /frame= *1 [^\n]*\rframe= *25 /);
  });

  it("keeps FFmpeg's Overwrite? prompt and its answer from stdin", () => {
    const out = fx.media('exists.mp4');
    const before = readFileSync(out);
    const args = ['-hide_banner', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=10', out];
    const bare = fx.bare(args, { input: 'n\n' });
    const aud = fx.ffaudit(['ffmpeg', ...args], { input: 'n\n' });
    assert.equal(aud.status, bare.status);
    assert.equal(aud.status, 1);
    assert.equal(stable(aud.stderr), stable(bare.stderr));
    assert.match(aud.stderr.toString(), /Overwrite\? \[y\/N\] Not overwriting - exiting/);
    assert.ok(readFileSync(out).equals(before));
    const run = fx.lastRun();
    assert.equal(run.status, 'failed');
    assert.equal(run.exit_code, 1);
    // The output was named but not written: recorded with the hash of what is there, unchanged.
    assert.equal(run.outputs[0]?.sha256, sha(before));
  });

  it("returns FFmpeg's own exit status and stderr for arguments it rejects", () => {
    for (const args of [['-hide_banner', '-no_such_option', '1', 'x.mp4'], ['-hide_banner', '-i', 'missing.mp4', 'y.mp4'], ['-hide_banner']]) {
      const bare = fx.bare(args);
      const aud = fx.ffaudit(['ffmpeg', ...args]);
      assert.equal(aud.status, bare.status, args.join(' '));
      assert.notEqual(aud.status, 0);
      assert.equal(stable(aud.stderr), stable(bare.stderr), args.join(' '));
      const run = fx.lastRun();
      assert.equal(run.status, 'failed');
      assert.equal(run.exit_code, bare.status);
    }
    const run = fx.runs().find((r) => r.argv.includes('missing.mp4'))!;
    assert.deepEqual(run.inputs, [{ path: fx.path('missing.mp4'), size: null, sha256: null, error: 'ENOENT' }]);
    assert.deepEqual(run.outputs, [{ path: fx.path('y.mp4'), size: null, sha256: null, error: 'ENOENT' }]);
  });

  it("leaves the user's own -report where FFmpeg puts it, and still records the run", () => {
    fx.media('rep-src.mp4');
    const env = fx.env({ FFREPORT: `file=${fx.path('mine-%p.log')}:level=32` });
    const aud = fx.ffaudit(['ffmpeg', '-hide_banner', '-nostats', '-i', 'rep-src.mp4', '-y', 'rep-out.mkv'], { env });
    assert.equal(aud.status, 0, aud.stderr.toString());
    // FFmpeg itself announces the user's report, as it would without ffaudit.
    assert.match(aud.stderr.toString(), /Report written to ".*mine-ffmpeg\.log"/);
    const text = readFileSync(fx.path('mine-ffmpeg.log'), 'utf8');
    assert.match(text, /Output #0, matroska/);
    const run = fx.lastRun();
    assert.deepEqual(
      run.outputs.map((o) => o.path),
      [fx.path('rep-out.mkv')],
    );
    assert.ok(run.report_sha256);
  });

  it('-report (no FFREPORT): FFmpeg writes its ffmpeg-YYYYMMDD-HHMMSS.log in the working directory as usual, and it is recorded', () => {
    fx.media('r2.mp4');
    const before = new Set(readdirSync(fx.dir));
    const aud = fx.ffaudit(['ffmpeg', '-hide_banner', '-nostats', '-report', '-i', 'r2.mp4', '-y', 'r2.mkv']);
    assert.equal(aud.status, 0, aud.stderr.toString());
    const logs = readdirSync(fx.dir).filter((n) => !before.has(n) && /^ffmpeg-\d{8}-\d{6}\.log$/.test(n));
    assert.equal(logs.length, 1);
    assert.match(aud.stderr.toString(), new RegExp(`Report written to "${logs[0]!}"`));
    const run = fx.lastRun();
    assert.ok(run.report_sha256);
    assert.deepEqual(run.outputs.map((o) => o.path), [fx.path('r2.mkv')]);
  });

  it('ffprobe and the bundled 2018 FFmpeg: stderr as without ffaudit', () => {
    fx.media('p.mp4');
    const probe = ['-hide_banner', 'p.mp4'];
    const bareProbe = spawnSync('ffprobe', probe, { cwd: fx.dir, env: fx.env() });
    const audProbe = fx.ffaudit(['ffprobe', ...probe]);
    assert.equal(audProbe.status, 0);
    assert.equal(stable(audProbe.stderr), stable(bareProbe.stderr));
    assert.match(audProbe.stderr.toString(), /Stream #0:0/);
    assert.equal(fx.lastRun().tool, 'ffprobe');
    const bundled = locateTool('ffmpeg', undefined, { PATH: '' });
    const args = ['-hide_banner', '-nostats', '-f', 'lavfi', '-i', 'sine=d=0.2', '-f', 'wav', '-'];
    const bare = spawnSync(bundled, args, { cwd: fx.dir, env: fx.env() });
    const aud = fx.ffaudit(['--ffmpeg', bundled, 'ffmpeg', ...args]);
    assert.equal(aud.status, bare.status);
    assert.ok(aud.stdout.equals(bare.stdout));
    assert.equal(stable(aud.stderr), stable(bare.stderr));
    assert.match(fx.lastRun().ffmpeg.path, /@ffmpeg-installer/);
  });

  it('keeps FFmpeg\'s colours when stderr is a terminal, and adds none when it is not', (t) => {
    if (spawnSync('python3', ['-c', 'import pty']).status !== 0) return t.skip('python3 with pty is needed for a terminal');
    // python3's pty.spawn runs the argument array on a new pseudo-terminal (no shell) and copies what it prints.
    const onTerminal = (argv: string[]) =>
      spawnSync('python3', ['-c', 'import pty, sys; pty.spawn(sys.argv[1:])', ...argv], { cwd: fx.dir, env: fx.env({ TERM: 'xterm' }) }).stdout.toString('latin1');
    const missing = fx.path('no-such-input.mp4');
    const bare = onTerminal(['ffmpeg', '-v', 'error', '-i', missing]);
    const audited = onTerminal([process.execPath, BIN, '--ledger', fx.ledger, 'ffmpeg', '-v', 'error', '-i', missing]);
    const ESC = '\u001b[';
    assert.ok(bare.includes(ESC) && bare.includes('No such file'), JSON.stringify(bare));
    assert.equal(audited, bare);
    const piped = fx.ffaudit(['ffmpeg', '-v', 'error', '-i', missing], { env: fx.env({ TERM: 'xterm' }) });
    assert.match(piped.stderr.toString('latin1'), /No such file/);
    assert.ok(!piped.stderr.toString('latin1').includes(ESC));
  });
});
