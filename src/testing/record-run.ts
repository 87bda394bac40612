/**
 * TEST HELPER, not part of the product: runs real FFmpeg (argument arrays, no shell) and records the run in a
 * ledger as `ffaudit ffmpeg` does: a `run.start` entry with the inputs' real SHA-256 before FFmpeg starts, and a
 * `run.end` entry with the outputs' real SHA-256 after it exits. Used by tests and benchmarks that need recorded
 * runs independently of the capture runtime.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { hashFile } from '../capture/hash.js';
import type { Author, FileRecord } from '../core/entry.js';
import type { FfmpegIdentity, RunEndEntry, RunStartEntry } from '../core/run.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import type { Ledger } from '../ledger/ledger.js';

export interface RecordedRun {
  id: string;
  startIndex: number;
  endIndex: number;
  exitCode: number | null;
  inputs: FileRecord[];
  outputs: FileRecord[];
}

export interface RecordOptions {
  cwd?: string;
  by?: Author;
  reason?: string;
  /** Override which arguments are input and output files (default: `-i` values that are not lavfi graphs, and the last argument). */
  inputs?: string[];
  outputs?: string[];
  /** Keep FFmpeg's stderr as the run's report log (a gzip blob named by `report_sha256`). */
  report?: boolean;
}

let identity: FfmpegIdentity | undefined;

export function ffmpegIdentity(): FfmpegIdentity {
  if (!identity) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-version'], { encoding: 'utf8' });
    const m = /^ffmpeg version (\S+)/m.exec(r.stdout ?? '');
    const dir = (process.env.PATH ?? '').split(delimiter).find((d) => d && existsSync(join(d, 'ffmpeg')));
    identity = { path: dir ? join(dir, 'ffmpeg') : 'ffmpeg', version: m?.[1] ?? null, sha256: null };
  }
  return identity;
}

/** The input and output files named by an FFmpeg argument list, as the tests use it. */
export function filesOf(args: readonly string[]): { inputs: string[]; outputs: string[]; generated: string[] } {
  const inputs: string[] = [];
  const generated: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-i' && args[i + 1] !== undefined) {
      const lavfi = i >= 2 && args[i - 2] === '-f' && args[i - 1] === 'lavfi';
      (lavfi ? generated : inputs).push(args[i + 1]!);
    }
  }
  const last = args[args.length - 1];
  return { inputs, outputs: last !== undefined && !last.startsWith('-') ? [last] : [], generated };
}

async function describe(path: string, cwd: string): Promise<FileRecord> {
  const abs = resolve(cwd, path);
  if (!existsSync(abs)) return { path: abs, size: null, sha256: null };
  const d = await hashFile(abs);
  return { path: abs, size: d.size, sha256: d.sha256 };
}

function runFfmpeg(args: readonly string[], cwd: string, verbose: boolean): Promise<{ code: number | null; signal: string | null; stderr: Buffer }> {
  return new Promise((done, fail) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', verbose ? 'info' : 'error', '-nostdin', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stderr: Buffer.concat(chunks) }));
  });
}

/** Runs `ffmpeg ARGS` for real and appends its two entries. */
export async function recordFfmpegRun(ledger: Ledger, args: readonly string[], opts: RecordOptions = {}): Promise<RecordedRun> {
  const cwd = opts.cwd ?? process.cwd();
  const named = filesOf(args);
  const by = opts.by ?? currentAuthor();
  const id = randomUUID();
  // As `ffaudit ffmpeg` does, lavfi graphs are not recorded as input files.
  const inputs = await Promise.all((opts.inputs ?? named.inputs).map((p) => describe(p, cwd)));
  const start: RunStartEntry = {
    v: 1,
    type: 'run.start',
    time: nowRfc3339(),
    by,
    run: id,
    tool: 'ffmpeg',
    cwd,
    argv: [...args],
    redactions: [],
    ffmpeg: ffmpegIdentity(),
    inputs,
  };
  if (opts.reason !== undefined) start.reason = opts.reason;
  const startIndex = ledger.append([start]).indices[0]!;
  const t0 = Date.now();
  const { code, signal, stderr } = await runFfmpeg(args, cwd, opts.report ?? false);
  const report = opts.report ? ledger.putBlob(stderr) : null;
  const outputs = await Promise.all((opts.outputs ?? named.outputs).map((p) => describe(p, cwd)));
  const end: RunEndEntry = {
    v: 1,
    type: 'run.end',
    time: nowRfc3339(),
    by,
    run: id,
    start: startIndex,
    status: code === 0 ? 'ok' : signal ? 'terminated' : 'failed',
    exit_code: code,
    signal,
    duration_ms: Date.now() - t0,
    inputs,
    outputs,
    streams: [],
    report_sha256: report,
    redactions: [],
  };
  const endIndex = ledger.append([end]).indices[0]!;
  return { id, startIndex, endIndex, exitCode: code, inputs, outputs };
}
