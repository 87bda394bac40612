/** The checkpoint listing windows an incremental archive run asks S3 for: they must cover every size in a range. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkpointHistoryPath, checkpointHistoryWindows, parseCheckpointHistoryPath } from './layout.js';

describe('checkpoint listing windows', () => {
  it('cover exactly the sizes in a range, whatever digit counts it spans', () => {
    const names = Array.from({ length: 12_001 }, (_, s) => checkpointHistoryPath(s)).sort();
    for (const [from, to] of [
      [0, 9],
      [0, 12_000],
      [7, 12],
      [99, 100],
      [950, 10_050],
      [1000, 1000],
      [4095, 4096],
      [9999, 11_111],
    ] as const) {
      const found = new Set<number>();
      for (const w of checkpointHistoryWindows(from, to)) {
        assert.ok(w.after < w.through);
        for (const n of names) if (n > w.after && n <= w.through) found.add(parseCheckpointHistoryPath(n)!);
      }
      const inRange = [...found].filter((s) => s > from && s <= to).sort((a, b) => a - b);
      assert.deepEqual(inRange, Array.from({ length: to - from }, (_, k) => from + 1 + k), `(${from}, ${to}]`);
    }
    // What a window returns grows with the range, not with the history before it.
    const [w] = checkpointHistoryWindows(10_000, 10_100);
    assert.equal(names.filter((n) => n > w!.after && n <= w!.through).length, 100 + 11, 'the range and the 11 shorter names that sort inside it (1001…1010, 101)');
  });
});
