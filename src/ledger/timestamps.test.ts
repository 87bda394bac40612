/**
 * Time-stamp tokens in the ledger: what Ledger.addTimestamps accepts and refuses before anything is stored. The
 * tokens here are stand-in bytes: the ledger checks only what is its own (the checkpoint and the row's identity);
 * the tokens themselves are verified by src/timestamp/, tested against a real TSA there.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { tempDir } from '../testing/fixtures.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger, type Timestamp } from './ledger.js';

const tmp = tempDir('timestamps');
after(tmp.cleanup);
let counter = 0;
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
const code = (c: string) => (e: unknown) => e instanceof FfauditError && e.code === c;

function fresh(): Ledger {
  const l = Ledger.init(join(tmp.dir, `l${counter++}`), { origin: `example.org/ts-${counter}` });
  l.append([note('n0')]);
  l.append([note('n1')]);
  return l;
}

function row(checkpoint: string, token: string, renews: Buffer | null = null): Timestamp {
  const cp = parseSignedCheckpoint(checkpoint);
  const der = Buffer.from(token);
  return { tokenHash: createHash('sha256').update(der).digest(), size: cp.size, root: cp.root, checkpoint, renews, tsa: 'https://tsa.example', genTime: '2026-12-06T00:00:00.000Z', signerNotAfter: '2027-12-06T00:00:00.000Z', token: der };
}

describe('Ledger.addTimestamps', () => {
  it('stores tokens over its own checkpoints and renewals of them; reads them back by size', () => {
    const l = fresh();
    const cp = l.checkpoint();
    const first = row(cp, 'token one');
    assert.equal(l.addTimestamps([first, { ...row(cp, 'token two', first.tokenHash), genTime: '2027-01-01T00:00:00.000Z' }]), 2);
    assert.equal(l.addTimestamps([first]), 0);
    assert.deepEqual(l.timestamps(2).map((t) => t.token.toString()), ['token one', 'token two']);
    assert.deepEqual(l.timestamps(1), []);
  });

  it("refuses, storing nothing: another log's checkpoint, a row whose size or key does not match, a renewal of nothing", () => {
    // Guards: a token kept for a checkpoint this ledger never signed (it would vouch for another log's entries),
    // rows keyed by something other than their token, or a renewal chain with a missing link.
    const l = fresh();
    const other = fresh();
    const cp = l.checkpoint();
    assert.throws(() => l.addTimestamps([row(other.checkpoint(), 'x')]), code('INTEGRITY'));
    assert.throws(() => l.addTimestamps([{ ...row(cp, 'x'), size: 1 }]), code('BAD_INPUT'));
    assert.throws(() => l.addTimestamps([{ ...row(cp, 'x'), token: Buffer.from('y') }]), code('BAD_INPUT'));
    assert.throws(() => l.addTimestamps([row(cp, 'ok'), row(cp, 'y', Buffer.alloc(32))]), code('BAD_INPUT'));
    assert.deepEqual(l.timestamps(), []);
  });
});
