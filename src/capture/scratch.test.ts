/**
 * A run's private temporary directory holds FFmpeg's report before it is redacted. A run killed outright cannot
 * remove it; the next run removes it (and only what provably belongs to a dead run of this user on this machine).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { alive, childPids, Fixture, waitFor } from '../testing/capture-fixture.js';

const SECRET = 'hunter2pw';

describe('temporary directories left by dead runs', () => {
  it("a run killed with SIGKILL leaves FFmpeg's unredacted report; the next run removes it, and nothing else", async () => {
    const fx = new Fixture();
    try {
      const tmp = fx.path('tmp');
      mkdirSync(tmp);
      const env = fx.env({ TMPDIR: tmp });
      // The secret is in the argv, so FFmpeg's report (its "Command line:") holds it before redaction.
      const c = fx.start(['ffmpeg', '-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc=duration=30:size=32x32:rate=10', '-metadata', `comment=rtmp://cam:${SECRET}@live.example/x`, '-f', 'null', '-'], { env, detached: true });
      const gone = new Promise((r) => c.on('close', r));
      const report = () => readdirSync(tmp).map((n) => join(tmp, n, 'report.log')).find((p) => existsSync(p) && readFileSync(p).includes(SECRET));
      assert.ok(await waitFor(() => report() !== undefined, 15_000), 'no report in $TMPDIR');
      const ff = childPids(c.pid!);
      c.kill('SIGKILL');
      // FFmpeg would run on to its end (it ignores SIGPIPE); what matters here is what the dead run left behind.
      for (const p of ff) process.kill(p, 'SIGKILL');
      await gone;
      assert.ok(await waitFor(() => ff.every((p) => !alive(p)), 5000));
      const [leftover, ...others] = readdirSync(tmp);
      assert.equal(others.length, 0);
      assert.ok(readFileSync(join(tmp, leftover!, 'report.log')).includes(SECRET), 'the dead run left its unredacted report');

      const next = () => {
        const r = fx.ffaudit(['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=10', '-f', 'null', '-'], { env });
        assert.equal(r.status, 0, r.stderr.toString());
      };
      next();
      assert.deepEqual(readdirSync(tmp), [], 'the next run removed neither the dead run’s directory nor its own');

      // What must stay: a live process's directory (this test's own pid and start time), a symbolic link named
      // like a dead run's directory (never followed), another machine's or namespace's directory, and a name
      // that says no owner at all.
      const m = /^ffaudit-(\d+)-(\d+)-([0-9a-f]{8})-[A-Za-z0-9]{6}$/.exec(leftover!);
      assert.ok(m, `the directory's name does not say who made it: ${leftover}`);
      const stat = readFileSync('/proc/self/stat', 'latin1');
      const myStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
      const key = m[3]!;
      const otherKey = key === '00000000' ? '11111111' : '00000000';
      const precious = fx.path('precious');
      mkdirSync(precious);
      writeFileSync(join(precious, 'keep.txt'), 'keep');
      const keep = [`ffaudit-${process.pid}-${myStart}-${key}-AAAAAA`, `ffaudit-${m[1]}-${m[2]}-${otherKey}-BBBBBB`, 'ffaudit-CCCCCC'];
      for (const n of keep) mkdirSync(join(tmp, n));
      const link = `ffaudit-${m[1]}-${m[2]}-${key}-DDDDDD`;
      symlinkSync(precious, join(tmp, link));
      next();
      assert.deepEqual(readdirSync(tmp).sort(), [...keep, link].sort());
      assert.equal(readFileSync(join(precious, 'keep.txt'), 'utf8'), 'keep');
    } finally {
      fx.remove();
    }
  });
});
