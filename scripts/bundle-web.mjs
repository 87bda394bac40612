#!/usr/bin/env node
// Builds what the web interface serves under /assets/ (src/server/web/assets.ts) into dist/web/, from browser/:
//   each browser/*.ts becomes dist/web/<name>.js (esbuild, one self-contained script each: no module loading, no
//   request anywhere but this server), after tsc has checked them against the DOM's types (browser/tsconfig.json);
//   browser/styles/*.css are joined, in name order, into dist/web/app.css; browser/*.svg are copied.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = `${root}browser/`;
const out = `${root}dist/web/`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${src}tsconfig.json`], { stdio: 'inherit' });

const entries = readdirSync(src).filter((n) => n.endsWith('.ts') && !n.endsWith('.d.ts'));
await build({
  absWorkingDir: root,
  entryPoints: entries.map((n) => `${src}${n}`),
  outdir: out,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});

const css = readdirSync(`${src}styles`).filter((n) => n.endsWith('.css')).sort();
writeFileSync(`${out}app.css`, css.map((n) => `/* ${n} */\n${readFileSync(`${src}styles/${n}`, 'utf8')}`).join('\n'));
for (const n of readdirSync(src).filter((n) => n.endsWith('.svg'))) copyFileSync(`${src}${n}`, `${out}${n}`);
