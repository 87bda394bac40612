/**
 * The whole of `ffaudit [options] ffmpeg|ffprobe ARGS…` behind one function. `npm run build` bundles this module and
 * everything it imports into one CommonJS file, dist/bundle/capture.cjs (scripts/bundle-capture.mjs), which
 * bin/ffaudit.js loads for an audited run: one file to read and compile instead of some thirty ES modules, and no
 * ES module loader to start, so FFmpeg starts sooner. The end-of-run code is evaluated when first used, while FFmpeg
 * runs.
 */
import { captureVerbose, type CaptureInvocation } from './capture-invocation.js';
import { runCapture } from './commands/capture.js';
import { reportError } from './exit.js';

/** Runs one audited run; returns the exit status (FFmpeg's own, or ours from exit.ts). */
export async function mainCapture(inv: CaptureInvocation): Promise<number> {
  try {
    return await runCapture(inv);
  } catch (e) {
    return reportError(e, captureVerbose(inv, process.env));
  }
}
