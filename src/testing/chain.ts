/**
 * TEST HELPER: a small real FFmpeg production, recorded through the real CLI (`ffaudit ffmpeg …`) in a fresh
 * ledger, shared by the provenance tests.
 *
 *   run a: lavfi testsrc → a.mp4            run s: lavfi sine → s.wav (actor asserted: sound-dept)
 *   run b: a.mp4 → b.mp4 (then renamed to c.mp4)
 *   run final: c.mp4 + s.wav → final.mp4 (two inputs), then copied to copy.mp4
 *   altered.mp4: final.mp4 with one byte appended (no run produced these bytes)
 *   a custody note naming final.mp4 (`ffaudit note --file`)
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileRecord } from '../core/entry.js';
import { Ledger } from '../ledger/ledger.js';
import { listRuns } from '../ledger/runs.js';
import { runCli } from './cli.js';

export interface ChainRun {
  id: string;
  startIndex: number;
  endIndex: number;
  exitCode: number | null;
  inputs: FileRecord[];
  outputs: FileRecord[];
}

export interface Chain {
  dir: string;
  ledgerDir: string;
  runs: { a: ChainRun; b: ChainRun; s: ChainRun; final: ChainRun };
  noteIndex: number;
  path: (name: string) => string;
  /** Runs `ffaudit [options] ffmpeg ARGS` in the chain's directory, against its ledger. */
  ffmpeg: (args: string[], options?: string[], expectStatus?: number) => void;
  /** Every recorded run, oldest first, as `ChainRun`s. */
  readRuns: () => ChainRun[];
  cleanup: () => void;
}

export function makeChain(prefix = 'ffaudit-chain-'): Chain {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ledgerDir = join(dir, 'ledger');
  const path = (n: string) => join(dir, n);
  Ledger.init(ledgerDir, { origin: 'test.example/ffaudit/chain' }).close();
  const ffmpeg = (args: string[], options: string[] = [], expectStatus = 0) => {
    const r = runCli(['--ledger', ledgerDir, ...options, 'ffmpeg', ...args], { cwd: dir });
    assert.equal(r.status, expectStatus, `ffaudit ffmpeg ${args.join(' ')}: ${r.stderr}`);
  };
  const readRuns = (): ChainRun[] => {
    const l = Ledger.open({ dir: ledgerDir, explicit: true });
    try {
      return [...listRuns(l)].map((r) => ({ id: r.id, startIndex: r.entries[0]!, endIndex: r.entries[1] ?? -1, exitCode: r.exit_code, inputs: r.inputs, outputs: r.outputs }));
    } finally {
      l.close();
    }
  };
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=10', '-c:v', 'mpeg4', '-y', 'a.mp4'], ['--reason', 'make the test pattern']);
  ffmpeg(['-i', 'a.mp4', '-vf', 'scale=80:60', '-c:v', 'mpeg4', '-y', 'b.mp4']);
  renameSync(path('b.mp4'), path('c.mp4'));
  ffmpeg(['-f', 'lavfi', '-i', 'sine=duration=1', '-y', 's.wav'], ['--actor', 'sound-dept']);
  ffmpeg(['-i', 'c.mp4', '-i', 's.wav', '-c:v', 'copy', '-c:a', 'aac', '-shortest', '-y', 'final.mp4']);
  copyFileSync(path('final.mp4'), path('copy.mp4'));
  writeFileSync(path('altered.mp4'), Buffer.concat([readFileSync(path('final.mp4')), Buffer.from([0])]));
  const note = runCli(['--ledger', ledgerDir, 'note', 'handed to the client on a USB drive', '--file', path('final.mp4'), '--actor', 'clerk', '--json']);
  assert.equal(note.status, 0, note.stderr);
  const [a, b, s, final] = readRuns() as [ChainRun, ChainRun, ChainRun, ChainRun];
  return {
    dir,
    ledgerDir,
    runs: { a, b, s, final },
    noteIndex: (JSON.parse(note.stdout) as { index: number }).index,
    path,
    ffmpeg,
    readRuns,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
