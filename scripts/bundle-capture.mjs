#!/usr/bin/env node
// Builds the two CommonJS files bin/ffaudit.js loads for `ffaudit ffmpeg|ffprobe …`, from tsc's output (run after
// `tsc`, as `npm run build` does):
//   dist/bundle/invocation.cjs  recognises the command line (src/cli/capture-invocation.ts), nothing else;
//   dist/bundle/capture.cjs     the whole capture path (src/cli/capture-main.ts and everything it imports);
//   dist/bundle/better-sqlite3-VERSION.cjs  better-sqlite3's JavaScript (14 files) as one file, which the store
//                               loads instead of the package when the installed package is that version and its
//                               addon is where a release build puts it (one file read and compiled instead of
//                               fourteen). The native addon and `bindings` stay in node_modules, as installed.
// Node 20's ES module loader resolves, reads and compiles each module separately, and starting it at all has a cost
// of its own; one CommonJS bundle loaded by a CommonJS bin/ffaudit.js skips both (bench/results-capture.md).
// The end-of-run code, imported dynamically, is only evaluated when first used, while FFmpeg runs. Packages
// (better-sqlite3) stay external, as installed. The bundle holds no import() of its own (checked below): bin/ffaudit.js
// compiles it through V8's code cache (bin/code-cache.js), where a dynamic import has no loader to call.
// The bundle sits at the same depth as dist/capture/, and import.meta.url is defined as its own URL, so the paths
// its modules compute from it (../../bin/ffaudit.js, ../cli/main.js, createRequire) mean the same there.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
const common = {
  absWorkingDir: root,
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
};
await build({ ...common, entryPoints: { invocation: 'dist/cli/capture-invocation.js' } });
// Named with the version it was built from: the store uses it only beside that very version's native addon.
const { version } = JSON.parse(readFileSync(`${root}node_modules/better-sqlite3/package.json`, 'utf8'));
await build({ ...common, packages: undefined, entryPoints: { [`better-sqlite3-${version}`]: 'better-sqlite3' }, external: ['bindings'] });
await build({
  ...common,
  entryPoints: { capture: 'dist/cli/capture-main.js' },
  define: { 'import.meta.url': '__ffaudit_module_url' },
  banner: { js: "const __ffaudit_module_url = require('node:url').pathToFileURL(__filename).href;" },
});
const bundled = readFileSync(`${outdir}/capture.cjs`, 'utf8');
if (/\bimport\(/.test(bundled.replace(/\/\/.*$/gm, ''))) {
  throw new Error('dist/bundle/capture.cjs holds a dynamic import(): load it with require (see bin/code-cache.js)');
}
// The server's packages never load on the capture path (docs/design.md, Layers): a run pushes over fetch.
for (const pkg of ['pg', 'hono', '@hono/node-server', '@aws-sdk/client-s3']) {
  if (bundled.includes(`require("${pkg}`)) throw new Error(`dist/bundle/capture.cjs requires ${pkg}: the capture path must not load it`);
}
