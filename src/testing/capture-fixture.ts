/** Shared by the capture tests: a temporary directory with a ledger, media made by real FFmpeg, and the CLI. */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../core/run.js';
import { Ledger } from '../ledger/ledger.js';
import { listRuns } from '../ledger/runs.js';

export const BIN = fileURLToPath(new URL('../../bin/ffaudit.js', import.meta.url));
export const FFMPEG = 'ffmpeg';

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

export class Fixture {
  readonly dir: string;
  readonly ledger: string;

  constructor(name = 'ffaudit-capture-') {
    this.dir = mkdtempSync(join(tmpdir(), name));
    this.ledger = join(this.dir, 'ledger');
    Ledger.init(this.ledger, { origin: 'test.example/capture' }).close();
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  /** Environment for child processes: no inherited ffaudit settings, no colours. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('FFAUDIT_') || k === 'FFREPORT') delete env[k];
    return { ...env, ...extra };
  }

  /** `ffaudit --ledger L ARGS…` (the ledger flag first unless told otherwise). */
  ffaudit(args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv; cwd?: string; noLedger?: boolean } = {}): Result {
    const argv = [BIN, ...(opts.noLedger ? [] : ['--ledger', this.ledger]), ...args];
    return pick(spawnSync(process.execPath, argv, { cwd: opts.cwd ?? this.dir, env: opts.env ?? this.env(), input: opts.input ?? '', maxBuffer: 64 << 20 }));
  }

  /** Bare FFmpeg with the same arguments, for byte comparisons. */
  bare(args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): Result {
    return pick(spawnSync(FFMPEG, args, { cwd: opts.cwd ?? this.dir, env: this.env(), input: opts.input ?? '', maxBuffer: 64 << 20 }));
  }

  /**
   * Spawns ffaudit without waiting. `detached`: in a session and process group of its own (setsid), so that it is
   * outside any terminal's foreground process group even when the tests run at a terminal.
   */
  start(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; detached?: boolean } = {}) {
    return spawn(process.execPath, [BIN, '--ledger', this.ledger, ...args], { cwd: opts.cwd ?? this.dir, env: opts.env ?? this.env(), stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  }

  /** Makes a small media file with lavfi. */
  media(name: string, args: string[] = ['-f', 'lavfi', '-i', 'testsrc=duration=0.5:size=64x48:rate=10']): string {
    const out = this.path(name);
    const r = spawnSync(FFMPEG, ['-v', 'error', '-y', ...args, out], { cwd: this.dir });
    if (r.status !== 0) throw new Error(`ffmpeg failed making ${name}: ${r.stderr.toString()}`);
    return out;
  }

  runs(): RunRecord[] {
    const l = Ledger.open({ dir: this.ledger, explicit: true });
    try {
      return [...listRuns(l)];
    } finally {
      l.close();
    }
  }

  lastRun(): RunRecord {
    const r = this.runs();
    if (!r.length) throw new Error('no run recorded');
    return r[r.length - 1]!;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function pick(r: SpawnSyncReturns<Buffer>): Result {
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Paths of a record's files, relative to the fixture directory when inside it. */
export function names(files: { path: string }[], dir: string): string[] {
  return files.map((f) => (f.path.startsWith(`${dir}/`) ? f.path.slice(dir.length + 1) : f.path));
}

/** Spawns a command and collects its output without blocking the event loop (for tests that serve HTTP). */
export function runAsync(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => err.push(b));
    c.on('error', reject);
    c.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  });
}

/** The ffmpeg processes whose parent is `ppid` (from /proc). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}
