/**
 * One audited FFmpeg (or FFprobe) run: commit `run.start`, run FFmpeg with its arguments verbatim and its stdio
 * passed through, hash inputs while it runs, then commit `run.end` with everything it touched.
 *
 * Transparency: stdin/stdout are inherited (FFmpeg sees the very same file descriptors) unless a pipe operand
 * (`-`, `pipe:0`, `pipe:1`) must be hashed, and stderr is inherited whenever the user asked for their own report.
 * Otherwise stderr flows through ReportBannerFilter, which removes only the lines our FFREPORT adds.
 *
 * Fail closed (docs/design.md invariant 3): FFmpeg is spawned only after `run.start` is durable, unless
 * FFAUDIT_POLICY=fail-open. Each signal reaches FFmpeg once, and our own failures kill it. Killed outright, we can no
 * longer stop it: FFmpeg 5.1 ignores SIGPIPE, so its writes to the pipes we held fail and it runs on to its end.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, symlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { FfauditError } from '../core/errors.js';
import { analyzeFfmpegArgs, analyzeFfprobeArgs } from '../ffmpeg/ffargs.js';
import { parseRedactionRules, redactArgv, redactField, redactFileRecords, redactPath, type RedactionRule } from '../redact/redact.js';
import type { Author } from '../core/entry.js';
import type { Redaction } from '../core/entry.js';
import type { FfmpegIdentity, InputRecord, RunStartEntry, Tool } from '../core/run.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { ffauditVersion } from '../ledger/software.js';
import type { Ledger } from '../ledger/ledger.js';
import { StreamDigest } from './hash.js';
import { identifyTool } from './identity.js';
import { locateTool } from './locate.js';
import { rawArgBytes } from './raw-argv.js';
import { FdWriter, stderrWriter, warn } from './fd-writer.js';
import { ReportBannerFilter } from './stderr-filter.js';
import { inTerminalForeground, procStat } from './proc-stat.js';
import { makeScratch } from './scratch.js';
import { fileState, type EarlyHash, type LocalFile, type Operands } from './file-state.js';
import { classifyTarget, isSequencePattern } from './target.js';
import { wantsOwnReport } from './user-report.js';

export interface CaptureRequest {
  tool: Tool;
  args: string[];
  /** Opens the ledger (throws when it cannot). */
  openLedger: () => Ledger;
  /** --ffmpeg / --ffprobe. */
  binary?: string | undefined;
  actor?: string | undefined;
  reason?: string | undefined;
  verbose: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The arguments' exact bytes where they are not valid UTF-8 (default: read from /proc/self/cmdline). */
  rawArgs?: (Buffer | undefined)[];
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
type Forwarded = (typeof FORWARDED)[number];
/** What a terminal's keys (Ctrl-C, Ctrl-\) send, to its whole foreground process group (termios(3): ISIG). */
const TERMINAL_SIGNALS: ReadonlySet<Forwarded> = new Set(['SIGINT', 'SIGQUIT']);
const REPORT_LEVEL = 48; // AV_LOG_DEBUG: shows every "Opening '…' for reading/writing" and the stream dumps

