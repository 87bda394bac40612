/**
 * One audited FFmpeg (or FFprobe) run, in the phases a reader can name: the intent (what the command line says it
 * reads and writes: intent.ts), the start committed before FFmpeg starts (start.ts), FFmpeg run with its stdio
 * passed through (ffmpeg-process.ts), what it touched collected, and the end committed (run-end.ts). Each phase
 * hands the next what it found; none shares state with another.
 *
 * Fail closed (docs/design.md invariant 3): FFmpeg is spawned only after `run.start` is durable, unless
 * FFAUDIT_POLICY=fail-open.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';
import type { Tool } from '../core/run.js';
import type { Ledger } from '../ledger/ledger.js';
import type { EarlyHash } from './file-state.js';
import { FORWARDED, runFfmpeg, type Ran } from './ffmpeg-process.js';
import { prepareIntent, type RunIntent } from './intent.js';
import { locateTool } from './locate.js';
import { procStat } from './proc-stat.js';
import type { RunEndContext } from './run-end.js';
import { makeScratch } from './scratch.js';
import { commitStart, type Started } from './start.js';

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

function signalNumber(sig: string): number {
  return (osConstants.signals as Record<string, number>)[sig] ?? 0;
}

/** What the run comes to once FFmpeg is done: our exit status, and the end to record when the start was recorded. */
export interface Collected {
  exitStatus: number;
  /** FFmpeg could not be started: thrown once the end is recorded. */
  failure: FfauditError | undefined;
  end: RunEndContext | undefined;
}

export interface CollectRequest {
  intent: RunIntent;
  binary: string;
  runId: string;
  started: Started | undefined;
  ran: Ran;
  /** The inputs hashed while FFmpeg ran (started in runFfmpeg's whileRunning). */
  early: Promise<Map<string, EarlyHash>>;
  reportPath: string;
  env: NodeJS.ProcessEnv;
  verbose: boolean;
}

/**
 * The fourth phase: what FFmpeg left behind. Its output to our stdout has arrived (or failed), its own status is
 * ours, and the end record is given everything FFmpeg touched: the inputs hashed while it ran, the pipes' digests
 * and where its report is.
 */
export async function collectRun(r: CollectRequest): Promise<Collected> {
  const { intent, ran } = r;
  const { outcome, stdout, startFailure } = ran;
  // Everything FFmpeg wrote to pipe:1 has reached our stdout, or the writing failed: FFmpeg exited 0 while its
  // output was lost only because it wrote to us, so the run does not report success (FFmpeg writing to the
  // pipe itself would have failed).
  // (Not after a signal: a run told to stop does not wait for a stalled reader, as FFmpeg would not.)
  if (!ran.received && !outcome.signal) await stdout?.idle();
  const notes = startFailure ? [`cannot start ${r.binary}: ${(startFailure as NodeJS.ErrnoException).code ?? startFailure.message}`] : [];
  if (stdout?.failed) notes.push(`${intent.tool}'s output to stdout (pipe:1) was cut short: ${stdout.failed}`);
  // FFmpeg's own status, also when a signal stopped it (255 from FFmpeg 5.1), as without us; 128 + N only when
  // signal N killed FFmpeg itself, as a shell reports it.
  const exitStatus = outcome.signal ? 128 + signalNumber(outcome.signal) : outcome.code === 0 && stdout?.failed ? 1 : (outcome.code ?? 1);
  const failure = startFailure ? new FfauditError('FFMPEG_NOT_FOUND', notes[0]!) : undefined;
  const s = r.started;
  if (!s) return { exitStatus, failure, end: undefined };
  const end: RunEndContext = {
    ledger: s.ledger,
    ...s.redacting,
    runId: r.runId,
    startIndex: s.startIndex,
    tool: intent.tool,
    cwd: intent.cwd,
    env: r.env,
    operands: intent.operands,
    aliases: intent.aliases,
    early: await r.early,
    pipes: ran.pipes,
    reportFile: intent.ownReport ? { own: true, startedMs: ran.spawnedMs, endedMs: ran.endedMs } : { own: false, path: r.reportPath },
    outcome,
    received: ran.received,
    durationMs: ran.durationMs,
    by: s.by,
    verbose: r.verbose,
    notes,
  };
  return { exitStatus, failure, end };
}

