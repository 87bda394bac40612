/**
 * Failure and concurrency: signals reach FFmpeg and end the run as `terminated`; a killed ffaudit leaves an
 * `incomplete` run and a ledger that verifies; the start is never skipped silently (fail closed, exit 125);
 * sixteen simultaneous runs all land; and odd input (huge arguments, non-UTF-8 names, unreadable files) is recorded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Ledger } from '../ledger/ledger.js';
import { alive, BIN, childPids, Fixture, runAsync, waitFor } from '../testing/capture-fixture.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const LONG = ['-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc=duration=30:size=32x32:rate=10', '-f', 'null', '-'];

describe('signals', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  // FFmpeg stops cleanly on SIGINT, SIGTERM and SIGQUIT and exits 255, which is then ffaudit's status too; SIGHUP
  // kills it (128 + 1). Outside a terminal's foreground group, as here (detached).
  const expected = { SIGTERM: 255, SIGINT: 255, SIGHUP: 128 + 1, SIGQUIT: 255 };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) {
    it(`${sig} to ffaudit reaches FFmpeg; FFmpeg's status (${expected[sig]}); the run is terminated`, async () => {
      const c = fx.start(['ffmpeg', ...LONG], { detached: true });
      const err: Buffer[] = [];
      c.stderr.on('data', (b: Buffer) => err.push(b));
      const closed = new Promise<{ code: number | null }>((r) => c.on('close', (code) => r({ code })));
      assert.ok(await waitFor(() => Buffer.concat(err).includes('frame='), 15_000), 'FFmpeg did not start');
      const ff = childPids(c.pid!);
      assert.equal(ff.length, 1);
      c.kill(sig);
      const { code } = await closed;
      assert.equal(code, expected[sig]);
      assert.ok(await waitFor(() => !alive(ff[0]!), 5000), 'FFmpeg outlived ffaudit');
      const run = fx.lastRun();
      assert.equal(run.status, 'terminated');
      assert.equal(run.signal, sig);
      assert.ok(run.duration_ms! < 25_000);
    });
  }

  it('SIGKILL of ffaudit leaves an incomplete run, FFmpeg does not run on, and the ledger verifies', async () => {
    const before = fx.runs().length;
    const c = fx.start(['ffmpeg', ...LONG]);
    const err: Buffer[] = [];
    c.stderr.on('data', (b: Buffer) => err.push(b));
    const closed = new Promise((r) => c.on('close', r));
    assert.ok(await waitFor(() => Buffer.concat(err).includes('frame='), 15_000));
    const ff = childPids(c.pid!);
    c.kill('SIGKILL');
    await closed;
    // Its next progress line goes to the pipe we held: SIGPIPE ends it.
    assert.ok(await waitFor(() => !alive(ff[0]!), 5000), 'FFmpeg outlived a killed ffaudit');
    const runs = fx.runs();
    assert.equal(runs.length, before + 1);
    assert.equal(runs.at(-1)!.status, 'incomplete');
    assert.equal(runs.at(-1)!.entries.length, 1);
    const v = fx.ffaudit(['verify']);
    assert.equal(v.status, 0, v.stdout.toString() + v.stderr.toString());
  });
});

describe('inputs that change while FFmpeg reads them', () => {
  it('are flagged changed_during_run; unchanged ones are not', async () => {
    const fx = new Fixture();
    try {
      fx.media('steady.wav', ['-f', 'lavfi', '-i', 'sine=d=1']);
      fx.media('moving.wav', ['-f', 'lavfi', '-i', 'sine=d=1']);
      const c = fx.start(['ffmpeg', '-hide_banner', '-re', '-i', 'moving.wav', '-i', 'steady.wav', '-map', '0', '-map', '1', '-f', 'null', '-']);
      const err: Buffer[] = [];
      c.stderr.on('data', (b: Buffer) => err.push(b));
      const closed = new Promise((r) => c.on('close', r));
      assert.ok(await waitFor(() => Buffer.concat(err).includes('size='), 15_000));
      appendFileSync(fx.path('moving.wav'), Buffer.alloc(4096));
      await closed;
      const run = fx.lastRun();
      assert.equal(run.status, 'ok');
      const byName = new Map(run.inputs.map((i) => [i.path, i]));
      assert.equal(byName.get(fx.path('moving.wav'))?.changed_during_run, true);
      assert.equal(byName.get(fx.path('steady.wav'))?.changed_during_run, undefined);
      assert.equal(byName.get(fx.path('steady.wav'))?.sha256, sha(readFileSync(fx.path('steady.wav'))));
    } finally {
      fx.remove();
    }
  });
});

describe('fail closed', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  const job = (out: string) => ['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=10', '-y', out];

  it('a missing ledger: exit 125, one line, FFmpeg not run', () => {
    const r = fx.ffaudit(['--ledger', fx.path('nowhere'), ...job('a.mp4')], { noLedger: true });
    assert.equal(r.status, 125);
    assert.match(r.stderr.toString(), /^ffaudit: the run could not be recorded, so ffmpeg was not started: no ledger at .*\n$/);
    assert.equal(existsSync(fx.path('a.mp4')), false);
  });

  it('a damaged database or a missing signing key: exit 125, FFmpeg not run; nothing recorded is lost', () => {
    assert.equal(fx.ffaudit(job('first.mp4')).status, 0);
    const key = readFileSync(fx.path('ledger', 'signing.key'));
    rmSync(fx.path('ledger', 'signing.key'));
    const r = fx.ffaudit(job('b.mp4'));
    assert.equal(r.status, 125);
    assert.equal(r.stderr.toString().split('\n').length, 2);
    assert.equal(existsSync(fx.path('b.mp4')), false);
    writeFileSync(fx.path('ledger', 'signing.key'), key, { mode: 0o600 });
    assert.equal(fx.runs().length, 1);

    const copy = fx.path('ledger-copy');
    mkdirSync(copy);
    for (const f of ['config.json', 'redaction.key', 'signing.key', 'vkey']) writeFileSync(`${copy}/${f}`, readFileSync(fx.path('ledger', f)));
    writeFileSync(`${copy}/ledger.db`, 'this is not a database, an attacker wrote it');
    const r2 = fx.ffaudit(['--ledger', copy, ...job('c.mp4')], { noLedger: true });
    assert.equal(r2.status, 125);
    assert.equal(existsSync(fx.path('c.mp4')), false);
  });

  it('FFAUDIT_POLICY=fail-open runs FFmpeg anyway, with a loud warning', () => {
    const r = fx.ffaudit(['--ledger', fx.path('nowhere'), ...job('d.mp4')], { noLedger: true, env: fx.env({ FFAUDIT_POLICY: 'fail-open' }) });
    assert.equal(r.status, 0, `exit ${r.status} (signal ${r.signal}): ${r.stderr.toString()}`);
    assert.match(r.stderr.toString(), /^ffaudit: WARNING: .*UNAUDITED/);
    assert.ok(existsSync(fx.path('d.mp4')));
  });

  it('no FFmpeg to be found: exit 127, one line, nothing recorded', () => {
    const before = fx.runs().length;
    const r = fx.ffaudit(['ffmpeg', '-version'], { env: fx.env({ FFAUDIT_FFMPEG: fx.path('no-ffmpeg-here') }) });
    assert.equal(r.status, 127);
    assert.match(r.stderr.toString(), /^ffaudit: .*no-ffmpeg-here.* is not an executable file\n$/);
    assert.equal(fx.runs().length, before);
  });

  it('an FFmpeg that cannot be executed: exit 127, and the started run is closed as failed, saying why', () => {
    // execve fails (ENOENT: the interpreter named does not exist) after the start is recorded.
    writeFileSync(fx.path('not-ffmpeg'), '#!/nonexistent/interpreter\n', { mode: 0o755 });
    const r = fx.ffaudit(['ffmpeg', '-version'], { env: fx.env({ FFAUDIT_FFMPEG: fx.path('not-ffmpeg') }) });
    assert.equal(r.status, 127);
    assert.match(r.stderr.toString(), /^ffaudit: cannot start .*not-ffmpeg: E[A-Z]+\n$/);
    const run = fx.lastRun();
    assert.equal(run.status, 'failed');
    assert.equal(run.exit_code, null);
    assert.equal(run.ffmpeg.path, fx.path('not-ffmpeg'));
  });
});

describe('concurrency', () => {
  it('16 runs started at the same moment: 16 complete records, unique indices, verify passes', async () => {
    const fx = new Fixture();
    try {
      const jobs = Array.from({ length: 16 }, (_, i) =>
        runAsync(process.execPath, [BIN, '--ledger', fx.ledger, 'ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', `testsrc=duration=0.1:size=32x32:rate=10`, '-y', `o${i}.mkv`], { cwd: fx.dir, env: fx.env() }),
      );
      const results = await Promise.all(jobs);
      for (const r of results) assert.equal(r.status, 0, r.stderr.toString());
      const runs = fx.runs();
      assert.equal(runs.length, 16);
      assert.ok(runs.every((r) => r.status === 'ok' && r.entries.length === 2));
      const indices = runs.flatMap((r) => r.entries);
      assert.equal(new Set(indices).size, 32);
      assert.deepEqual(new Set(runs.map((r) => r.outputs[0]!.path)), new Set(Array.from({ length: 16 }, (_, i) => fx.path(`o${i}.mkv`))));
      const v = fx.ffaudit(['verify']);
      assert.equal(v.status, 0, v.stdout.toString());
    } finally {
      fx.remove();
    }
  });
});

describe('bad input', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  it('a 100,000-character argument reaches FFmpeg and the ledger whole', () => {
    const title = 'x'.repeat(100_000);
    const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.1:size=32x32:rate=10', '-metadata', `title=${title}`, '-y', 'long.mkv']);
    assert.equal(r.status, 0, r.stderr.toString());
    const run = fx.lastRun();
    assert.equal(run.argv[run.argv.indexOf('-metadata') + 1], `title=${title}`);
    assert.equal(run.status, 'ok');
    assert.equal(fx.ffaudit(['verify']).status, 0);
  });

  it('a file name that is not valid UTF-8 is read correctly and recorded losslessly', () => {
    const src = fx.media('plain.mp4');
    const rawName = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x6d, 0x70, 0x34]); // "f\xff\xfe.mp4"
    const rawPath = Buffer.concat([Buffer.from(`${fx.dir}/`), rawName]);
    writeFileSync(rawPath, readFileSync(src));
    // The bytes can only be passed as such through exec; printf makes them, "$@" passes them on untouched.
    const r = spawnSync('sh', ['-c', 'exec "$0" "$1" --ledger "$2" ffmpeg -v error -i "$(printf "f\\377\\376.mp4")" -c copy -y out.mp4', process.execPath, BIN, fx.ledger], { cwd: fx.dir, env: fx.env() });
    assert.equal(r.status, 0, r.stderr.toString());
    const run = fx.lastRun();
    const input = run.inputs[0]!;
    assert.equal(input.path_b64, rawPath.toString('base64'));
    assert.equal(input.sha256, sha(readFileSync(src)));
    assert.ok(existsSync(fx.path('out.mp4')));
  });

  it('an output named in bytes that are not UTF-8 gets its format from its extension, as with bare FFmpeg', () => {
    const rawName = Buffer.from([0x6f, 0xff, 0xfe, 0x2e, 0x6d, 0x6b, 0x76]); // "o\xff\xfe.mkv"
    const rawPath = Buffer.concat([Buffer.from(`${fx.dir}/`), rawName]);
    const r = spawnSync('sh', ['-c', 'exec "$0" "$1" --ledger "$2" ffmpeg -v error -f lavfi -i testsrc=duration=0.2:size=32x32:rate=10 -y "$(printf "o\\377\\376.mkv")"', process.execPath, BIN, fx.ledger], { cwd: fx.dir, env: fx.env() });
    assert.equal(r.status, 0, r.stderr.toString());
    const run = fx.lastRun();
    assert.equal(run.status, 'ok');
    assert.equal(run.outputs.length, 1);
    assert.equal((run.outputs[0] as { path_b64?: string }).path_b64, rawPath.toString('base64'));
    assert.equal(run.outputs[0]!.sha256, sha(readFileSync(rawPath)));
    // Matroska, as the extension says.
    assert.equal(readFileSync(rawPath).subarray(0, 4).toString('hex'), '1a45dfa3');
  });

  it('a non-UTF-8 name FFmpeg would write several files for (HLS, a numbered sequence) is refused before anything runs', () => {
    const before = fx.runs().length;
    for (const [name, args] of [
      ['h\\351.m3u8', ['-f', 'hls']],
      ['h\\351.mpd', []],
      ['img\\351%%03d.png', []], // printf's %% is one %
    ] as const) {
      const r = spawnSync('sh', ['-c', `exec "$0" "$1" --ledger "$2" ffmpeg -v error -f lavfi -i testsrc=duration=1:size=32x32:rate=10 ${args.join(' ')} "$(printf "${name}")"`, process.execPath, BIN, fx.ledger], { cwd: fx.dir, env: fx.env() });
      assert.equal(r.status, 2, name);
      assert.match(r.stderr.toString(), /^ffaudit: argument \d+ is not valid UTF-8 and names a set of files .*FFmpeg was not run.*\n$/);
    }
    assert.equal(fx.runs().length, before);
    assert.deepEqual(readdirSync(fx.dir).filter((n) => /^(h|img)/.test(n)), []);
  });

  it('an input that cannot be read (a directory) is recorded with its error, with FFmpeg’s own status', () => {
    mkdirSync(fx.path('dir.mp4'));
    const bare = fx.bare(['-v', 'error', '-i', 'dir.mp4', '-y', 'z.mkv']);
    const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-i', 'dir.mp4', '-y', 'z.mkv']);
    assert.equal(r.status, bare.status);
    assert.ok(r.stderr.equals(bare.stderr));
    const run = fx.lastRun();
    assert.equal(run.status, 'failed');
    assert.deepEqual(run.inputs, [{ path: fx.path('dir.mp4'), size: null, sha256: null, error: 'not a regular file' }]);
  });

  it('a full disk while storing the report: the end is still recorded, without the report, with a note', () => {
    const other = new Fixture();
    try {
      // A file-size limit stands in for the full disk (RLIMIT_FSIZE, SIGXFSZ ignored so writes fail with EFBIG):
      // the start (with a 120 kB argument) fits, the start plus the report that repeats it does not.
      const title = randomBytes(90_000).toString('base64');
      const r = spawnSync('sh', ['-c', 'trap "" XFSZ; ulimit -f 400; exec "$@"', 'sh', process.execPath, BIN, '--ledger', other.ledger, 'ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=10', '-metadata', `title=${title}`, '-y', 'full.mkv'], { cwd: other.dir, env: other.env() });
      assert.equal(r.status, 0, r.stderr.toString());
      const run = other.lastRun();
      assert.equal(run.status, 'ok');
      assert.equal(run.report_sha256, null);
      assert.deepEqual(run.outputs.map((o) => o.path), [other.path('full.mkv')]);
      assert.ok(run.outputs[0]!.sha256);
      const l = Ledger.open({ dir: other.ledger, explicit: true });
      const end = JSON.parse(l.entry(run.entries[1]!).toString()) as { notes?: string[] };
      l.close();
      assert.match(end.notes?.[0] ?? '', /^report not stored: /);
      assert.equal(other.ffaudit(['verify']).status, 0);
    } finally {
      other.remove();
    }
  });
});
