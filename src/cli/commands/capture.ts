/** `ffaudit [options] ffmpeg|ffprobe ARGS…`: one audited run; the exit status is FFmpeg's own (exit.ts for ours). */
import { captureRun } from '../../capture/audited-run.js';
import type { CaptureInvocation } from '../capture-invocation.js';
import { openLedger } from '../context.js';

function opt(o: Record<string, string | boolean>, name: string): string | undefined {
  const v = o[name];
  return typeof v === 'string' ? v : undefined;
}

export async function runCapture(inv: CaptureInvocation): Promise<number> {
  const o = inv.options;
  const env = process.env;
  return captureRun({
    tool: inv.tool,
    args: inv.args,
    openLedger: () => openLedger({ ledger: opt(o, 'ledger'), key: opt(o, 'key') }, { env, cwd: process.cwd(), err: (t) => process.stderr.write(t) }),
    binary: opt(o, inv.tool),
    actor: opt(o, 'actor') ?? env.FFAUDIT_ACTOR,
    reason: opt(o, 'reason') ?? env.FFAUDIT_REASON,
    verbose: o.verbose === true || env.FFAUDIT_VERBOSE === '1',
    env,
    cwd: process.cwd(),
  });
}