/** FFREPORT values are ':'-separated with '\' escapes and '…' quoting (libavutil av_get_token). */
function escapeFfreport(p: string): string {
  return p.replace(/[\\:']/g, '\\$&');
}

/** What the command line names: inputs (with filter sources and files named by options) and outputs. */
export function operandsOf(tool: Tool, args: readonly string[]): Operands & { userReport: boolean } {
  if (tool === 'ffprobe') {
    return { inputs: analyzeFfprobeArgs(args).inputs.map((name) => ({ name, format: null })), outputs: [], userReport: args.includes('-report') };
  }
  const a = analyzeFfmpegArgs(args);
  return {
    inputs: [
      ...a.inputs.map((name, i) => ({ name, format: a.inputFormats[i] ?? null })),
      ...a.filterSources.map((name) => ({ name, format: null })),
      ...a.otherInputFiles.map((name) => ({ name, format: null })),
    ],
    outputs: [...a.outputs.map((name, i) => ({ name, format: a.outputFormats[i] ?? null })), ...a.otherOutputFiles.map((name) => ({ name, format: null }))],
    userReport: a.userReport,
  };
}

/**
 * The extension of a name's last component (`.mp4`), when it is plain ASCII, else ''. FFmpeg chooses an output's
 * muxer, and weighs an input's demuxer, by the text after the name's last '.' (libavformat av_guess_format and
 * av_match_ext), so the link that stands for a non-UTF-8 name must end as the name does. No format's extension is
 * anything but ASCII letters and digits, so an extension that is not has nothing to match and is left off.
 */
function plainExtension(name: Buffer): string {
  const base = name.subarray(name.lastIndexOf(0x2f) + 1);
  const dot = base.lastIndexOf(0x2e);
  if (dot < 0) return '';
  const ext = base.subarray(dot).toString('latin1');
  return /^\.[A-Za-z0-9_]{1,32}$/.test(ext) ? ext : '';
}

/** Muxers that write files named after their output, or write it under a temporary name and rename it over the name. */
const MULTI_FILE_MUXERS = new Set(['hls', 'dash', 'segment', 'ssegment', 'stream_segment', 'webm_chunk', 'smoothstreaming', 'hds']);

/**
 * Whether a name stands for more than the one file a link can stand for: a sequence pattern (FFmpeg expands the
 * name it is given, which the link's name is not), or the output of a muxer that writes further files beside it,
 * named after it, or renames a temporary file over it (the link itself would be replaced, and the real file never
 * written). `format` is the output's -f; without one FFmpeg picks HLS for `.m3u8` and DASH for `.mpd`.
 */
function namesSeveralFiles(name: string, format: string | null | undefined): boolean {
  if (isSequencePattern(name)) return true;
  if (format === undefined) return false; // not an output
  return format === null ? /\.(m3u8|mpd)$/i.test(name) : MULTI_FILE_MUXERS.has(format);
}

function signalNumber(sig: string): number {
  return (osConstants.signals as Record<string, number>)[sig] ?? 0;
}

export async function captureRun(req: CaptureRequest): Promise<number> {
  const { tool, args, env, cwd } = req;
  const binary = locateTool(tool, req.binary, env);
  const named = operandsOf(tool, args);
  const ownReport = wantsOwnReport(named.userReport, env);
  const failOpen = env.FFAUDIT_POLICY === 'fail-open';
  const runId = randomBytes(16).toString('hex');

  const self = procStat('self');
  const scratch = makeScratch(self);
  const tmp = scratch.dir;
  let child: ChildProcess | undefined;
  let earlyHashes: Promise<Map<string, EarlyHash>> | undefined;
  const killOnExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  try {
    // Non-UTF-8 operands reach FFmpeg through symlinks with ASCII names whose targets are the exact bytes.
    const raw = req.rawArgs ?? rawArgBytes(args);
    const ffArgs = [...args];
    const aliases = new Map<string, LocalFile>();
    const argvB64: Record<string, string> = {};
    const operandNames = new Set([...named.inputs, ...named.outputs].map((o) => o.name));
    raw.forEach((b, i) => {
      if (!b) return;
      argvB64[String(i)] = b.toString('base64');
      if (!operandNames.has(args[i]!)) {
        throw new FfauditError('USAGE', `argument ${i + 1} is not valid UTF-8 and is not a file name; FFmpeg was not run (rename the file or use a UTF-8 name)`);
      }
      if (namesSeveralFiles(args[i]!, named.outputs.find((o) => o.name === args[i])?.format)) {
        throw new FfauditError('USAGE', `argument ${i + 1} is not valid UTF-8 and names a set of files (a numbered sequence, or an HLS, DASH or segment output), which FFmpeg cannot be given through a link; FFmpeg was not run (use a UTF-8 name)`);
      }
      const abs = b[0] === 0x2f ? b : Buffer.concat([Buffer.from(cwd.endsWith('/') ? cwd : `${cwd}/`), b]);
      const link = join(tmp, `arg-${i}${plainExtension(abs)}`);
      symlinkSync(abs, link);
      ffArgs[i] = link;
      const shown = abs.toString('utf8');
      aliases.set(link, { path: shown, fsPath: abs, pathB64: abs.toString('base64') });
    });

    // ---- run.start: committed before FFmpeg starts (fail closed) ----
    let ledger: Ledger | undefined;
    let startIndex = -1;
    let key: Buffer | undefined;
    let extra: RedactionRule[] = [];
    let secrets: string[] = [];
    let argvRedactions: Redaction[] = [];
    let redactedArgv: string[] = [];
    let author: Author | undefined;
    let authorRedactions: Redaction[] = [];
    const known: LocalFile[] = [];
    // What FFmpeg is given (non-UTF-8 names replaced by their links); the same analysis when there are none.
    const operands = aliases.size ? operandsOf(tool, ffArgs) : named;
    for (const spec of operands.inputs) {
      const t = classifyTarget(spec.name, 'input', spec.format, cwd);
      if (t.kind === 'file') known.push(aliases.get(spec.name) ?? { path: t.path, fsPath: t.path });
    }
    const startedAt = nowRfc3339();
    let identity: FfmpegIdentity;
    try {
      ledger = req.openLedger();
      key = ledger.redactionKey();
      extra = parseRedactionRules(ledger.config);
      const r = redactArgv(args, key, extra);
      redactedArgv = r.argv;
      argvRedactions = r.redactions;
      secrets = r.secrets;
      identity = await identifyTool(binary, ledger.dir);
      const startInputs: InputRecord[] = [];
      for (const spec of operands.inputs) {
        const t = classifyTarget(spec.name, 'input', spec.format, cwd);
        if (t.kind === 'url') startInputs.push({ path: redactArgv([t.url], key, extra).argv[0]!, size: null, sha256: null });
        else if (t.kind === 'pipe') startInputs.push({ path: t.path, size: null, sha256: null });
        else if (t.kind === 'file') {
          const f = aliases.get(spec.name) ?? { path: t.path, fsPath: t.path };
          const st = fileState(f.fsPath);
          const rec: InputRecord = { path: f.path, size: 'error' in st ? null : Number(st.size), sha256: null };
          if (f.pathB64) rec.path_b64 = f.pathB64;
          if ('error' in st) rec.error = st.error;
          startInputs.push(rec);
        }
      }
      // Recorded paths go through the same redaction as the argv (the argv's own redactions stay first: argv_b64 below
      // and the end entry rely on them).
      const recordedCwd = redactPath(cwd, 'cwd', key, secrets, extra);
      const pathRedactions = [...recordedCwd.redactions, ...redactFileRecords(startInputs, 'inputs', key, secrets, extra)];
      // What the user says about the run (--actor, --reason) is redacted as the argv is (docs/design.md invariant 4).
      author = currentAuthor(req.actor);
      const actor = author.asserted_actor === undefined ? undefined : redactField(author.asserted_actor, 'by.asserted_actor', key, secrets, extra);
      if (actor) author.asserted_actor = actor.value;
      const reason = req.reason ? redactField(req.reason, 'reason', key, secrets, extra) : undefined;
      authorRedactions = actor?.redactions ?? [];
      const start: RunStartEntry = {
        v: 1,
        type: 'run.start',
        time: startedAt,
        by: author,
        ffaudit_version: ffauditVersion(),
        run: runId,
        tool,
        cwd: recordedCwd.path,
        argv: redactedArgv,
        redactions: [...argvRedactions, ...pathRedactions, ...authorRedactions, ...(reason?.redactions ?? [])],
        ffmpeg: identity,
        inputs: startInputs,
      };
      if (reason) start.reason = reason.value;
      if (Object.keys(argvB64).length) {
        // Only arguments free of secrets are kept byte-exact (a redacted argument keeps only its keyed hash).
        const redactedAt = new Set(argvRedactions.map((x) => x.where));
        start.argv_b64 = Object.fromEntries(Object.entries(argvB64).filter(([i]) => !redactedAt.has(`argv[${i}]`)));
      }
      startIndex = ledger.append([start]).indices[0]!;
    } catch (e) {
      if (!failOpen) {
        ledger?.close();
        const msg = e instanceof Error ? e.message : String(e);
        throw new FfauditError('RECORD', `the run could not be recorded, so ${tool} was not started: ${msg}`, { cause: e });
      }
      warn(`WARNING: the run could not be recorded (${e instanceof Error ? e.message : String(e)}); running ${tool} UNAUDITED because FFAUDIT_POLICY=fail-open`);
      await stderrWriter().idle(); // on the terminal before anything FFmpeg prints
      ledger?.close();
      ledger = undefined;
    }

    // ---- spawn ----
    const pipeIn = operands.inputs.some((s) => {
      const t = classifyTarget(s.name, 'input', s.format, cwd);
      return t.kind === 'pipe' && t.fd === 0;
    });
    const pipeOut = operands.outputs.some((s) => {
      const t = classifyTarget(s.name, 'output', s.format, cwd);
      return t.kind === 'pipe' && t.fd === 1;
    });
    const reportPath = join(tmp, 'report.log');
    const childEnv: NodeJS.ProcessEnv = { ...env };
    const filterStderr = !ownReport;
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
    const c = spawn(binary, ffArgs, { stdio, env: childEnv, cwd, detached });
    child = c;
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

    // What runs after FFmpeg is loaded while it runs, off the critical path; the inputs known now are hashed
    // while FFmpeg reads them, when there is a ledger to record them in.
    const endModule = import('./run-end.js');
    const early = endModule.then(({ startHash, warmUp }) => {
      const m = new Map<string, EarlyHash>();
      if (ledger && key) for (const f of known) if (!m.has(f.path)) m.set(f.path, startHash(f));
      setImmediate(() => {
        warmUp();
        scratch.removeLeftovers();
      });
      return m;
    });
    earlyHashes = early;
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
      const filter = new ReportBannerFilter(tool, reportPath, (b) => void err.write(b));
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
    const endedMs = Date.now();
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    // From here on a signal must not cut the end record short: it is recorded, then we exit.
    const late = () => undefined;
    for (const sig of FORWARDED) process.on(sig, late);

    // Everything FFmpeg wrote to pipe:1 has reached our stdout, or the writing failed: FFmpeg exited 0 while its
    // output was lost only because it wrote to us, so the run does not report success (FFmpeg writing to the
    // pipe itself would have failed).
    // (Not after a signal: a run told to stop does not wait for a stalled reader, as FFmpeg would not.)
    if (!received && !outcome.signal) await stdout?.idle();
    const notes = startFailure ? [`cannot start ${binary}: ${(startFailure as NodeJS.ErrnoException).code ?? startFailure.message}`] : [];
    if (stdout?.failed) notes.push(`${tool}'s output to stdout (pipe:1) was cut short: ${stdout.failed}`);
    // FFmpeg's own status, also when a signal stopped it (255 from FFmpeg 5.1), as without us; 128 + N only when
    // signal N killed FFmpeg itself, as a shell reports it.
    const exitStatus = outcome.signal ? 128 + signalNumber(outcome.signal) : outcome.code === 0 && stdout?.failed ? 1 : (outcome.code ?? 1);
    const failure = startFailure ? new FfauditError('FFMPEG_NOT_FOUND', notes[0]!) : undefined;
    if (ledger && key && author) {
      // ---- run.end ----
      const { recordRunEnd } = await endModule;
      await recordRunEnd({
        // The end repeats `by`, so it lists what was removed from it too (after the argv's, which stay first).
        ledger, key, extra, secrets, argvRedactions: [...argvRedactions, ...authorRedactions], runId, startIndex, tool, cwd, env, operands, aliases, early: await early, pipes,
        reportFile: ownReport ? { own: true, startedMs: spawnedMs, endedMs } : { own: false, path: reportPath },
        outcome, received, durationMs, by: author, verbose: req.verbose, notes,
      });
      // A ledger configured to archive by itself starts a detached archiver; the run does not wait for it.
      const archive = ledger.config.archive as { auto?: unknown } | undefined;
      if (archive?.auto === true) (await import('../archive/auto.js')).scheduleAutoArchive(ledger.dir);
    }
    if (failure) throw failure;
    return exitStatus;
  } finally {
    // Hashes nobody waited for (the run ended without a record) must not keep the process alive.
    earlyHashes
      ?.then((m) => {
        for (const h of m.values()) h.cancel();
      })
      .catch(() => undefined);
    killOnExit();
    process.removeListener('exit', killOnExit);
    rmSync(tmp, { recursive: true, force: true });
  }
}
