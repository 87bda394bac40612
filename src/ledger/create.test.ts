/**
 * Making a ledger where someone else may have prepared the ground (another user's folder, links planted where the
 * ledger's files go), and a creation killed half-way. Tests run as root here: "another user" is nobody (65534),
 * made the owner with chown, and commands that must run as an ordinary user run under setpriv.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatSignerKey, parseSignerKey } from '../core/note.js';
import { CLI, cleanEnv, isOneErrorLine, runCli, tempDir, type CliResult } from '../testing/fixtures.js';

const NOBODY = 65534;
const tmp = tempDir('create');
after(tmp.cleanup);
let n = 0;
const fresh = (name: string) => join(tmp.dir, `${name}-${n++}`);
const isRoot = process.geteuid?.() === 0;

function refused(r: CliResult, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.ok(isOneErrorLine(r.stderr), r.stderr);
  assert.match(r.stderr, pattern);
}

describe('init refuses ground someone else controls', () => {
  it('a world-writable folder owned by another user', { skip: !isRoot && 'needs root to give a folder away' }, () => {
    const d = fresh('theirs');
    mkdirSync(d);
    chownSync(d, NOBODY, NOBODY);
    chmodSync(d, 0o777);
    refused(runCli(['--ledger', d, 'init']), /^ffaudit: refusing .*: it is owned by nobody \(uid 65534\), mode 0777, not by you/);
    assert.deepEqual(readdirSync(d), []);
  });

  it('a folder of ours that others can write to', () => {
    const d = fresh('open');
    mkdirSync(d);
    chmodSync(d, 0o777);
    refused(runCli(['--ledger', d, 'init']), /^ffaudit: refusing .*: other users can write to it \(mode 0777\)/);
    assert.deepEqual(readdirSync(d), []);
  });

  it('a folder its group can write to: refused for a shared group, fine for the user\'s private group', { skip: !isRoot && 'needs root to change a folder\'s group' }, () => {
    const shared = fresh('shared');
    mkdirSync(shared);
    chownSync(shared, 0, NOBODY); // group nogroup: not root's own
    chmodSync(shared, 0o770);
    refused(runCli(['--ledger', shared, 'init']), /^ffaudit: refusing .*: other users can write to it \(mode 0770\)/);
    // root's group "root" has no other member: the user-private-group convention (umask 002).
    const own = fresh('own');
    mkdirSync(own);
    chownSync(own, 0, 0);
    chmodSync(own, 0o770);
    const r = runCli(['--ledger', own, 'init']);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a parent folder others can write to (not sticky)', () => {
    const p = fresh('parent');
    mkdirSync(p);
    chmodSync(p, 0o777);
    refused(runCli(['--ledger', join(p, 'ledger'), 'init']), /^ffaudit: refusing to make a ledger in .*: other users can write to it \(mode 0777\)/);
    assert.deepEqual(readdirSync(p), []);
  });

  it('a ledger path that is a symbolic link into another user\'s home', { skip: !isRoot && 'needs root to give a folder away' }, () => {
    const home = fresh('bob');
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, NOBODY, NOBODY);
    const link = fresh('link');
    symlinkSync(home, link);
    refused(runCli(['--ledger', link, 'init']), /^ffaudit: refusing .*bob.*: it is owned by nobody/);
    const dangling = fresh('dangling');
    symlinkSync(join(home, 'ledger'), dangling);
    refused(runCli(['--ledger', dangling, 'init']), /^ffaudit: refusing .*: it is a symbolic link to a folder that does not exist/);
    assert.deepEqual(readdirSync(home), []);
  });

  it('never writes through config.json or vkey links planted in the folder', () => {
    const victim = join(tmp.dir, `victim-${n++}`);
    writeFileSync(victim, 'the user owns this\n');
    for (const planted of [['config.json'], ['vkey'], ['config.json', 'vkey'], ['signing.key'], ['redaction.key']]) {
      // The folder is the user's own and closed (the attacker wrote into it while it was open, or before it was theirs).
      const d = fresh('planted');
      mkdirSync(d, { mode: 0o700 });
      for (const name of planted) symlinkSync(victim, join(d, name));
      const r = runCli(['--ledger', d, 'init']);
      assert.equal(r.status, 2, `${planted.join('+')}: ${r.stderr}`);
      assert.ok(isOneErrorLine(r.stderr), r.stderr);
      assert.equal(readFileSync(victim, 'utf8'), 'the user owns this\n');
      assert.ok(!existsSync(join(d, 'ledger.db')));
    }
  });

  it('a folder of ours, new or empty, closed to others, is fine; the ledger is made all at once', () => {
    const d = fresh('mine');
    const r = runCli(['--ledger', d, 'init']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(d).sort(), ['config.json', 'ledger.db', 'redaction.key', 'signing.key', 'vkey']);
    // Nothing left beside it.
    assert.deepEqual(readdirSync(tmp.dir).filter((x) => x.includes('.init-')), []);
    const e = fresh('empty');
    mkdirSync(e, { mode: 0o700 });
    assert.equal(runCli(['--ledger', e, 'init']).status, 0);
    assert.deepEqual(readdirSync(e).sort(), ['config.json', 'ledger.db', 'redaction.key', 'signing.key', 'vkey']);
  });

  it('an ordinary user fills a folder made for them in a parent they cannot write to', { skip: !isRoot && 'needs root to make a user\'s folder' }, () => {
    chmodSync(tmp.dir, 0o755); // nobody must reach it
    const p = fresh('srv');
    mkdirSync(p, { mode: 0o755 });
    const d = join(p, 'ffaudit');
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, NOBODY, NOBODY);
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, '--ledger', d, ...args], { env: cleanEnv(), encoding: 'utf8' });
    const r = asNobody(['init']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(asNobody(['note', 'first']).status, 0);
    assert.deepEqual(readdirSync(d).sort(), ['config.json', 'ledger.db', 'redaction.key', 'signing.key', 'vkey']);
    // Root, whose folder this is not, is refused it.
    refused(runCli(['--ledger', d, 'init']), /^ffaudit: refusing .*: it is owned by nobody/);
  });
});

/** What an older ffaudit left when it was killed during init: keys, no database, no vkey. */
function halfMade(dir: string, opts: { emptyKey?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = `${formatSignerKey('half.example/ffaudit/0123456789ab', randomBytes(32))}\n`;
  writeFileSync(join(dir, 'signing.key'), opts.emptyKey ? '' : key, { mode: 0o600 });
  writeFileSync(join(dir, 'config.json'), '{}\n');
  writeFileSync(join(dir, 'redaction.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // The database under its temporary name, of a process long gone.
  writeFileSync(join(dir, 'ledger.db.new-4194303-0123abcd'), 'SQLite format 3\0');
  return key;
}

describe('a ledger creation killed half-way', () => {
  it('the default ledger left half-made by an older version is finished on first use, with its keys', () => {
    const xdg = fresh('xdg');
    const key = halfMade(join(xdg, 'ffaudit'));
    const env = cleanEnv({ XDG_DATA_HOME: xdg });
    const r = runCli(['note', 'first'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^ffaudit: finished the ledger at .* that an interrupted first use had left without a database \(origin half\.example\/ffaudit\/0123456789ab\)\n$/);
    assert.equal(runCli(['pubkey'], { env }).stdout.trim().split('+')[0], parseSignerKey(key).name);
    assert.deepEqual(JSON.parse(runCli(['verify', '--json'], { env }).stdout), { ok: true, size: 1, problems: [] });
    assert.deepEqual(readdirSync(join(xdg, 'ffaudit')).sort(), ['config.json', 'ledger.db', 'redaction.key', 'signing.key', 'vkey']);
  });

  it('an empty key (killed between creating and writing it) is replaced, and ffaudit ffmpeg runs', () => {
    const xdg = fresh('xdg');
    halfMade(join(xdg, 'ffaudit'), { emptyKey: true });
    const env = cleanEnv({ XDG_DATA_HOME: xdg });
    const out = join(xdg, 'out.mkv');
    const r = runCli(['ffmpeg', '-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x24:rate=5', out], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^ffaudit: finished the ledger at /);
    assert.ok(existsSync(out));
    assert.deepEqual(JSON.parse(runCli(['verify', '--json'], { env }).stdout), { ok: true, size: 2, problems: [] });
  });

  it('a named ledger left half-made is explained, and init finishes it', () => {
    const d = fresh('named');
    halfMade(d);
    refused(runCli(['--ledger', d, 'log']), /^ffaudit: .* was left half-made by an interrupted ffaudit init \(keys but no database\); finish it with: ffaudit init --ledger /);
    const r = runCli(['--ledger', d, 'init']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(runCli(['--ledger', d, 'note', 'x']).status, 0);
    assert.deepEqual(JSON.parse(runCli(['--ledger', d, 'verify', '--json']).stdout), { ok: true, size: 1, problems: [] });
  });

  it('a ledger that lost its database is not silently started again', () => {
    const xdg = fresh('xdg');
    const env = cleanEnv({ XDG_DATA_HOME: xdg });
    assert.equal(runCli(['note', 'first'], { env }).status, 0);
    unlinkSync(join(xdg, 'ffaudit', 'ledger.db'));
    refused(runCli(['note', 'second'], { env }), /^ffaudit: the ledger at .* has lost its database: ledger\.db is missing/);
    refused(runCli(['--ledger', join(xdg, 'ffaudit'), 'init']), /has lost its database/);
    assert.ok(!existsSync(join(xdg, 'ffaudit', 'ledger.db')));
  });

  it('SIGKILL during the first use of the default ledger never leaves it unusable', async (t) => {
    const deadline = Date.now() + 40_000;
    let tries = 0;
    let midway = 0;
    const cell = new Int32Array(new SharedArrayBuffer(4));
    while (tries < 30 && Date.now() < deadline) {
      tries++;
      const xdg = fresh('kill');
      mkdirSync(xdg);
      const env = cleanEnv({ XDG_DATA_HOME: xdg });
      const child = spawn(process.execPath, [CLI, 'note', 'first use'], { env, stdio: 'ignore' });
      const exited = new Promise((res) => child.on('exit', res));
      // Kill it while it is making the ledger: as soon as anything appears, after a random short while.
      const until = Date.now() + 10_000;
      while (readdirSync(xdg).length === 0 && child.exitCode === null && Date.now() < until) Atomics.wait(cell, 0, 0, 1);
      Atomics.wait(cell, 0, 0, Math.floor(Math.random() * 40));
      child.kill('SIGKILL');
      await exited;
      const ledger = join(xdg, 'ffaudit');
      if (!existsSync(join(ledger, 'ledger.db'))) midway++;
      const started = Date.now();
      const next = runCli(['note', 'second'], { env });
      assert.equal(next.status, 0, `try ${tries}: ${next.stderr}`);
      assert.ok(Date.now() - started < 10_000, `try ${tries}: the next command waited`);
      const v = runCli(['verify', '--json'], { env });
      assert.equal(v.status, 0, v.stdout + v.stderr);
      // No temporary folder of a killed process is left behind once the ledger is made.
      assert.deepEqual(readdirSync(xdg), ['ffaudit']);
      rmSync(xdg, { recursive: true, force: true });
    }
    t.diagnostic(`${midway} of ${tries} kills landed before the database was in place`);
    // The kills must have landed during creation often enough for the test to mean something.
    assert.ok(midway >= 3, `only ${midway} of ${tries} kills landed before the database was in place`);
  });
});
