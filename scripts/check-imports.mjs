#!/usr/bin/env node
// Refuses the imports that would undo the layering of docs/design.md ("Layers"): an import cycle among src/
// modules, an import pointing upwards, a pure folder reaching for I/O or for anything of ours but core/, and any
// code but the ledger's touching the store. Run by `npm test` after the lint; prints one line per violation
// (importing file → imported file: why) and exits 1 when there is any. Test files are not checked: a test may
// reach across layers to set up what it needs. Plain Node, no dependency, so it runs before anything is trusted.
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Layers, lowest first; a folder may import its own files and those of lower layers only. The pure folders share a
 * layer, so they may not import each other (today none does): each is knowledge of its own over core/. lineage/
 * (the lineage walk and bundle assembly over a lookup passed in) is pure too, one step up: it may use them. pq/
 * holds the post-quantum primitive core/ takes as an interface (ML-DSA-44 from @noble/post-quantum, loaded at its
 * first use): below the store and everything that makes or checks cosignatures, above the pure folders, which
 * never need it. capture/
 * sits above archive/ because a run ends by archiving automatically (capture/audited-run.ts calls archive/auto.ts);
 * archive/ never needs to know how a run was captured. push/ (a host sending its log to the team server) shares
 * archive/'s layer for the same reason, and neither knows the other; remote/ (the client of the server's read API,
 * for `--server`) sits there too. timestamp/ (asking a time-stamping authority for an RFC 3161 token, verifying it,
 * and keeping tokens over the ledger's checkpoints) is not pure, since it fetches; it sits just above ledger/ and
 * below archive/ and push/, which timestamp a log before archiving it and publish its tokens. monitor/ (`ffaudit monitor`, an
 * independent party following logs through their tiles) reads them as archive/ does and shares capture/'s layer, knowing nothing of it. server/ (`ffaudit serve`)
 * is a face like cli/, below it only because the CLI starts it. Folders sharing a layer never import each other. testing/ sits above
 * everything and only tests import it.
 */
const LAYERS = [['core'], ['ffmpeg', 'redact', 'render', 'time'], ['lineage'], ['pq'], ['store'], ['ledger'], ['timestamp'], ['archive', 'push', 'remote'], ['capture', 'monitor'], ['server'], ['cli'], ['testing']];
const RANK = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank])));
/** The folders with no I/O: the first share a layer over core/ alone; lineage/ builds on them. */
const PURE_BASE = new Set(LAYERS[1]);
const PURE = new Set([...LAYERS[1], ...LAYERS[2]]);

/** What core/ may import besides itself: a third party verifies it with SHA-256 and Ed25519 alone. */
const CORE_BUILTINS = new Set(['node:crypto']);
/** Node built-ins that do no I/O, which the pure folders may import besides core/. */
const PURE_BUILTINS = new Set(['node:crypto', 'node:path', 'node:util', 'node:buffer', 'node:string_decoder', 'node:url']);
/** The only folders that may import store/: the ledger's use cases are the one way to the store. */
const STORE_USERS = new Set(['store', 'ledger', 'testing']);

/** The module specifiers a TypeScript source imports: static imports and re-exports (types too), dynamic imports. */
export function importsOf(source) {
  const out = [];
  const patterns = [
    /^[ \t]*(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import … from '…', export … from '…'
    /^[ \t]*import\s*['"]([^'"]+)['"]/gm, // import '…' for its effects
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('…')
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

function sourceFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const folderOf = (rel) => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '');
const posix = (p) => p.split(sep).join('/');

/**
 * Checks every non-test .ts file under srcDir; returns one line per violation, each naming the importing file and
 * the imported one as paths relative to srcDir's parent (src/cli/program.ts), in a stable order.
 */
export function checkImports(srcDir) {
  const root = resolve(srcDir);
  const shown = (rel) => posix(join(relative(dirname(root), root), rel));
  const files = sourceFiles(root).map((p) => posix(relative(root, p))).sort();
  const known = new Set(files);
  const problems = [];
  const edges = new Map(); // file → files of ours it imports

  for (const file of files) {
    const from = folderOf(file);
    const targets = new Set();
    edges.set(file, targets);
    if (!RANK.has(from)) problems.push(`${shown(file)}: ${from ? `src/${from}/` : 'src/'} is in no layer of scripts/check-imports.mjs`);
    for (const spec of importsOf(readFileSync(join(root, file), 'utf8'))) {
      if (!spec.startsWith('.')) {
        const builtin = spec.startsWith('node:') ? spec : null;
        if (from === 'core' && !CORE_BUILTINS.has(spec)) problems.push(`${shown(file)} → ${spec}: core/ imports only node:crypto and core/`);
        else if (PURE.has(from) && !(builtin && PURE_BUILTINS.has(builtin))) {
          problems.push(`${shown(file)} → ${spec}: a pure folder imports only folders of ours and built-ins that do no I/O`);
        }
        continue;
      }
      const stem = posix(normalize(join(dirname(file), spec))).replace(/\.js$/, '');
      // A .js specifier names the .ts or the .tsx (JSX) source it is compiled from.
      const target = known.has(`${stem}.tsx`) ? `${stem}.tsx` : `${stem}.ts`;
      if (target.startsWith('../')) {
        problems.push(`${shown(file)} → ${spec}: outside src/`);
        continue;
      }
      if (!known.has(target)) continue; // tsc reports a missing module; nothing to check here
      targets.add(target);
      const to = folderOf(target);
      if (to === from) continue;
      const why =
        to === 'testing' ? 'src/testing/ is for tests only'
        : to === 'store' && !STORE_USERS.has(from) ? 'only src/ledger/ uses the store'
        : from === 'core' ? 'core/ imports only node:crypto and core/'
        : PURE_BASE.has(from) && to !== 'core' ? 'a pure folder imports only core/'
        : RANK.has(to) && RANK.has(from) && RANK.get(to) > RANK.get(from) ? `${to}/ is above ${from}/`
        : RANK.has(to) && RANK.has(from) && RANK.get(to) === RANK.get(from) ? `${to}/ shares a layer with ${from}/`
        : null;
      if (why) problems.push(`${shown(file)} → ${shown(target)}: ${why}`);
    }
  }
  for (const cycle of cycles(edges)) {
    problems.push(`${shown(cycle[0])} → ${shown(cycle[1])}: import cycle ${cycle.map(shown).join(' → ')}`);
  }
  return problems;
}

/** One cycle per strongly connected component of more than one file (or a file importing itself), found by Tarjan's algorithm. */
function cycles(edges) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  let next = 0;
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set();
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.add(w);
    } while (w !== v);
    if (component.size > 1 || edges.get(v).has(v)) out.push(shortestCycle([...component].sort()[0], component, edges));
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** The shortest path from start back to itself within its component (breadth first), as [start, …, start]. */
function shortestCycle(start, component, edges) {
  const parent = new Map();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i];
    for (const w of [...edges.get(v)].sort()) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = parent.get(u)) path.unshift(u);
        return [start, ...path];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkImports(join(dirname(fileURLToPath(import.meta.url)), '..', 'src'));
  for (const p of problems) console.error(p);
  process.exit(problems.length ? 1 : 0);
}
