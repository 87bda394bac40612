/**
 * Exactly one copy of a signal reaches FFmpeg, wherever it was sent from: FFmpeg 5.1 finishes its outputs on one
 * SIGINT and abandons them on a second ("Immediate exit requested", an MP4 without its moov atom). Each case runs a
 * real H.264 encode in real time, interrupts it once FFmpeg has written, and expects what bare FFmpeg gives: a file
 * ffprobe reads, exit status 255, and the run recorded as terminated by SIGINT.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { commandLine } from '../render/shell-quote.js';
import { BIN, childPids, FFMPEG, Fixture, waitFor } from '../testing/capture-fixture.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
const codec = spawnSync(FFMPEG, ['-hide_banner', '-h', 'encoder=libx264']).stdout.toString().includes('libx264') ? 'libx264' : 'mpeg4';

/** A minute of real-time encoding into `out`, long enough to be interrupted half-way; each packet is written
 *  through at once (-flush_packets), so the file's size shows when FFmpeg has written. */
function encode(out: string): string[] {
  return ['-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '60', '-c:v', codec, '-flush_packets', '1', '-y', out];
}

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The duration ffprobe reads from the file, or the reason it cannot. */
function probe(path: string): number | string {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path]);
  const d = Number(r.stdout.toString().trim());
  return r.status === 0 && d > 0 ? d : r.stderr.toString() || `status ${r.status}`;
}

function closed(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => c.on('close', (code) => resolve(code)));
}

describe('signals: one copy reaches FFmpeg', () => {
  let fx: Fixture;
  before(() => {
    fx = new Fixture();
  });
  after(() => fx.remove());

  /** Starts `args` (ffaudit or bare FFmpeg) in a process group of its own, interrupts it with `interrupt` once
   *  FFmpeg has written a few kB, and returns the exit status. */
  async function interrupted(cmd: string, args: string[], out: string, interrupt: (c: ChildProcess) => void): Promise<number | null> {
    const c = spawn(cmd, args, { cwd: fx.dir, env: fx.env(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const err: Buffer[] = [];
    c.stderr.on('data', (b: Buffer) => err.push(b));
    const status = closed(c);
    assert.ok(await waitFor(() => size(out) > 4096, 20_000), `FFmpeg wrote nothing: ${Buffer.concat(err).toString()}`);
    interrupt(c);
    const code = await status;
    assert.ok(!Buffer.concat(err).includes('Immediate exit requested'), Buffer.concat(err).toString());
    return code;
  }

  function assertRecorded(out: string, signal = 'SIGINT'): void {
    const run = fx.lastRun();
    assert.equal(run.status, 'terminated');
    assert.equal(run.signal, signal);
    assert.equal(run.exit_code, 255);
    assert.deepEqual(run.outputs.map((o) => o.path), [out]);
    assert.equal(run.outputs[0]!.sha256, createHash('sha256').update(readFileSync(out)).digest('hex'));
  }

  it('SIGINT to the whole process group (kill -INT -- -PGID): a valid file and exit 255, as bare FFmpeg', async () => {
    const bareOut = fx.path('group-bare.mp4');
    const bare = await interrupted(FFMPEG, encode(bareOut), bareOut, (c) => process.kill(-c.pid!, 'SIGINT'));
    assert.equal(bare, 255);
    assert.equal(typeof probe(bareOut), 'number');

    const out = fx.path('group.mp4');
    const code = await interrupted(process.execPath, [BIN, '--ledger', fx.ledger, 'ffmpeg', ...encode(out)], out, (c) => process.kill(-c.pid!, 'SIGINT'));
    assert.equal(code, 255);
    const d = probe(out);
    assert.equal(typeof d, 'number', `the output is not readable: ${d}`);
    assertRecorded(out);
  });

  it("SIGINT to ffaudit's pid alone, outside a terminal: passed on once; a valid file and exit 255", async () => {
    const out = fx.path('pid.mp4');
    const code = await interrupted(process.execPath, [BIN, '--ledger', fx.ledger, 'ffmpeg', ...encode(out)], out, (c) => c.kill('SIGINT'));
    assert.equal(code, 255);
    const d = probe(out);
    assert.equal(typeof d, 'number', `the output is not readable: ${d}`);
    assertRecorded(out);
  });

  /** Runs `argv` on a new pseudo-terminal as its foreground process group (script(1)), interrupts it with
   *  `interrupt` once FFmpeg has written, and returns the exit status. */
  async function atTerminal(argv: string[], out: string, interrupt: (script: ChildProcess) => void): Promise<number | null> {
    const c = spawn('script', ['-qec', `exec ${commandLine(argv)}`, '/dev/null'], { cwd: fx.dir, env: fx.env({ SHELL: '/bin/sh' }), stdio: ['pipe', 'pipe', 'pipe'] });
    const tty: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => tty.push(b));
    const status = closed(c);
    assert.ok(await waitFor(() => size(out) > 4096, 20_000), `FFmpeg wrote nothing: ${Buffer.concat(tty).toString()}`);
    interrupt(c);
    const code = await status;
    c.stdin.destroy();
    assert.ok(!Buffer.concat(tty).includes('Immediate exit requested'), Buffer.concat(tty).toString());
    return code;
  }
  // Without -nostdin: at a terminal FFmpeg reads its keys, as it would.
  const atTerminalArgs = (out: string) => encode(out).filter((a) => a !== '-nostdin');

  it('Ctrl-C typed at a terminal (a pty): a valid file and exit 255, as bare FFmpeg', { skip: !hasScript && 'script(1) is not installed' }, async () => {
    // The byte 0x03 written to the terminal is its VINTR key, which the line discipline turns into SIGINT for the
    // whole foreground process group.
    const ctrlC = (c: ChildProcess) => c.stdin!.write('\x03');
    const bareOut = fx.path('tty-bare.mp4');
    assert.equal(await atTerminal([FFMPEG, ...atTerminalArgs(bareOut)], bareOut, ctrlC), 255);
    assert.equal(typeof probe(bareOut), 'number');

    const out = fx.path('tty.mp4');
    assert.equal(await atTerminal([process.execPath, BIN, '--ledger', fx.ledger, 'ffmpeg', ...atTerminalArgs(out)], out, ctrlC), 255);
    const d = probe(out);
    assert.equal(typeof d, 'number', `the output is not readable: ${d}`);
    assertRecorded(out, 'SIGINT');
  });

  it("SIGTERM to ffaudit's pid while it has the terminal: passed on (once); a valid file and exit 255", { skip: !hasScript && 'script(1) is not installed' }, async () => {
    const out = fx.path('tty-term.mp4');
    // script(1)'s child is ffaudit itself (exec).
    const code = await atTerminal([process.execPath, BIN, '--ledger', fx.ledger, 'ffmpeg', ...atTerminalArgs(out)], out, (c) => {
      const [ffaudit] = childPids(c.pid!);
      process.kill(ffaudit!, 'SIGTERM');
    });
    assert.equal(code, 255);
    const d = probe(out);
    assert.equal(typeof d, 'number', `the output is not readable: ${d}`);
    assertRecorded(out, 'SIGTERM');
  });
});
