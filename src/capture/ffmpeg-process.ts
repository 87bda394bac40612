/**
 * The third phase of an audited run: FFmpeg itself, with its arguments verbatim and its stdio passed through.
 *
 * Transparency: stdin/stdout are inherited (FFmpeg sees the very same file descriptors) unless a pipe operand
 * (`-`, `pipe:0`, `pipe:1`) must be hashed, and stderr is inherited whenever the user asked for their own report.
 * Otherwise stderr flows through ReportBannerFilter, which removes only the lines our FFREPORT adds.
 *
 * Each signal reaches FFmpeg once, and our own failures kill it. Killed outright, we can no longer stop it: FFmpeg
 * 5.1 ignores SIGPIPE, so its writes to the pipes we held fail and it runs on to its end.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { isatty } from 'node:tty';
import { FdWriter, stderrWriter } from './fd-writer.js';
import { StreamDigest } from './hash.js';
import type { RunIntent } from './intent.js';
import { inTerminalForeground, type ProcStat } from './proc-stat.js';
import { ReportBannerFilter } from './stderr-filter.js';

export const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
type Forwarded = (typeof FORWARDED)[number];
/** What a terminal's keys (Ctrl-C, Ctrl-\) send, to its whole foreground process group (termios(3): ISIG). */
const TERMINAL_SIGNALS: ReadonlySet<Forwarded> = new Set(['SIGINT', 'SIGQUIT']);
const REPORT_LEVEL = 48; // AV_LOG_DEBUG: shows every "Opening '…' for reading/writing" and the stream dumps

