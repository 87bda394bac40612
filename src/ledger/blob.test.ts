import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalBytes } from '../core/canonical-json.js';
import type { EntryBase } from '../core/entry.js';
import { encodeEntry, namedBlobs } from './blob.js';

const base: EntryBase = { v: 1, type: 'run.end', time: '2026-12-05T10:00:00.000000000Z', by: { user: 'u', uid: 1, host: 'h' } };
const A = 'a'.repeat(64);
const B = '0123456789abcdef'.repeat(4);

describe('namedBlobs: the blobs an entry names', () => {
  it("names a run's report (top-level report_sha256) and every field moved out into a blob", () => {
    assert.deepEqual(namedBlobs(canonicalBytes({ ...base, report_sha256: A })), [A]);
    assert.deepEqual(namedBlobs(canonicalBytes({ ...base, report_sha256: null })), []);
    const moved: Buffer[] = [];
    const bytes = encodeEntry({ ...base, argv: ['x'.repeat(70_000)], report_sha256: B }, (_sha, b) => moved.push(b));
    assert.equal(moved.length, 1);
    assert.deepEqual([...namedBlobs(bytes)].sort(), [B, (JSON.parse(bytes.toString('utf8')) as { argv: { $blob: string } }).argv.$blob].sort());
  });

  it('does not take a report_sha256 nested in a value, or the same words inside a string, for a name', () => {
    for (const e of [
      { ...base, streams: [{ tags: { report_sha256: A } }] },
      { ...base, meta: { report_sha256: A } },
      { ...base, text: `"report_sha256":"${A}"` },
      { ...base, [`x\\"report_sha256`]: A },
      { ...base, report_sha256: A.slice(1) },
      { ...base, report_sha256: A.toUpperCase() },
      { ...base, report_sha256: `${A}0` },
    ]) {
      assert.deepEqual(namedBlobs(canonicalBytes(e)), [], JSON.stringify(e));
    }
  });

  it('reads hostile bytes without throwing', () => {
    for (const s of ['', '{', `{"report_sha256":"${A}`, `{"report_sha256":"${A}"`, `"report_sha256":"${A}"`, '{"$blob":"', `{"x":{"$blob":"${A}","size":1}`]) {
      assert.doesNotThrow(() => namedBlobs(Buffer.from(s)), s);
    }
    // Not JSON at all, yet the top-level member is still read in place: whether these bytes were signed is the
    // leaf hash's question, not this one's.
    assert.deepEqual(namedBlobs(Buffer.from(`{"report_sha256":"${A}"`)), [A]);
  });
});
