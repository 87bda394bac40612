/**
 * Ledgers this user may not read, may only read (evidence copies, read-only media), or that sit on a full disk.
 * Tests run as root here: the ordinary user is nobody (65534), through setpriv; read-only media is a read-only bind
 * mount and a full disk a small tmpfs (both need root; skipped otherwise).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fixture } from '../testing/capture-fixture.js';
import { CLI, cleanEnv, isOneErrorLine, type CliResult } from '../testing/fixtures.js';
import { Ledger } from './ledger.js';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;

/** The CLI as nobody (or as this user with `asRoot`). */
function cli(args: string[], opts: { asRoot?: boolean; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  const argv = opts.asRoot ? [process.execPath, CLI, ...args] : ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { env: opts.env ?? cleanEnv(), cwd: opts.cwd ?? '/', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stdoutBytes: r.stdout, stderr: r.stderr.toString('utf8') };
}

function refused(r: CliResult, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.ok(isOneErrorLine(r.stderr), r.stderr);
  assert.match(r.stderr, pattern);
}

function mount(args: string[]): boolean {
  return spawnSync('mount', args, { stdio: 'ignore' }).status === 0;
}

const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('base64')]));
const copies = () => readdirSync(tmpdir()).filter((n) => n.startsWith('ffaudit-ro-')).sort();

