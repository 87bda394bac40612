import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTimeNs, parseTimeNs, parseWhen } from './time.js';

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

describe('parseWhen', () => {
  const now = Date.UTC(2026, 11, 5, 20, 0, 0);
  const at = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
  it('a date is the whole UTC day: its first instant as a start, its last as an end', () => {
    assert.equal(parseWhen('2026-12-05', now), at('2026-12-05T00:00:00Z'));
    assert.equal(parseWhen('2026-12-05', now, 'since'), at('2026-12-05T00:00:00Z'));
    assert.equal(parseWhen('2026-12-05', now, 'until'), at('2026-12-06T00:00:00Z') - 1n);
  });

  it('a date and time to the minute or second, with a space or a T, is that UTC minute or second', () => {
    for (const text of ['2026-12-05 18:58', '2026-12-05T18:58']) {
      assert.equal(parseWhen(text, now, 'since'), at('2026-12-05T18:58:00Z'));
      assert.equal(parseWhen(text, now, 'until'), at('2026-12-05T18:59:00Z') - 1n);
    }
    assert.equal(parseWhen('2026-12-05 18:58:30', now, 'until'), at('2026-12-05T18:58:31Z') - 1n);
  });

  it('an RFC 3339 time and an age are exact instants, as a start or an end', () => {
    const t = at('2026-12-05T18:58:30Z') + 123_456_789n;
    for (const bound of ['since', 'until'] as const) {
      assert.equal(parseWhen('2026-12-05T18:58:30.123456789Z', now, bound), t);
      assert.equal(parseWhen('2026-12-05T19:58:30.123456789+01:00', now, bound), t);
      assert.equal(parseWhen('2h', now, bound), BigInt(now - 7_200_000) * 1_000_000n);
    }
  });

  it('refuses what is not a time, with one line', () => {
    for (const text of ['2026-13-45', '2026-12-05 25:00', '2026-12-05 18', 'yesterday', '2026-12-05 18:58:30.5']) {
      assert.throws(() => parseWhen(text, now, 'until'), (e: Error & { code?: string }) => e.code === 'USAGE' && !e.message.includes('\n'));
    }
  });
});
