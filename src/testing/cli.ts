/**
 * TEST HELPERS: the CLI run two ways. `runCliInProcess` calls runProgram (cli/program.ts) in the test's own process
 * with a capturing Io (cli/io.ts): the same parsing, actions and error reporting (exit.ts) as the binary, without
 * starting Node for every command. `runCli` runs the real binary (bin/ffaudit.js) in a child process with an
 * argument array, no shell: for what only a process shows (audited FFmpeg runs, start-up, signals, pipes, several
 * processes at once).
 */
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseCaptureInvocation } from '../cli/capture-invocation.js';
import type { Io } from '../cli/io.js';
import { runProgram } from '../cli/program.js';
import { cleanEnv, type CliResult as CapturedResult } from './fixtures.js';

export const BIN = fileURLToPath(new URL('../../bin/ffaudit.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, FFAUDIT_LEDGER: '', ...opts.env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface InProcessOptions {
  /** The whole environment the command sees (default: this process's without FFAUDIT_* and XDG_DATA_HOME, as cleanEnv). */
  env?: NodeJS.ProcessEnv;
  /** What relative paths are relative to (default: this process's directory). */
  cwd?: string;
  /** Standard input (default: empty). */
  input?: string | Buffer;
}

/**
 * Runs one command line in this process and returns what the binary would have: its exit status and everything
 * written to stdout and stderr. Nothing of the process is changed (its directory, environment, exitCode, listeners),
 * so tests may run several at once. An audited run (`ffaudit ffmpeg …`) needs a process of its own: use runCli.
 */
export async function runCliInProcess(args: readonly string[], opts: InProcessOptions = {}): Promise<CapturedResult> {
  if (parseCaptureInvocation(args)) throw new Error(`an audited run needs a process of its own (runCli): ${args.join(' ')}`);
  const out: Buffer[] = [];
  let err = '';
  const io: Io = {
    out: (data) => void out.push(Buffer.from(data)),
    err: (text) => void (err += text),
    outTTY: false,
    columns: undefined,
    errTTY: false,
    env: opts.env ?? cleanEnv(),
    cwd: opts.cwd ?? process.cwd(),
    stdin: Readable.from(opts.input === undefined ? [] : [Buffer.from(opts.input)]),
  };
  const status = await runProgram(args, io);
  const stdoutBytes = Buffer.concat(out);
  return { status, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: err };
}
