import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkImports, importsOf } from '../../scripts/check-imports.mjs';
import { PROJECT_ROOT, tempDir } from '../testing/fixtures.js';

const made = tempDir('imports');
after(made.cleanup);
let trees = 0;

/** A fake src/ tree with these files (path → source); returns its src directory. */
function tree(files: Record<string, string>): string {
  const src = join(made.dir, `t${trees++}`, 'src');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), text);
  }
  return src;
}

/** A tree every rule accepts: each layer importing the one below it, tests reaching anywhere. */
const CLEAN: Record<string, string> = {
  'core/entry.ts': "import { createHash } from 'node:crypto';\nimport { FfauditError } from './errors.js';\n",
  'core/errors.ts': 'export class FfauditError extends Error {}\n',
  'time/time.ts': "import { FfauditError } from '../core/errors.js';\n",
  'render/html.ts': "import { basename } from 'node:path';\nimport type { X } from '../core/entry.js';\n",
  'store/sqlite.ts': "import Database from 'better-sqlite3';\nimport type { X } from '../core/entry.js';\n",
  'ledger/ledger.ts': "import type { Store } from '../store/sqlite.js';\nimport { parseWhen } from '../time/time.js';\n",
  'archive/auto.ts': "import { readFileSync } from 'node:fs';\nimport type { Ledger } from '../ledger/ledger.js';\n",
  'capture/run.ts': "import { startAutoArchive } from '../archive/auto.js';\n",
  'cli/program.ts': "export async function run() {\n  await import('./commands/ledger.js');\n}\n",
  'cli/commands/ledger.ts': "import { Command } from 'commander';\nimport { parseIndex } from '../arguments.js';\n",
  'cli/arguments.ts': "import { FfauditError } from '../core/errors.js';\n",
  'testing/fixtures.ts': "import { Ledger } from '../ledger/ledger.js';\n",
  'cli/program.test.ts': "import { tempDir } from '../testing/fixtures.js';\nimport { run } from './program.js';\nimport type { Store } from '../store/sqlite.js';\n",
  'core/entry.test.ts': "import { tempDir } from '../testing/fixtures.js';\nimport { readFileSync } from 'node:fs';\n",
};

