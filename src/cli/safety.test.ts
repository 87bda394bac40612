/**
 * Local attacks and robustness: output files written through names another user prepared, a weak redaction key,
 * terminal escapes in a stored report. The -o writes and audited runs spawn the binary (the links are planted at the
 * names the next process ids would use); the other commands run in this process (runCliInProcess).
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fixture } from '../testing/capture-fixture.js';
import { runCliInProcess } from '../testing/cli.js';
import { isOneErrorLine } from '../testing/fixtures.js';
import { atomicFile, openExclusive } from '../ledger/safe-files.js';
import { Ledger } from '../ledger/ledger.js';

const ESC_NAME = 'out\x1b]0;owned\x07\x1b[2J.mp4';

describe('safety', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture('ffaudit-safety-');
    fx.media('in.mp4');
    const r = fx.ffaudit(['ffmpeg', '-nostdin', '-v', 'error', '-i', 'in.mp4', '-c', 'copy', ESC_NAME]);
    assert.equal(r.status, 0, r.stderr.toString());
  });
  after(() => fx.remove());

  describe('-o writes (report, bundle, export)', () => {
    /**
     * What an attacker who can write the output folder does against a predictable temporary name: a link at every
     * name the next few thousand process ids would use, pointing at a file the victim owns.
     */
    function plantLinks(dir: string, name: string, victim: string): string[] {
      const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
      const planted: string[] = [];
      for (let pid = last + 1; pid <= last + 3000; pid++) {
        const p = join(dir, `.${name}.${pid}.tmp`);
        symlinkSync(victim, p);
        planted.push(p);
      }
      return planted;
    }

    for (const [what, args] of [
      ['report', (out: string) => ['report', fx.path(ESC_NAME), '-o', out]],
      ['bundle', (out: string) => ['bundle', fx.path(ESC_NAME), '-o', out]],
      ['export', (out: string) => ['export', '--format', 'ecs', '-o', out]],
    ] as const) {
      it(`${what} -o never writes through a link planted in the output folder`, () => {
        const victim = fx.path(`precious-${what}.txt`);
        writeFileSync(victim, 'the victim owns this\n');
        const outDir = fx.path(`out-${what}`);
        mkdirSync(outDir);
        const planted = plantLinks(outDir, 'result', victim);
        // The target itself is a link too: it is replaced, not followed.
        symlinkSync(victim, join(outDir, 'result'));
        const r = fx.ffaudit(args(join(outDir, 'result')));
        assert.equal(r.status, 0, r.stderr.toString());
        assert.equal(readFileSync(victim, 'utf8'), 'the victim owns this\n');
        assert.ok(lstatSync(join(outDir, 'result')).isFile());
        assert.ok(readFileSync(join(outDir, 'result')).length > 100);
        for (const p of planted) assert.ok(lstatSync(p).isSymbolicLink());
        // Nothing left behind but the result.
        assert.equal(readdirSync(outDir).length, planted.length + 1);
      });
    }

    it('the temporary file is created exclusively and never through a link', () => {
      const dangling = fx.path('dangling');
      symlinkSync(fx.path('nowhere', 'x'), dangling);
      assert.throws(() => openExclusive(dangling), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
      const f = atomicFile(fx.path('atomic.txt'), 0o640);
      f.write('complete');
      assert.deepEqual(readdirSync(fx.dir).filter((n) => n.startsWith('.atomic.txt.')).length, 1);
      f.commit();
      assert.equal(readFileSync(fx.path('atomic.txt'), 'utf8'), 'complete');
      const mode = lstatSync(fx.path('atomic.txt')).mode & 0o777;
      assert.equal(mode & 0o600, 0o600);
      assert.equal(mode & ~0o640, 0, mode.toString(8));
      assert.deepEqual(readdirSync(fx.dir).filter((n) => n.startsWith('.atomic.txt.')), []);
    });
  });

  describe('redaction.key', () => {
    for (const [what, text] of [
      ['empty', ''],
      ['not hex', `${'zz'.repeat(32)}\n`],
      ['short', 'abcd\n'],
    ] as const) {
      it(`a redaction key that is ${what} is refused: no note, no run, nothing recorded`, async () => {
        const c = new Fixture('ffaudit-safety-rk-');
        try {
          c.media('in.mp4');
          writeFileSync(c.path('ledger', 'redaction.key'), text);
          const note = await runCliInProcess(['--ledger', c.ledger, 'note', 'received the tape'], { cwd: c.dir });
          assert.equal(note.status, 2);
          assert.ok(isOneErrorLine(note.stderr), note.stderr);
          assert.match(note.stderr, /redaction\.key is not a redaction key/);
          const run = c.ffaudit(['ffmpeg', '-nostdin', '-v', 'error', '-i', 'in.mp4', 'out.mkv']);
          assert.equal(run.status, 125, run.stderr.toString());
          assert.match(run.stderr.toString(), /redaction\.key is not a redaction key/);
          const l = Ledger.open({ dir: c.ledger, explicit: true });
          assert.equal(l.size(), 0);
          l.close();
        } finally {
          c.remove();
        }
      });
    }
  });

  describe('show --report', () => {
    it('escapes control characters from the report (file names someone chose), keeping line breaks', async () => {
      const id = fx.lastRun().id;
      const cli = (...args: string[]) => runCliInProcess(['--ledger', fx.ledger, ...args], { cwd: fx.dir });
      const raw = await cli('show', id, '--report', '--raw');
      assert.equal(raw.status, 0, raw.stderr);
      assert.ok(raw.stdout.includes('\x1b]0;owned'), 'the stored report holds the escape sequence');
      const shown = await cli('show', id, '--report');
      assert.equal(shown.status, 0, shown.stderr);
      const text = shown.stdout;
      // eslint-disable-next-line no-control-regex -- looking for control characters is the point
      assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f]/);
      assert.ok(text.includes('out\\x1b]0;owned\\x07\\x1b[2J.mp4'));
      assert.equal(text.split('\n').length, raw.stdout.split('\n').length);
      const bad = await cli('show', id, '--raw');
      assert.equal(bad.status, 2);
      assert.ok(isOneErrorLine(bad.stderr));
    });
  });
});
