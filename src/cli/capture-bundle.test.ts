/**
 * The bundled capture path (dist/bundle/capture.cjs, built by `npm run build`) is what bin/ffaudit.js runs for
 * `ffaudit ffmpeg|ffprobe …`: these tests check that it is really what is loaded, without Node's ES module loader,
 * and that it records a run exactly as the separate modules do (dist/cli/main.js, which imports them one by one).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { RunRecord } from '../core/run.js';
import { Ledger } from '../ledger/ledger.js';
import { BIN, Fixture } from '../testing/capture-fixture.js';
import { PROJECT_ROOT } from '../testing/fixtures.js';

const MAIN = join(PROJECT_ROOT, 'dist/cli/main.js');
const ROOT_URL = pathToFileURL(PROJECT_ROOT).href;

/** A loader hook that appends the URL and format of every module the ES module loader loads to ESM_LOG. */
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { const r = await next(url, context); appendFileSync(process.env.ESM_LOG, url + ' ' + r.format + '\\\\n'); return r; }
\`));
`)}`;
/** Preloaded with --require: writes the file name of every CommonJS module loaded to CJS_LOG when the process exits. */
const CJS_LOGGER = `process.on('exit', () => require('node:fs').writeFileSync(process.env.CJS_LOG, Object.keys(require.cache).join('\\n')));\n`;

/** Deterministic output (bitexact), so that both ways of running produce the very same file. */
function transcode(out: string): string[] {
  return ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.4:size=64x48:rate=10', '-c:v', 'mpeg4', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-y', out];
}

/** What must not differ between two recordings of the same command (times, ids and durations may). */
function comparable(r: RunRecord, dir: string) {
  const rel = (p: string) => p.replace(dir, '<dir>');
  return {
    tool: r.tool,
    status: r.status,
    exit_code: r.exit_code,
    signal: r.signal,
    user: r.user,
    uid: r.uid,
    host: r.host,
    cwd: rel(r.cwd),
    argv: r.argv.map(rel),
    ffmpeg: r.ffmpeg,
    inputs: r.inputs.map((f) => ({ ...f, path: rel(f.path) })),
    outputs: r.outputs.map((f) => ({ ...f, path: rel(f.path) })),
    streams: r.streams,
    entries: r.entries.length,
    report: r.report_sha256 !== null,
  };
}

describe('bundled capture module', () => {
  const fx = new Fixture('ffaudit-bundle-');
  after(() => fx.remove());

  it('is all an audited run loads of ours, besides bin/ffaudit.js, the command-line check and the bundled SQLite driver; no ES module', () => {
    const esmLog = fx.path('esm.txt');
    const cjsLog = fx.path('cjs.txt');
    const logger = fx.path('cjs-logger.cjs');
    writeFileSync(esmLog, '');
    writeFileSync(logger, CJS_LOGGER);
    const r = spawnSync(process.execPath, ['--import', HOOK, '--require', logger, BIN, '--ledger', fx.ledger, 'ffmpeg', ...transcode(fx.path('a.mp4'))], {
      cwd: fx.dir,
      env: fx.env({ ESM_LOG: esmLog, CJS_LOG: cjsLog }),
    });
    assert.equal(r.status, 0, r.stderr.toString());
    const ours = (names: string[]) => names.filter((n) => n.startsWith(PROJECT_ROOT) && !n.includes('/node_modules/')).map((n) => n.slice(PROJECT_ROOT.length));
    const cjs = ours(readFileSync(cjsLog, 'utf8').split('\n'));
    const driver = `dist/bundle/better-sqlite3-${(JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version}.cjs`;
    assert.deepEqual(cjs.sort(), ['bin/code-cache.js', 'bin/ffaudit.js', driver, 'dist/bundle/capture.cjs', 'dist/bundle/invocation.cjs']);
    // better-sqlite3's own JavaScript is not loaded beside its bundle (its native addon is).
    const driverFiles = readFileSync(cjsLog, 'utf8').split('\n').filter((n) => n.includes('/node_modules/better-sqlite3/') && n.endsWith('.js'));
    assert.deepEqual(driverFiles, []);
    // The hook sees every ES module. With --import, Node hands the main script to the ES module loader too, which
    // finds it is CommonJS; no ES module of ours is loaded.
    const esm = readFileSync(esmLog, 'utf8').split('\n').filter((u) => u.startsWith(ROOT_URL) && !u.includes('/node_modules/'));
    assert.deepEqual(esm, [`${ROOT_URL}bin/ffaudit.js commonjs`]);
    assert.ok(readFileSync(cjsLog, 'utf8').includes('/node_modules/better-sqlite3/'), 'the hook found the SQLite driver loaded');
    // The ML-DSA-44 package is loaded where such a cosignature is made or checked (pq/ml-dsa44.ts), never by a run.
    const loaded = [...readFileSync(cjsLog, 'utf8').split('\n'), ...readFileSync(esmLog, 'utf8').split('\n')];
    assert.deepEqual(loaded.filter((n) => n.includes('/node_modules/@noble/')), []);
    assert.equal(fx.lastRun().status, 'ok');
  });

  it('compiles the capture path once: the V8 code cache is written after a run, used after, and never fails one', () => {
    const cacheHome = fx.path('cache-home');
    const run = (extra: NodeJS.ProcessEnv = {}) => {
      const r = fx.ffaudit(['ffmpeg', ...transcode(fx.path('cached.mp4'))], { env: fx.env({ XDG_CACHE_HOME: cacheHome, ...extra }) });
      assert.equal(r.status, 0, r.stderr.toString());
      assert.equal(r.stderr.length, 0, r.stderr.toString());
      return fx.lastRun();
    };
    const cacheFiles = () => {
      try {
        return readdirSync(join(cacheHome, 'ffaudit'));
      } catch {
        return [];
      }
    };
    run({ FFAUDIT_CODE_CACHE: '0' });
    assert.deepEqual(cacheFiles(), [], 'FFAUDIT_CODE_CACHE=0 writes nothing');
    run();
    const [name] = cacheFiles();
    assert.match(name ?? '', /^capture-[0-9a-f]{32}\.v8$/);
    const file = join(cacheHome, 'ffaudit', name!);
    const made = readFileSync(file);
    assert.ok(made.length > 10_000);
    // Accepted by V8: not written again.
    const mtime = statSync(file).mtimeMs;
    assert.equal(run().status, 'ok');
    assert.equal(statSync(file).mtimeMs, mtime);
    // Garbage in its place is rejected, compiled over and replaced; a stale cache of another build is removed.
    const garbage = randomBytes(made.length);
    writeFileSync(file, garbage);
    writeFileSync(join(cacheHome, 'ffaudit', `capture-${'0'.repeat(32)}.v8`), 'stale');
    assert.equal(run().status, 'ok');
    assert.deepEqual(cacheFiles(), [name]);
    assert.ok(!readFileSync(file).equals(garbage), 'the rejected cache was replaced');
    // A cache directory that cannot be written costs only the compile.
    rmSync(join(cacheHome, 'ffaudit'), { recursive: true });
    writeFileSync(join(cacheHome, 'ffaudit'), 'not a directory');
    assert.equal(run().status, 'ok');
  });

  it('hashes a large input in its worker thread when the capture path runs from the code cache', () => {
    // 70 MiB of raw 1024x1024 gray frames; FFmpeg reads one frame, ffaudit hashes the whole file in a worker thread.
    // A dynamic import() in the bundle would fail once V8 accepts the cache (no loader): the hash would be missing.
    const big = Buffer.alloc(70 << 20, 0x40);
    writeFileSync(fx.path('big.gray'), big);
    const want = createHash('sha256').update(big).digest('hex');
    const cacheHome = fx.path('cache-home-large');
    for (let i = 0; i < 2; i++) {
      const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', '1024x1024', '-i', 'big.gray', '-frames:v', '1', '-f', 'null', '-'], {
        env: fx.env({ XDG_CACHE_HOME: cacheHome }),
      });
      assert.equal(r.status, 0, r.stderr.toString());
      assert.equal(r.stderr.toString(), '', `run ${i + 1} printed on stderr`);
      const input = fx.lastRun().inputs.find((f) => f.path.endsWith('/big.gray'));
      assert.deepEqual({ sha256: input?.sha256, size: input?.size }, { sha256: want, size: big.length }, `run ${i + 1}: ${JSON.stringify(input)}`);
    }
    // The first run wrote the cache the second one loaded (that V8 accepts it is the test above's mtime check).
    assert.equal(readdirSync(join(cacheHome, 'ffaudit')).length, 1, 'the first run wrote a cache');
  });

  it('leaves every other command to dist/cli/main.js', () => {
    const r = spawnSync(process.execPath, [BIN, '--ledger', fx.ledger, 'verify'], { cwd: fx.dir, env: fx.env() });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.match(r.stdout.toString(), /intact|INTACT/i);
  });

  it('records the same run as the separate modules', () => {
    const before = fx.runs().length;
    const viaBin = fx.ffaudit(['ffmpeg', ...transcode(fx.path('same.mp4'))]);
    assert.equal(viaBin.status, 0, viaBin.stderr.toString());
    const viaMain = spawnSync(process.execPath, [MAIN, '--ledger', fx.ledger, 'ffmpeg', ...transcode(fx.path('same.mp4'))], { cwd: fx.dir, env: fx.env() });
    assert.equal(viaMain.status, 0, viaMain.stderr.toString());
    assert.equal(viaMain.stderr.length, 0);
    assert.equal(viaBin.stderr.length, 0);
    const runs = fx.runs();
    assert.equal(runs.length, before + 2);
    const [bundled, separate] = runs.slice(-2) as [RunRecord, RunRecord];
    assert.notEqual(bundled.id, separate.id);
    assert.deepEqual(comparable(bundled, fx.dir), comparable(separate, fx.dir));
    assert.equal(bundled.outputs.length, 1);
    assert.match(bundled.outputs[0]!.sha256 ?? '', /^[0-9a-f]{64}$/);
    // Both stored FFmpeg's report, and both reports name the output FFmpeg opened.
    const l = Ledger.open({ dir: fx.ledger, explicit: true });
    try {
      for (const r of [bundled, separate]) {
        const report = l.blob(r.report_sha256!)!.toString('utf8');
        assert.ok(report.includes(`Output #0, mp4, to '${fx.path('same.mp4')}'`), report.slice(0, 400));
      }
    } finally {
      l.close();
    }
  });

  it('maps its own failures to the same exit statuses and single line (fail closed: 125)', () => {
    const missing = fx.path('no-ledger-here');
    const args = ['--ledger', missing, 'ffmpeg', ...transcode(fx.path('never.mp4'))];
    const viaBin = spawnSync(process.execPath, [BIN, ...args], { cwd: fx.dir, env: fx.env() });
    const viaMain = spawnSync(process.execPath, [MAIN, ...args], { cwd: fx.dir, env: fx.env() });
    assert.equal(viaBin.status, 125);
    assert.equal(viaMain.status, 125);
    assert.equal(viaBin.stderr.toString(), viaMain.stderr.toString());
    assert.match(viaBin.stderr.toString(), /^ffaudit: the run could not be recorded, so ffmpeg was not started: no ledger at .*\n$/);
    const noTool = spawnSync(process.execPath, [BIN, '--ledger', fx.ledger, '--ffmpeg', fx.path('not-there'), 'ffmpeg', '-version'], { cwd: fx.dir, env: fx.env() });
    assert.equal(noTool.status, 127);
    assert.equal(noTool.stderr.toString().split('\n').length, 2, noTool.stderr.toString());
  });
});
