/**
 * The whole of `ffaudit [options] ffmpeg|ffprobe ARGS…` behind one function. `npm run build` bundles this module and
 * everything it imports into dist/bundle/capture.js (scripts/bundle-capture.mjs), which bin/ffaudit.js loads for an
 * audited run: one module to resolve and compile instead of some thirty, so FFmpeg starts sooner. The end-of-run
 * code stays in a chunk of its own, loaded while FFmpeg runs.
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
