/**
 * The team server end to end, as people use it: a real `ffaudit serve` process on a real PostgreSQL, two ledgers as
 * two hosts enrolled with `serve hosts add` and `ffaudit join`, real FFmpeg runs pushed with FFAUDIT_PUSH=sync,
 * `verify --trusted https://SERVER` and `verify --from <mirror>` on the result, and a host whose key signs a forked
 * history refused by the server, listed as equivocation, and reported by the host's own verify.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { startServe, type ServeProcess } from '../testing/serve-process.js';
import { cleanEnv, runCliAsync, tempDir } from '../testing/fixtures.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
const tmp = tempDir('ffaudit-team-');
let db = '';
let server: ServeProcess | undefined;
let url = '';
const keys = join(tmp.dir, 'server-keys');

function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  return runCliAsync(args, cleanEnv(opts.env ?? {}), opts.input);
}

before(async () => {
  if (skip) return;
  db = await createDatabase((pgc as { url: string }).url);
  assert.equal((await cli(['serve', 'init', '--name', 'audit.test', '--keys', keys])).status, 0);
  server = await startServe(db, keys);
  url = server.url;
});

after(async () => {
  await server?.stop();
  tmp.cleanup();
});

async function enrol(name: string, origin: string): Promise<string> {
  const dir = join(tmp.dir, name);
  assert.equal((await cli(['--ledger', dir, 'init', '--origin', origin])).status, 0);
  const token = await cli(['serve', 'hosts', 'add', name, '--db', db]);
  assert.equal(token.status, 0, token.stderr);
  const joined = await cli(['--ledger', dir, 'join', url], { input: token.stdout });
  assert.equal(joined.status, 0, joined.stderr);
  return dir;
}

function run(dir: string, source: string) {
  const out = join(tmp.dir, `${createHash('sha256').update(dir + source + Math.random()).digest('hex').slice(0, 8)}.mp4`);
  return cli(['--ledger', dir, 'ffmpeg', '-v', 'error', '-nostdin', '-f', 'lavfi', '-i', source, '-y', out], { env: { FFAUDIT_PUSH: 'sync' } });
}

describe('a team server, start to finish', { skip }, () => {
  it('two hosts push real runs; each ledger is cosigned, verifies against the server, and its mirror verifies on its own', async () => {
    const a = await enrol('edit-ws-1', 'edit-ws-1.test/ffaudit');
    const b = await enrol('render-7', 'render-7.test/ffaudit');
    for (const [dir, src] of [[a, 'testsrc=duration=0.2:size=64x64:rate=5'], [b, 'smptebars=duration=0.2:size=64x64:rate=5'], [a, 'color=c=red:duration=0.2:size=64x64:rate=5']] as const) {
      const r = await run(dir, src);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', 'a synchronous push that succeeded says nothing');
    }
    const v = await cli(['--ledger', a, 'verify', '--trusted', url]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    // Nothing is left to send.
    const p = await cli(['--ledger', a, 'push', '--json']);
    assert.equal(p.status, 0, p.stderr);
    // The mirror of host A as tlog-tiles, verified with nothing but the log's public key.
    const vkeyFile = join(tmp.dir, 'a.vkey');
    const key = await cli(['--ledger', a, 'pubkey']);
    assert.equal(key.status, 0, key.stderr);
    writeFileSync(vkeyFile, key.stdout);
    const origin = 'edit-ws-1.test/ffaudit';
    const mirror = `${url}/mirror/${createHash('sha256').update(origin).digest('hex')}`;
    const m = await cli(['verify', '--from', mirror, '--pubkey', vkeyFile]);
    assert.equal(m.status, 0, m.stdout + m.stderr);
    const cp = await fetch(`${mirror}/checkpoint`).then((r) => r.text());
    assert.match(cp, /^edit-ws-1\.test\/ffaudit\n4\n/);
    assert.match(cp, /\n— audit\.test\/mirror /);
    const w = await fetch(`${url}/witness/${createHash('sha256').update(origin).digest('hex')}/checkpoint`).then((r) => r.text());
    assert.match(w, /\n— audit\.test\/witness /);
    // The request log: one line per request, and never the enrolment token.
    assert.match(server!.log(), /POST \/add-checkpoint 200 /);
    assert.match(server!.log(), /POST \/add-entries 200 /);
    assert.doesNotMatch(server!.log(), /ffaudit-join-/);
  });

  it("a forked history signed with the host's own key is refused, kept as equivocation, and found by the host's verify", async () => {
    const a = join(tmp.dir, 'edit-ws-1');
    // A copy of the ledger taken now (key included) goes on to record a different history of the same length.
    const fork = join(tmp.dir, 'edit-ws-1-fork');
    cpSync(a, fork, { recursive: true });
    assert.equal((await run(a, 'testsrc2=duration=0.2:size=64x64:rate=5')).status, 0);
    const r = await run(fork, 'testsrc=duration=0.2:size=32x32:rate=5');
    assert.equal(r.status, 0, "FFmpeg's status is kept whatever the server says");
    assert.match(r.stderr, /^ffaudit: [^\n]+\n$/, 'one line says the server did not cosign');
    const pushed = await cli(['--ledger', fork, 'push']);
    assert.notEqual(pushed.status, 0);
    const conflicts = await cli(['serve', 'conflicts', '--db', db, '--json']);
    assert.equal(conflicts.status, 0, conflicts.stderr);
    const rows = conflicts.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; host?: string });
    assert.ok(rows.some((x) => x.kind === 'equivocation'), conflicts.stdout);
    const v = await cli(['--ledger', fork, 'verify', '--trusted', url, '--json']);
    assert.equal(v.status, 1, v.stdout + v.stderr);
    assert.match(v.stdout, /"fork"/);
    // The honest ledger still verifies against the server.
    assert.equal((await cli(['--ledger', a, 'verify', '--trusted', url])).status, 0);
  });
});