describe('ledgers that cannot be written, or not even read', { skip: !isRoot && 'needs root to act as another user' }, () => {
  let fx: Fixture;
  let runIds: string[];
  before(() => {
    fx = new Fixture('ffaudit-access-');
    chmodSync(fx.dir, 0o755); // nobody may look in; the ledger itself stays 0700
    fx.media('in.mp4');
    const ff = (out: string) => fx.ffaudit(['ffmpeg', '-nostdin', '-v', 'error', '-i', 'in.mp4', '-c', 'copy', out]);
    assert.equal(ff('a.mkv').status, 0);
    assert.equal(fx.ffaudit(['log']).status, 0); // fills the search indexes up to here
    assert.equal(ff('b.mkv').status, 0); // ... and not this run: a reader must index it itself
    runIds = fx.runs().map((r) => r.id);
  });
  after(() => fx.remove());

  /** A copy of the ledger that nobody may read but not write (folder 0755, files 0644, owned by root). */
  function readOnlyCopy(name: string): string {
    const d = fx.path(name);
    cpSync(fx.ledger, d, { recursive: true });
    chmodSync(d, 0o755);
    for (const n of readdirSync(d)) chmodSync(join(d, n), 0o644);
    return d;
  }

  it('a ledger the user may not read: "permission denied", with its owner; never "no ledger"', () => {
    refused(cli(['--ledger', fx.ledger, 'log']), /^ffaudit: permission denied: cannot read the ledger at .*ledger \(owned by root \(uid 0\), mode 0700\)\n$/);
    // The per-user default too: it is not taken for a missing one and made again.
    const xdg = fx.path('xdg');
    mkdirSync(xdg, { mode: 0o755 });
    cpSync(fx.ledger, join(xdg, 'ffaudit'), { recursive: true });
    refused(cli(['note', 'x'], { env: cleanEnv({ XDG_DATA_HOME: xdg }) }), /^ffaudit: permission denied: cannot read the ledger at .*ffaudit \(owned by root/);
    // A folder the user may read, with a database they may not.
    const d = readOnlyCopy('closed-db');
    chmodSync(join(d, 'ledger.db'), 0o600);
    refused(cli(['--ledger', d, 'verify']), /^ffaudit: permission denied: cannot read .*ledger\.db \(owned by root \(uid 0\), mode 0600\)\n$/);
  });

  it('verify, log, entry, proof, checkpoint and show work on a read-only copy, which stays as it was', () => {
    const d = readOnlyCopy('evidence');
    const before = snapshot(d);
    const had = copies();
    const v = cli(['--ledger', d, 'verify', '--json']);
    assert.equal(v.status, 0, v.stderr);
    assert.deepEqual(JSON.parse(v.stdout), { ok: true, size: 4, problems: [] });
    const human = cli(['--ledger', d, 'verify']);
    assert.match(human.stdout, /verdict +INTACT/);
    const log = cli(['--ledger', d, 'log', '--json']);
    assert.equal(log.status, 0, log.stderr);
    assert.deepEqual(log.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id), runIds);
    const filtered = cli(['--ledger', d, 'log', '--json', '--grep', 'b.mkv']);
    assert.deepEqual(filtered.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id), [runIds[1]]);
    const entry = cli(['--ledger', d, 'entry', '3', '--raw']);
    assert.equal(entry.status, 0, entry.stderr);
    assert.deepEqual(entry.stdoutBytes, fx.ffaudit(['entry', '3', '--raw']).stdout);
    assert.equal(cli(['--ledger', d, 'proof', '2']).stdout, fx.ffaudit(['proof', '2']).stdout.toString());
    assert.equal(cli(['--ledger', d, 'checkpoint']).stdout, fx.ffaudit(['checkpoint']).stdout.toString());
    const show = cli(['--ledger', d, 'show', runIds[1]!]);
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /b\.mkv/);
    const trace = cli(['--ledger', d, 'trace', fx.path('b.mkv')]);
    assert.equal(trace.status, 0, trace.stderr);
    assert.match(trace.stdout, /produced by/);
    const report = cli(['--ledger', d, 'report', fx.path('b.mkv')]);
    assert.equal(report.status, 0, report.stderr);
    assert.match(report.stdout, /^<!DOCTYPE html>/);
    // Writing is refused in one line, and nothing changes.
    refused(cli(['--ledger', d, 'note', 'tampering attempt']), /^ffaudit: the ledger database .*ledger\.db is read-only/);
    assert.deepEqual(snapshot(d), before);
    assert.deepEqual(copies(), had);
  });

  it('a ledger on read-only media (a read-only mount) is read and verified', { skip: !isRoot && 'needs root to mount' }, async (t) => {
    const src = fx.path('media-src');
    cpSync(fx.ledger, src, { recursive: true });
    const mnt = fx.path('media');
    mkdirSync(mnt);
    if (!mount(['--bind', src, mnt])) return t.skip('bind mounts are not available');
    try {
      if (!mount(['-o', 'remount,ro,bind', mnt])) return t.skip('read-only remounts are not available');
      const before = snapshot(mnt);
      const v = cli(['--ledger', mnt, 'verify', '--json'], { asRoot: true });
      assert.equal(v.status, 0, v.stderr);
      assert.deepEqual(JSON.parse(v.stdout), { ok: true, size: 4, problems: [] });
      const log = cli(['--ledger', mnt, 'log', '--json'], { asRoot: true });
      assert.equal(log.stdout.trim().split('\n').length, 2, log.stderr);
      for (const args of [['entry', '0'], ['proof', '3'], ['checkpoint']]) assert.equal(cli(['--ledger', mnt, ...args], { asRoot: true }).status, 0, args.join(' '));
      refused(cli(['--ledger', mnt, 'note', 'x'], { asRoot: true }), /is read-only/);
      // verify's workers open the same bytes the main connection reads (here a private copy).
      const l = Ledger.open({ dir: mnt, explicit: true });
      try {
        assert.match(l.databasePath, /ffaudit-ro-/);
        const r = await l.verify({ workers: 2, blockSize: 1 });
        assert.deepEqual(r.problems, []);
        assert.equal(r.size, 4);
      } finally {
        l.close();
      }
      assert.deepEqual(snapshot(mnt), before);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('a full disk is reported as a full disk, and nothing recorded is lost', { skip: !isRoot && 'needs root to mount' }, (t) => {
    const mnt = fx.path('small');
    mkdirSync(mnt);
    if (!mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])) return t.skip('tmpfs mounts are not available');
    try {
      const l = join(mnt, 'ledger');
      assert.equal(cli(['--ledger', l, 'init'], { asRoot: true }).status, 0);
      assert.equal(cli(['--ledger', l, 'note', 'before the disk filled up'], { asRoot: true }).status, 0);
      const cp = cli(['--ledger', l, 'checkpoint'], { asRoot: true }).stdout;
      // Fill it.
      const block = Buffer.alloc(4096, 1);
      try {
        for (let i = 0; ; i++) writeFileSync(join(mnt, `filler-${i}`), block);
      } catch {
        // ENOSPC: full
      }
      refused(cli(['--ledger', l, 'note', 'x'.repeat(20_000)], { asRoot: true }), /^ffaudit: the disk is full: no room left on the file system holding .*ledger while (opening|appending)/);
      const run = cli(['--ledger', l, 'ffmpeg', '-nostdin', '-v', 'error', '-i', fx.path('in.mp4'), '-c', 'copy', fx.path('full.mkv')], { asRoot: true });
      assert.equal(run.status, 125, run.stderr);
      assert.match(run.stderr, /the disk is full/);
      assert.ok(!existsSync(fx.path('full.mkv')), 'FFmpeg did not run');
      // A new ledger on the full disk.
      refused(cli(['--ledger', join(mnt, 'other'), 'init'], { asRoot: true }), /^ffaudit: cannot create the ledger at .*other: the disk is full\n$|^ffaudit: the disk is full/);
      // Once room is made, what was recorded is intact.
      for (const n of readdirSync(mnt)) if (n.startsWith('filler-')) rmSync(join(mnt, n));
      const v = cli(['--ledger', l, 'verify', '--json'], { asRoot: true });
      assert.deepEqual(JSON.parse(v.stdout), { ok: true, size: 1, problems: [] });
      assert.equal(cli(['--ledger', l, 'checkpoint'], { asRoot: true }).stdout, cp);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
