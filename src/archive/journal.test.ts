import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../testing/fixtures.js';
import { clearPendingRun, readPendingRun, writePendingRun } from './journal.js';

const t = tempDir('journal');
after(t.cleanup);

describe('the pending-run journal', () => {
  it('is written whole, read back, cleared, and never written through a link planted at its name', () => {
    const loc = 's3://bucket/log';
    const ledger = join(t.dir, 'ledger');
    mkdirSync(ledger);
    assert.equal(readPendingRun(ledger, loc), undefined);
    assert.equal(writePendingRun(ledger, { location: loc, from: 3, to: 9 }), true);
    assert.deepEqual(readPendingRun(ledger, loc), { location: loc, from: 3, to: 9 });
    // Named by the location's SHA-256, so that every run to one archive finds the same journal.
    const name = 'archive-pending-c971dac852b53afb.json';
    assert.deepEqual(readdirSync(ledger), [name]);
    clearPendingRun(ledger, loc);
    assert.deepEqual(readdirSync(ledger), []);

    const outside = join(t.dir, 'outside');
    writeFileSync(outside, 'keep me');
    symlinkSync(outside, join(ledger, name));
    assert.equal(writePendingRun(ledger, { location: loc, from: 0, to: 1 }), true);
    assert.equal(readFileSync(outside, 'utf8'), 'keep me');
    assert.deepEqual(readPendingRun(ledger, loc), { location: loc, from: 0, to: 1 });
  });
});