/** FFREPORT values are ':'-separated with '\' escapes and '…' quoting (libavutil av_get_token). */
function escapeFfreport(p: string): string {
  return p.replace(/[\\:']/g, '\\$&');
}

export interface SpawnPlan {
  binary: string;
  env: NodeJS.ProcessEnv;
  /** Where FFmpeg writes its report (FFREPORT), unless the user asked for their own. */
  reportPath: string;
  /** This process's /proc/self/stat (undefined without /proc). */
  self: ProcStat | undefined;
}

export interface Ran {
  outcome: { code: number | null; signal: NodeJS.Signals | null };
  /** The first signal we received (and passed on, where FFmpeg did not get it directly). */
  received: Forwarded | undefined;
  /** Why FFmpeg could not be started (spawn's 'error'). */
  startFailure: Error | undefined;
  /** Wall-clock times of the spawn and the exit (for finding the user's own report), and the run's duration. */
  spawnedMs: number;
  endedMs: number;
  durationMs: number;
  /** Our stdout, when FFmpeg's pipe:1 passed through it. */
  stdout: FdWriter | undefined;
  /** Digests of the pipe operands ('pipe:0', 'pipe:1') as their bytes passed. */
  pipes: Map<string, StreamDigest>;
}

/**
 * Runs FFmpeg to its end. `whileRunning` is called once FFmpeg is started, for work that belongs off the critical
 * path. FFmpeg is killed if this throws, or if the process exits, while it runs.
 */
export async function runFfmpeg(intent: RunIntent, plan: SpawnPlan, whileRunning: () => void): Promise<Ran> {
  const { env, reportPath, self } = plan;
  const { pipeIn, pipeOut } = intent;
  const childEnv: NodeJS.ProcessEnv = { ...env };
  const filterStderr = !intent.ownReport;
  if (filterStderr) {
    childEnv.FFREPORT = `file=${escapeFfreport(reportPath)}:level=${REPORT_LEVEL}`;
    // FFmpeg colours its log only when stderr is a terminal (libavutil/log.c); ours is a pipe, so say it is one.
    // (isatty, not process.stderr.isTTY: that getter builds the stderr stream, which a quiet run never needs.)
    if (isatty(2) && env.TERM && env.AV_LOG_FORCE_NOCOLOR === undefined) childEnv.AV_LOG_FORCE_COLOR = '1';
  }
  const stdio: StdioOptions = [pipeIn ? 'pipe' : 'inherit', pipeOut ? 'pipe' : 'inherit', filterStderr ? 'pipe' : 'inherit'];
  const t0 = process.hrtime.bigint();
  const spawnedMs = Date.now();
  // Exactly one copy of a signal must reach FFmpeg: FFmpeg 5.1 finishes its outputs on the first SIGINT, SIGTERM or
  // SIGQUIT and abandons them on the second (ffmpeg.c: decode_interrupt_cb aborts all I/O once more than one signal came).
  // A signal sent to a whole process group reaches FFmpeg directly when it shares ours, so a copy passed on
  // from here would be the second. In a terminal's foreground group FFmpeg must share it (the keyboard, `q` and
  // job control are its own), and there the keys' signals are not passed on. Anywhere else (a script, a service,
  // a background job) FFmpeg gets a session and process group of its own (setsid, through `detached`), so every
  // signal reaches it through us, once; except when our stdin is a terminal we do not have in the foreground:
  // FFmpeg on its own would fight the shell for the keyboard instead of stopping as it does without us.
  const detached = self !== undefined && !(self.tpgid > 0 && (inTerminalForeground(self) || isatty(0)));
  const c = spawn(plan.binary, intent.ffArgs, { stdio, env: childEnv, cwd: intent.cwd, detached });
  const killOnExit = () => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const spawnError = new Promise<Error>((resolve) => c.once('error', resolve));

  let received: Forwarded | undefined;
  const forward = (sig: Forwarded) => {
    received ??= sig;
    if (c.exitCode !== null || c.signalCode !== null) return;
    // Asked at signal time: a background job may have been brought to the foreground since it started.
    if (!detached && TERMINAL_SIGNALS.has(sig) && inTerminalForeground()) return;
    c.kill(sig);
  };
  const handlers = FORWARDED.map((sig) => {
    const h = () => forward(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    whileRunning();
    let stdout: FdWriter | undefined;
    const pipes = new Map<string, StreamDigest>();
    if (pipeIn && c.stdin) {
      const d = new StreamDigest();
      pipes.set('pipe:0', d);
      const sink = c.stdin;
      sink.on('error', () => process.stdin.pause()); // FFmpeg stopped reading: so do we
      process.stdin.on('data', (chunk: Buffer) => {
        d.update(chunk);
        if (!sink.write(chunk)) {
          process.stdin.pause();
          sink.once('drain', () => process.stdin.resume());
        }
      });
      process.stdin.on('end', () => sink.end());
      c.once('exit', () => {
        process.stdin.pause();
        process.stdin.unref?.();
      });
    }
    if (pipeOut && c.stdout) {
      // pipe:1 is hashed as its bytes reach our stdout: what a reader that went away never got is not in it.
      const d = new StreamDigest();
      pipes.set('pipe:1', d);
      const out = new FdWriter(1, (b) => d.update(b));
      stdout = out;
      const src = c.stdout;
      // Our reader went away or our stdout failed: FFmpeg's next write fails, as it would have without us.
      const stop = () => src.destroy();
      src.on('data', (chunk: Buffer) => {
        if (out.write(chunk)) return;
        if (out.failed) {
          stop();
          return;
        }
        src.pause();
        out.onDrain(() => (out.failed ? stop() : src.resume()));
      });
    }
    if (filterStderr && c.stderr) {
      const err = stderrWriter();
      const from = c.stderr;
      const filter = new ReportBannerFilter(intent.tool, reportPath, (b) => void err.write(b));
      from.on('data', (chunk: Buffer) => {
        filter.push(chunk);
        if (err.full()) {
          from.pause();
          err.onDrain(() => from.resume());
        }
      });
      c.stderr.on('end', () => filter.end());
    }

    let startFailure: Error | undefined;
    const outcome = await Promise.race([
      new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.once('close', (code, signal) => resolve({ code, signal }))),
      spawnError.then((e) => {
        startFailure = e;
        return { code: null, signal: null };
      }),
    ]);
    const durationMs = Number((process.hrtime.bigint() - t0) / 1_000_000n);
    return { outcome, received, startFailure, spawnedMs, endedMs: Date.now(), durationMs, stdout, pipes };
  } finally {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    killOnExit();
    process.removeListener('exit', killOnExit);
  }
}
