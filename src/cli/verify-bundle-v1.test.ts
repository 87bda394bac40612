/**
 * Bundles of the first format (`ffaudit-bundle/v1`) stay valid forever, and `verify-bundle` says the same about
 * them as it always did: the committed v1 bundles of testdata/fixture-ledger verify with the fixture's key, and
 * the human and `--json` output are compared byte for byte with the output recorded before the format gained
 * several logs (testdata/fixture-ledger/expected/verify-bundle-*).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../testing/fixtures.js';
import { runCliInProcess } from '../testing/cli.js';

const EXPECTED = 'testdata/fixture-ledger/expected';
const VKEY = 'testdata/fixture-ledger/ledger/vkey';

test('the committed v1 bundles verify, and verify-bundle prints exactly what it printed for them before', async () => {
  for (const name of ['final', 'final-s-reports', 'a', 'mix-ext']) {
    const bundle = `${EXPECTED}/bundle-${name}.json`;
    assert.equal((JSON.parse(readFileSync(join(PROJECT_ROOT, bundle), 'utf8')) as { format: string }).format, 'ffaudit-bundle/v1');
    for (const [ext, extra] of [['txt', []], ['json', ['--json']]] as const) {
      const r = await runCliInProcess(['verify-bundle', bundle, '--pubkey', VKEY, ...extra], { cwd: PROJECT_ROOT });
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, readFileSync(join(PROJECT_ROOT, EXPECTED, `verify-bundle-${name}.${ext}`), 'utf8'), `verify-bundle ${bundle} ${extra.join(' ')}`);
    }
  }
});
