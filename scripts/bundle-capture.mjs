#!/usr/bin/env node
// Builds dist/bundle/capture.js, the module bin/ffaudit.js loads for `ffaudit ffmpeg|ffprobe …`, from tsc's output
// (run after `tsc`, as `npm run build` does). Node 20's ES module loader resolves, reads and compiles each module
// separately; one bundle of the capture path instead of some thirty modules cuts that part of an audited run's
// start-up (bench/results-capture.md). The end-of-run code, imported dynamically, stays a chunk of its own that is
// loaded while FFmpeg runs. Packages (better-sqlite3) stay external, as installed; so does the auto-archive module,
// which is only loaded when a ledger asks for it.
// The bundle sits at the same depth as dist/capture/, so the paths its modules compute from import.meta.url
// (../../bin/ffaudit.js, ../cli/main.js, createRequire) mean the same there.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { capture: 'dist/cli/capture-main.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  external: ['../archive/auto.js'],
  chunkNames: 'chunk-[hash]',
  sourcemap: 'linked',
  logLevel: 'warning',
});