/**
 * The last phase: `run.end` committed (the ledger is closed after it), an archive started if configured, and a push
 * to the team server the ledger joined and the witnesses it lists: in the background (the run does not wait), or
 * with FFAUDIT_PUSH=sync waiting for the server's cosignature of the run's end (never for the witnesses: a
 * background push asks them after); a push that fails leaves FFmpeg's exit status alone. A ledger with a TSA and
 * nothing to push to starts the background push too: the TSA schedule runs with pushes (a host has no daemon).
 */
export async function commitEnd(end: RunEndContext): Promise<void> {
  const { recordRunEnd, warn } = await import('./run-end.js');
  const size = await recordRunEnd(end);
  // A ledger configured to archive by itself starts a detached archiver; the run does not wait for it.
  const archive = end.ledger.config.archive as { auto?: unknown } | undefined;
  if (archive?.auto === true) (await import('../archive/auto.js')).scheduleAutoArchive(end.ledger.dir);
  const server = end.ledger.config.server as { url?: unknown; push?: unknown } | undefined;
  const joined = typeof server?.url === 'string';
  const witnesses = Array.isArray(end.ledger.config.witnesses) && end.ledger.config.witnesses.length > 0;
  const stamped = typeof end.ledger.config.tsa === 'object' && end.ledger.config.tsa !== null;
  if (size === undefined || (!joined && !witnesses && !stamped)) return;
  const { pushMode, pushAfterRun, scheduleAutoPush } = await import('../push/auto.js');
  const mode = pushMode(end.env, typeof server?.push === 'string' ? server.push : undefined);
  if (mode === 'off') return;
  if (mode === 'sync' && joined) {
    const timeout = Number(end.env.FFAUDIT_PUSH_TIMEOUT);
    const problem = await pushAfterRun(end.ledger.dir, size, Number.isFinite(timeout) && timeout > 0 ? { timeoutS: timeout } : {});
    if (problem === undefined && !witnesses) return;
    if (problem !== undefined) warn(problem);
  }
  scheduleAutoPush(end.ledger.dir, end.env);
}

export async function captureRun(req: CaptureRequest): Promise<number> {
  const { tool, env } = req;
  const binary = locateTool(tool, req.binary, env);
  const runId = randomBytes(16).toString('hex');
  const self = procStat('self');
  const scratch = makeScratch(self);
  let early: Promise<Map<string, EarlyHash>> | undefined;
  const ignore = () => undefined;
  try {
    const intent = prepareIntent(req, scratch.dir);
    const started = await commitStart(intent, { openLedger: req.openLedger, binary, runId, actor: req.actor, reason: req.reason, failOpen: env.FFAUDIT_POLICY === 'fail-open' });
    // Once FFmpeg has exited, a signal must not cut the end record short: it is recorded, then we exit. Installed
    // before FFmpeg starts (it does nothing while runFfmpeg passes signals on), so that no signal finds no handler.
    // Removed once the end is recorded (finally): a caller that goes on (a test, a server) keeps its own handling.
    for (const sig of FORWARDED) process.on(sig, ignore);
    const reportPath = join(scratch.dir, 'report.log');
    const ran = await runFfmpeg(intent, { binary, env, reportPath, self }, () => {
      // What runs after FFmpeg is loaded while it runs, off the critical path; the inputs known now are hashed
      // while FFmpeg reads them, when there is a ledger to record them in.
      early = import('./run-end.js').then(({ startHash, warmUp }) => {
        const m = new Map<string, EarlyHash>();
        if (started) for (const f of intent.knownInputs) if (!m.has(f.path)) m.set(f.path, startHash(f));
        setImmediate(() => {
          warmUp();
          scratch.removeLeftovers();
        });
        return m;
      });
    });
    const collected = await collectRun({ intent, binary, runId, started, ran, early: early ?? Promise.resolve(new Map<string, EarlyHash>()), reportPath, env, verbose: req.verbose });
    if (collected.end) await commitEnd(collected.end);
    if (collected.failure) throw collected.failure;
    return collected.exitStatus;
  } finally {
    for (const sig of FORWARDED) process.off(sig, ignore);
    // Hashes nobody waited for (the run ended without a record) must not keep the process alive.
    early
      ?.then((m) => {
        for (const h of m.values()) h.cancel();
      })
      .catch(() => undefined);
    rmSync(scratch.dir, { recursive: true, force: true });
  }
}
