/**
 * The ffaudit command line: parses arguments, calls one library function, prints, and maps errors to exit statuses
 * in one place (exit.ts). `ffaudit [options] ffmpeg|ffprobe ARGS…` bypasses the parser entirely so that FFmpeg's
 * arguments reach FFmpeg verbatim and start-up stays fast.
 */
import { reportError } from './exit.js';

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

async function main(argv: string[]): Promise<number> {
  const capture = parseCaptureInvocation(argv);
  // For a capture, only our own options count: `-v` after `ffmpeg` is FFmpeg's -loglevel.
  const verbose = (capture ? capture.options.verbose === true : argv.includes('--verbose') || argv.includes('-v')) || process.env.FFAUDIT_VERBOSE === '1';
  try {
    if (capture) {
      const { runCapture } = await import('./commands/capture.js');
      return await runCapture(capture);
    }
    const { runProgram } = await import('./program.js');
    return await runProgram(argv);
  } catch (e) {
    return reportError(e, verbose);
  }
}

process.exitCode = await main(process.argv.slice(2));
