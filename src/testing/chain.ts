/**
 * TEST HELPER: a small real FFmpeg production recorded in a fresh ledger, shared by the provenance tests.
 *
 *   run1: lavfi testsrc → a.mp4           run3: lavfi sine → s.wav
 *   run2: a.mp4 → b.mp4 (then renamed to c.mp4)
 *   run4: c.mp4 + s.wav → final.mp4 (two inputs), then copied to copy.mp4
 *   altered.mp4: final.mp4 with one byte appended (no run produced these bytes)
 *   a custody note naming final.mp4
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { recordFfmpegRun, type RecordedRun } from './record-run.js';

export interface Chain {
  dir: string;
  ledgerDir: string;
  runs: { a: RecordedRun; b: RecordedRun; s: RecordedRun; final: RecordedRun };
  noteIndex: number;
  path: (name: string) => string;
  cleanup: () => void;
}

export async function makeChain(prefix = 'ffaudit-chain-'): Promise<Chain> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ledgerDir = join(dir, 'ledger');
  const path = (n: string) => join(dir, n);
  const l = Ledger.init(ledgerDir, { origin: 'test.example/ffaudit/chain' });
  try {
    const a = await recordFfmpegRun(l, ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=10', '-c:v', 'mpeg4', '-y', 'a.mp4'], { cwd: dir, reason: 'make the test pattern' });
    const b = await recordFfmpegRun(l, ['-i', 'a.mp4', '-vf', 'scale=80:60', '-c:v', 'mpeg4', '-y', 'b.mp4'], { cwd: dir, report: true });
    renameSync(path('b.mp4'), path('c.mp4'));
    const s = await recordFfmpegRun(l, ['-f', 'lavfi', '-i', 'sine=duration=1', '-y', 's.wav'], { cwd: dir, by: { ...currentAuthor(), asserted_actor: 'sound-dept' } });
    const final = await recordFfmpegRun(l, ['-i', 'c.mp4', '-i', 's.wav', '-c:v', 'copy', '-c:a', 'aac', '-shortest', '-y', 'final.mp4'], { cwd: dir });
    copyFileSync(path('final.mp4'), path('copy.mp4'));
    writeFileSync(path('altered.mp4'), Buffer.concat([readFileSync(path('final.mp4')), Buffer.from([0])]));
    const note = l.append([{ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor('clerk'), text: 'handed to the client on a USB drive', files: final.outputs }]);
    return { dir, ledgerDir, runs: { a, b, s, final }, noteIndex: note.indices[0]!, path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } finally {
    l.close();
  }
}
