import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTimeNs, parseTimeNs } from './time.js';

describe('formatTimeNs', () => {
  it('writes RFC 3339 UTC with nine fraction digits, as Date#toISOString would to the second', () => {
    const cases = [0n, 1n, 999_999_999n, 1_764_311_039_123_456_789n, 253_402_300_799_999_999_999n, 951_782_400_000_000_000n];
    for (const ns of cases) {
      const iso = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
      assert.equal(formatTimeNs(ns), `${iso}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`);
    }
    assert.equal(formatTimeNs(1_795_847_039_000_000_005n), '2026-11-28T06:23:59.000000005Z');
  });

  it('floors times before 1970 instead of rounding them towards it', () => {
    assert.equal(formatTimeNs(-1n), '1969-12-31T23:59:59.999999999Z');
    assert.equal(formatTimeNs(-1_000_000_000n), '1969-12-31T23:59:59.000000000Z');
    assert.equal(formatTimeNs(-62_167_219_200_000_000_000n), '0000-01-01T00:00:00.000000000Z');
  });

  it('round-trips through parseTimeNs', () => {
    for (const ns of [0n, -1n, 1_764_311_039_123_456_789n, 42_000_000_000_000_000n]) assert.equal(parseTimeNs(formatTimeNs(ns)), ns);
  });
});
