/** Which stored rows the schedule verifies: whole chains (a token and its renewals), chosen by any row of them. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Timestamp } from '../ledger/ledger.js';
import { chainsHolding } from './ledger-check.js';

function row(name: string, size: number, renews: Timestamp | null = null): Timestamp {
  const token = Buffer.from(name);
  return { tokenHash: createHash('sha256').update(token).digest(), size, root: Buffer.alloc(32), checkpoint: '', renews: renews?.tokenHash ?? null, tsa: 'https://tsa.example', genTime: '2026-01-01T00:00:00.000Z', signerNotAfter: '2027-01-01T00:00:00.000Z', token };
}

describe('chainsHolding', () => {
  it('keeps every link of a chain one of whose rows is wanted, and nothing else', () => {
    // Guards: a renewal verified without the token it renews (it would fail), or a token taken for a chain's newest
    // while its renewal was left out (the schedule would renew it again).
    const a = row('a', 5);
    const a1 = row('a1', 5, a);
    const a2 = row('a2', 5, a1);
    const b = row('b', 7);
    const rows = [a2, b, a, a1];
    assert.deepEqual(chainsHolding(rows, (r) => r === a1), [a2, a, a1]);
    assert.deepEqual(chainsHolding(rows, (r) => r === b), [b]);
    assert.deepEqual(chainsHolding(rows, () => false), []);
  });

  it('ends on a cycle forged into the table, and on a link to a row that is not there', () => {
    const x = row('x', 3);
    const y = row('y', 3, x);
    const forged: Timestamp = { ...x, renews: y.tokenHash };
    const orphan = row('orphan', 4, row('gone', 4));
    assert.deepEqual(chainsHolding([forged, y, orphan], (r) => r === y).length, 2);
    assert.deepEqual(chainsHolding([forged, y, orphan], (r) => r === orphan), [orphan]);
  });
});
