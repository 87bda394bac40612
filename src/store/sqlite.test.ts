/** The SQLite backend against the store contract (src/testing/store-conformance.ts), each store in a file of its own. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { storeConformance } from '../testing/store-conformance.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'ffaudit-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

// A store's own path names the private copy a read-only open may read instead of the file: the file is kept here.
const files = new WeakMap<Store, string>();
let n = 0;

storeConformance('SQLite', {
  create() {
    const file = join(root, `ledger-${n++}.db`);
    const s = SqliteStore.open(file, { create: true });
    files.set(s, file);
    return s;
  },
  reopen(closed, { readOnly }) {
    const file = files.get(closed)!;
    const s = SqliteStore.open(file, { readonly: readOnly });
    files.set(s, file);
    return s;
  },
});