describe('scripts/check-imports.mjs: the layers of docs/design.md', () => {
  it('finds nothing wrong in src/', () => {
    assert.deepEqual(checkImports(join(PROJECT_ROOT, 'src')), []);
  });

  it('accepts a tree that keeps every rule, tests reaching across layers included', () => {
    assert.deepEqual(checkImports(tree(CLEAN)), []);
  });

  it('names an import cycle, through a dynamic import and an import type, with the files in it', () => {
    const src = tree({
      ...CLEAN,
      'cli/commands/ledger.ts': "import { Command } from 'commander';\nimport type { Opts } from '../program.js';\n",
    });
    assert.deepEqual(checkImports(src), [
      'src/cli/commands/ledger.ts → src/cli/program.ts: import cycle src/cli/commands/ledger.ts → src/cli/program.ts → src/cli/commands/ledger.ts',
    ]);
    const longer = tree({
      ...CLEAN,
      'ledger/a.ts': "export { b } from './b.js';\n",
      'ledger/b.ts': "import {\n  c,\n  d,\n} from './c.js';\n",
      'ledger/c.ts': "import './a.js';\n",
    });
    assert.deepEqual(checkImports(longer), ['src/ledger/a.ts → src/ledger/b.ts: import cycle src/ledger/a.ts → src/ledger/b.ts → src/ledger/c.ts → src/ledger/a.ts']);
  });

  it('refuses an upward import, and one between pure folders', () => {
    const src = tree({
      ...CLEAN,
      'ledger/ledger.ts': "import type { Store } from '../store/sqlite.js';\nimport { startAutoArchive } from '../archive/auto.js';\n",
      'archive/auto.ts': "import { run } from '../capture/run.js';\n",
      'render/html.ts': "import { parseWhen } from '../time/time.js';\n",
    });
    assert.deepEqual(checkImports(src), [
      'src/archive/auto.ts → src/capture/run.ts: capture/ is above archive/',
      'src/ledger/ledger.ts → src/archive/auto.ts: archive/ is above ledger/',
      'src/render/html.ts → src/time/time.ts: a pure folder imports only core/',
      // capture → archive → capture: a cycle as well as an upward import.
      'src/archive/auto.ts → src/capture/run.ts: import cycle src/archive/auto.ts → src/capture/run.ts → src/archive/auto.ts',
    ]);
  });

  it('keeps core/ to node:crypto and itself, and the pure folders away from I/O and packages', () => {
    const src = tree({
      ...CLEAN,
      'core/entry.ts': "import { readFileSync } from 'node:fs';\nimport { parseWhen } from '../time/time.js';\n",
      'core/merkle.ts': "import { merkle } from 'merkletreejs';\n",
      'time/time.ts': "import { statSync } from 'node:fs';\n",
      'render/html.ts': "import { basename } from 'node:path';\nimport { marked } from 'marked';\n",
    });
    assert.deepEqual(checkImports(src), [
      'src/core/entry.ts → node:fs: core/ imports only node:crypto and core/',
      'src/core/entry.ts → src/time/time.ts: core/ imports only node:crypto and core/',
      'src/core/merkle.ts → merkletreejs: core/ imports only node:crypto and core/',
      'src/render/html.ts → marked: a pure folder imports only folders of ours and built-ins that do no I/O',
      'src/time/time.ts → node:fs: a pure folder imports only folders of ours and built-ins that do no I/O',
    ]);
  });

  it('lets lineage/ build on the pure folders, but not reach the store or do I/O', () => {
    const src = tree({
      ...CLEAN,
      'lineage/walk.ts': "import { parseTimeNs } from '../time/time.js';\nimport { readFileSync } from 'node:fs';\n",
      'lineage/bundle.ts': "import type { Ledger } from '../ledger/ledger.js';\n",
    });
    assert.deepEqual(checkImports(src), [
      'src/lineage/bundle.ts → src/ledger/ledger.ts: ledger/ is above lineage/',
      'src/lineage/walk.ts → node:fs: a pure folder imports only folders of ours and built-ins that do no I/O',
    ]);
  });

  it('lets only the ledger use the store, and only tests use src/testing/', () => {
    const src = tree({
      ...CLEAN,
      'archive/auto.ts': "import type { Store } from '../store/sqlite.js';\n",
      'cli/program.ts': "import { tempDir } from '../testing/fixtures.js';\nexport { x } from '../store/sqlite.js';\n",
    });
    assert.deepEqual(checkImports(src), [
      'src/archive/auto.ts → src/store/sqlite.ts: only src/ledger/ uses the store',
      'src/cli/program.ts → src/testing/fixtures.ts: src/testing/ is for tests only',
      'src/cli/program.ts → src/store/sqlite.ts: only src/ledger/ uses the store',
    ]);
  });

  it('places every folder in a layer', () => {
    assert.deepEqual(checkImports(tree({ ...CLEAN, 'webhooks/http.ts': "import { Ledger } from '../ledger/ledger.js';\n" })), [
      'src/webhooks/http.ts: src/webhooks/ is in no layer of scripts/check-imports.mjs',
    ]);
  });

  it('refuses an import between two folders of one layer (archive/ and push/ know nothing of each other)', () => {
    assert.deepEqual(checkImports(tree({ ...CLEAN, 'push/client.ts': "import { x } from '../archive/auto.js';\n", 'archive/auto.ts': 'export const x = 1;\n' })), [
      'src/push/client.ts → src/archive/auto.ts: archive/ shares a layer with push/',
    ]);
  });

  it('reads static imports, re-exports, side-effect and dynamic imports, and skips words in comments and strings', () => {
    const source = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "import {\n  c,\n  type C,\n} from './c.js';",
      "export * from './d.js';",
      "export { e } from './e.js';",
      "import './f.js';",
      "const g = await import('./g.js');",
      '// an import from a comment: import x from "./no.js";',
      "const s = 'not an import from here';",
      "export const h = 1;",
    ].join('\n');
    assert.deepEqual(importsOf(source), ['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js', './g.js']);
  });
});
