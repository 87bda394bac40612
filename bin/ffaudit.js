#!/usr/bin/env node
// CommonJS (bin/package.json), so that an audited run (`ffaudit [options] ffmpeg|ffprobe ARGS…`) never starts
// Node's ES module loader: it loads the bundled capture path built by `npm run build` (scripts/bundle-capture.mjs)
// and FFmpeg starts sooner. Every other command loads the command line proper, dist/cli/main.js.
'use strict';
const { parseCaptureInvocation } = require('../dist/bundle/invocation.cjs');

const capture = parseCaptureInvocation(process.argv.slice(2));
if (capture) {
  const bundle = require('./code-cache.js').requireCached(require('node:path').join(__dirname, '../dist/bundle/capture.cjs'));
  bundle.exports.mainCapture(capture).then((status) => {
    process.exitCode = status;
    bundle.save();
    // Stopped by a signal (128 + n): output still queued for a reader that does not read is abandoned, as FFmpeg's
    // would be, instead of keeping the process alive. The run is already recorded.
    if (status > 128) process.exit(status);
  });
} else {
  import('../dist/cli/main.js');
}
