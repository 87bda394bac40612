/**
 * Recognising `ffaudit [options] ffmpeg|ffprobe ARGS…` without any parser or other module, so that bin/ffaudit.js
 * can send an audited run straight to the bundled capture path (dist/bundle/capture.cjs; this module is bundled on its
 * own as dist/bundle/invocation.cjs) and FFmpeg's arguments reach FFmpeg verbatim.
 */

const CAPTURE_TOOLS = new Set(['ffmpeg', 'ffprobe']);
/** Options taking a value that may stand before `ffmpeg`/`ffprobe`. */
const VALUE_OPTIONS = new Set(['--ledger', '--key', '--actor', '--reason', '--ffmpeg', '--ffprobe']);

export interface CaptureInvocation {
  tool: 'ffmpeg' | 'ffprobe';
  options: Record<string, string | boolean>;
  args: string[];
}

/** Recognises `ffaudit [--opt v]… ffmpeg|ffprobe ARGS…`; undefined for every other command line. */
export function parseCaptureInvocation(argv: readonly string[]): CaptureInvocation | undefined {
  const options: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (CAPTURE_TOOLS.has(a)) return { tool: a as 'ffmpeg' | 'ffprobe', options, args: argv.slice(i + 1) };
    if (a === '--verbose' || a === '-v') {
      options.verbose = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!VALUE_OPTIONS.has(name)) return undefined;
    if (eq > 0) options[name.slice(2)] = a.slice(eq + 1);
    else {
      const v = argv[++i];
      if (v === undefined) return undefined;
      options[name.slice(2)] = v;
    }
  }
  return undefined;
}

/** For a capture only our own options count: `-v` after `ffmpeg` is FFmpeg's -loglevel. */
export function captureVerbose(inv: CaptureInvocation, env: NodeJS.ProcessEnv): boolean {
  return inv.options.verbose === true || env.FFAUDIT_VERBOSE === '1';
}
