/** Paths tests need: the project root, the shared known-answer vectors, the CLI. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/testing/paths.js → the project root is two levels up.
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS = resolve(PROJECT_ROOT, '..', 'shared', 'vectors');
export const CLI = join(PROJECT_ROOT, 'bin', 'ffaudit.js');

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix = 'ffaudit-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}
