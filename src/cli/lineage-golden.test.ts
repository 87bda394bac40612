/**
 * Trace (`trace --json` and the drawn tree), bundle and report output on a committed fixture ledger (testdata/fixture-ledger), compared byte for byte
 * with the output recorded when the fixture was made. A change that alters what these commands say about a
 * recorded lineage (a run left out, a source mislabelled, a proof built differently) fails here.
 *
 * Re-record only for a deliberate change of output: FFAUDIT_RECORD_GOLDEN=1 node --test dist/cli/lineage-golden.test.js
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatBundle } from '../core/bundle.js';
import { renderActivityReport, renderFileReport } from '../render/report-html.js';
import { formatLineageTree, lineageJson } from './lineage-format.js';
import { bundleLineages } from '../ledger/bundle.js';
import { Ledger } from '../ledger/ledger.js';
import { activityReport, fileReport } from '../ledger/report.js';
import { traceContent } from '../ledger/trace.js';

const FIXTURE = fileURLToPath(new URL('../../testdata/fixture-ledger/', import.meta.url));
const RECORD = process.env.FFAUDIT_RECORD_GOLDEN === '1';
const now = () => '2026-12-05T12:00:00.000000000Z';

/** The fixture's contents (testdata/fixture-ledger/README.md): a → b (renamed c), s, c + s → final, a note on final, a + ext → mix. */
const SHA = {
  a: '2d8c3cb3c935e4e9f68ed43d2f5e8a6d2241079c83b2c7c32fcdcedde8628668',
  c: '17022ee0cf41a75ddd753e67ca9362c08ba57b45008bf9cdc6654ab6948617fa',
  s: '4b472c3822dbf87964dd3b24742fb02baac94a8a6c1bc5aa3b6833e7bb75f954',
  final: 'b1449d70fafd20ba18f5315264f8f076085bd41024543981f14c9a6089629dcf',
  ext: '04a0f3ea69c0d82b56ed5eff18b77509c6529fab409151b57c77840aabc6da9c',
  mix: 'e6dc5a1b464a7b7c281bc8e1cd56be5116b683bd202c8057a58e85ec02548372',
  altered: 'fc5a17909cf4348353c317e0ab79657c120c844b5af176205cf2dbf066f649d5',
};
const FINAL_SIZE = 16608;

let dir: string;
let ledger: Ledger;
before(() => {
  // A copy: reading builds the derived search indexes inside the database.
  dir = mkdtempSync(join(tmpdir(), 'ffaudit-golden-'));
  cpSync(join(FIXTURE, 'ledger'), join(dir, 'ledger'), { recursive: true });
  ledger = Ledger.open({ dir: join(dir, 'ledger'), explicit: true });
});
after(() => {
  ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

function same(name: string, actual: string): void {
  const path = join(FIXTURE, 'expected', name);
  if (RECORD) writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'), `${name} differs from the recorded output`);
}

const trace = (name: keyof typeof SHA, checkIndex = true) => traceContent(ledger, `/evidence/${name}`, SHA[name], { checkIndex });

test('trace: the lineage of each fixture file, as data and as the drawn tree', async () => {
  for (const name of ['final', 'a', 'c', 's', 'mix', 'ext', 'altered'] as const) {
    const l = await trace(name);
    same(`trace-${name}.json`, lineageJson(l));
    if (l.known) same(`trace-${name}.txt`, formatLineageTree(l));
  }
  // A source no signed entry vouches for (ext.wav): index-checked by default, unproven without the check.
  same('trace-mix-unchecked.json', lineageJson(await trace('mix', false)));
  same('trace-mix-unchecked.txt', formatLineageTree(await trace('mix', false)));
});

test('bundle: one lineage, and two lineages with the report logs', async () => {
  same('bundle-final.json', formatBundle(await bundleLineages(ledger, [await trace('final')], { now })));
  same('bundle-final-s-reports.json', formatBundle(await bundleLineages(ledger, [await trace('final'), await trace('s')], { withReports: true, now })));
  same('bundle-a.json', formatBundle(await bundleLineages(ledger, [await trace('a')], { now })));
  same('bundle-mix-ext.json', formatBundle(await bundleLineages(ledger, [await trace('mix'), await trace('ext')], { now })));
});

test('report: the file report of the final output and the activity report of the whole ledger', async () => {
  same('report-final.html', renderFileReport(await fileReport(ledger, await trace('final'), FINAL_SIZE, { now })));
  same('report-activity.html', renderActivityReport(await activityReport(ledger, {}, { now })));
});
