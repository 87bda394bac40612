#!/usr/bin/env node
// An audited run (`ffaudit [options] ffmpeg|ffprobe ARGS…`) loads the bundled capture module built by `npm run build`
// (scripts/bundle-capture.mjs), so that FFmpeg starts sooner; every other command loads the command line proper.
import { parseCaptureInvocation } from '../dist/cli/capture-invocation.js';

const capture = parseCaptureInvocation(process.argv.slice(2));
if (capture) {
  const { mainCapture } = await import('../dist/bundle/capture.js');
  process.exitCode = await mainCapture(capture);
} else {
  await import('../dist/cli/main.js');
}
