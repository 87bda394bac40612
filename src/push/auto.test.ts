/**
 * The push after each audited FFmpeg run (real FFmpeg, the real binary in a process of its own, the test's server
 * in this one): in the background by default (the run does not wait, the push arrives), with FFAUDIT_PUSH=sync
 * waiting for the cosignature of the run's end, the exit status FFmpeg's whatever the server does, and one line on
 * stderr when the server did not cosign (a background push then delivers it once the server is back).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { Ledger } from '../ledger/ledger.js';
import { writeWitnessSettings } from '../ledger/witness-config.js';
import { joinServer } from '../testing/cosigners.js';
import { cleanEnv, runCliAsync, tempDir } from '../testing/fixtures.js';
import { startTlogServer, type TestTlogServer } from '../testing/tlog-server.js';
import { PUSH_LOG } from './auto.js';

const tmp = tempDir('push-auto');
after(tmp.cleanup);
let counter = 0;
const servers: TestTlogServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function setup(): Promise<{ dir: string; server: TestTlogServer }> {
  const server = await startTlogServer();
  servers.push(server);
  const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: `example.org/auto-${counter}` });
  server.enrol(l.origin, l.vkey);
  joinServer(l.dir, server.keys);
  l.close();
  return { dir: l.dir, server };
}

/** One short audited FFmpeg run (`fail`: an input that does not exist, FFmpeg exits 1). */
function run(dir: string, env: Record<string, string> = {}, fail = false) {
  const out = join(tmp.dir, `out${counter++}.mp4`);
  const input = fail ? ['-i', join(tmp.dir, 'no-such-input.mp4')] : ['-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=64x64:rate=5'];
  return runCliAsync(['--ledger', dir, 'ffmpeg', '-v', 'error', '-nostdin', ...input, '-y', out], cleanEnv(env));
}

function cosigned(dir: string): { size: number; witness: number | undefined; mirror: number | undefined } {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const s = l.server()!;
    return { size: l.size(), witness: l.lastCosigned(s.config.url, s.witness.name)?.size, mirror: l.lastCosigned(s.config.url, s.mirror.name)?.size };
  } finally {
    l.close();
  }
}

async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe('the push after each run', () => {
  it('FFAUDIT_PUSH=sync: the run returns once the witness and the mirror cosigned its end; FFmpeg exit status kept', async () => {
    const { dir, server } = await setup();
    const ok = await run(dir, { FFAUDIT_PUSH: 'sync' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr, '');
    assert.deepEqual(cosigned(dir), { size: 2, witness: 2, mirror: 2 }, 'stored before the run returned');
    assert.equal(server.log()!.entries.length, 2);
    const failed = await run(dir, { FFAUDIT_PUSH: 'sync' }, true);
    assert.equal(failed.status, 1, "FFmpeg's own status");
    assert.doesNotMatch(failed.stderr, /team server/);
    assert.deepEqual(cosigned(dir), { size: 4, witness: 4, mirror: 4 });
    // The run's report (a blob its end names) went too.
    assert.ok(server.log()!.blobs.size >= 1);
  });

  it("sync with the server away: FFmpeg's exit status, one line on stderr, and a background push delivers once it is back", async () => {
    const { dir, server } = await setup();
    server.awayUntil = Infinity; // away until the run has returned, however long it takes on a loaded machine
    const r = await run(dir, { FFAUDIT_PUSH: 'sync', FFAUDIT_PUSH_TIMEOUT: '1' });
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^ffaudit: the team server did not cosign this run's end \(no cosignature within 1 s\); a background push will send it\n$/);
    assert.equal(cosigned(dir).witness, undefined);
    server.awayUntil = Date.now() + 1500; // the background push meets it away too, and retries
    assert.ok(await eventually(() => cosigned(dir).mirror === 2, 20_000), 'the background push delivered it');
    assert.ok(await eventually(() => !existsSync(join(dir, 'push.lock')), 5_000));
    assert.match(readFileSync(join(dir, PUSH_LOG), 'utf8'), /pushed size 2: witness cosigned 2, mirror 2\n$/);
  });

  it('a ledger that lists witnesses and joined no server: each run starts a background push that collects them, FFAUDIT_PUSH=sync too (a run never waits for a witness)', async () => {
    const server = await startTlogServer();
    servers.push(server);
    const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: `example.org/auto-${counter}` });
    server.enrol(l.origin, l.vkey);
    writeWitnessSettings(l.dir, { witnesses: [{ name: 'w1', url: server.url, vkey: server.keys.config.witness }], quorum: 1 });
    const dir = l.dir;
    l.close();
    const witnessed = () => {
      const o = Ledger.open({ dir, explicit: true });
      try {
        return o.lastCosigned(undefined, server.keys.witness.name)?.size;
      } finally {
        o.close();
      }
    };
    server.awayUntil = Infinity; // the run returns while the witness is away: it did not wait
    const r = await run(dir, { FFAUDIT_PUSH: 'sync' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(witnessed(), undefined);
    server.awayUntil = 0;
    assert.ok(await eventually(() => witnessed() === 2, 20_000), 'the background push collected the cosignature');
    assert.ok(await eventually(() => /pushed size 2: w1 cosigned size 2; 1 of w1: met for size 2 \(cosigned by w1\)\n$/.test(readFileSync(join(dir, PUSH_LOG), 'utf8')), 5_000));
    assert.deepEqual(
      server.requests.filter((q) => q.status === 200).map((q) => `${q.method} ${q.path}`),
      ['POST /add-checkpoint'],
      'a witness is sent the checkpoint, never the entries',
    );
  });

  it('by default in the background: the run does not wait, and the push arrives; FFAUDIT_PUSH=off sends nothing', async () => {
    const { dir, server } = await setup();
    const r = await run(dir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(await eventually(() => cosigned(dir).mirror === 2, 15_000), 'pushed in the background');
    assert.ok(await eventually(() => /pushed size 2: witness cosigned 2, mirror 2/.test(readFileSync(join(dir, PUSH_LOG), 'utf8')), 5_000));
    const n = server.requests.length;
    const off = await run(dir, { FFAUDIT_PUSH: 'off' });
    assert.equal(off.status, 0);
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(server.requests.length, n, 'nothing sent');
  });
});
