import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationMs, parseDurationText } from './duration.js';
import { parseWhen } from './time.js';

describe('durations: one grammar, each caller its units and counts', () => {
  it('reads a count and a unit, among the units the caller accepts', () => {
    const fixed = { units: ['s', 'm', 'h', 'd', 'w'] } as const;
    assert.deepEqual(parseDurationText('90s', fixed), { count: 90, unit: 's' });
    assert.deepEqual(parseDurationText('1w', fixed), { count: 1, unit: 'w' });
    assert.deepEqual(parseDurationText('7y', { units: ['d', 'y'] }), { count: 7, unit: 'y' });
    for (const bad of ['1y', '7D', '1.5h', '-1d', '+1d', ' 1d', '1d ', '1 d', 'd', '10', '', '1dd', '１d']) {
      assert.equal(parseDurationText(bad, fixed), null, bad);
    }
  });

  it('takes 0 and leading zeros unless the caller wants a positive count, and bounds the digits when asked', () => {
    assert.deepEqual(parseDurationText('0s', { units: ['s'] }), { count: 0, unit: 's' });
    assert.deepEqual(parseDurationText('007d', { units: ['d'] }), { count: 7, unit: 'd' });
    assert.deepEqual(parseDurationText('123456789012s', { units: ['s'] }), { count: 123_456_789_012, unit: 's' });
    const positive = { units: ['d'], positive: true, maxDigits: 5 } as const;
    for (const bad of ['0d', '007d', '123456d']) assert.equal(parseDurationText(bad, positive), null, bad);
    assert.deepEqual(parseDurationText('99999d', positive), { count: 99999, unit: 'd' });
    assert.deepEqual(parseDurationText('10d', positive), { count: 10, unit: 'd' });
  });

  it('gives fixed units in milliseconds', () => {
    assert.equal(durationMs({ count: 90, unit: 's' }), 90_000);
    assert.equal(durationMs({ count: 10, unit: 'm' }), 600_000);
    assert.equal(durationMs({ count: 24, unit: 'h' }), 86_400_000);
    assert.equal(durationMs({ count: 7, unit: 'd' }), 604_800_000);
    assert.equal(durationMs({ count: 2, unit: 'w' }), 1_209_600_000);
  });

  it('an age too long to count is refused as no time, with one line', () => {
    const now = Date.parse('2026-12-05T19:00:00Z');
    assert.equal(parseWhen('3d', now), BigInt(now - 259_200_000) * 1_000_000n);
    assert.equal(parseWhen('0s', now), BigInt(now) * 1_000_000n);
    assert.throws(() => parseWhen(`1${'0'.repeat(400)}s`, now), (e: Error & { code?: string }) => e.code === 'USAGE' && !e.message.includes('\n'));
  });
});
