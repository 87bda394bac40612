/** The push file (ffaudit-push/v1): records written and read back, and a hostile file refused in one line. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FfauditError } from './errors.js';
import { blobRecordBody, encodePushRecord, parseBlobRecord, parsePushFile, PUSH_FILE_MAGIC, PUSH_RECORD, PushFileParser } from './push-file.js';

const refused = (bytes: Buffer, pattern: RegExp, max?: number) =>
  assert.throws(() => parsePushFile(bytes, max), (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT' && pattern.test(e.message), String(pattern));

describe('push file', () => {
  const records = [
    { type: PUSH_RECORD.addCheckpoint, body: Buffer.from('old 0\n\norigin\n1\nAAAA\n\n— origin AAAA\n') },
    { type: PUSH_RECORD.addEntries, body: randomBytes(1000) },
    { type: PUSH_RECORD.blob, body: blobRecordBody(randomBytes(32), randomBytes(32), Buffer.from('report')) },
    { type: PUSH_RECORD.addEntries, body: Buffer.alloc(0) },
  ];
  const file = Buffer.concat([Buffer.from(PUSH_FILE_MAGIC), ...records.map(encodePushRecord)]);

  it('is the magic line, then type, u64 big-endian length and bytes per record', () => {
    assert.equal(file.subarray(0, 16).toString('latin1'), 'ffaudit-push/v1\n');
    assert.equal(file[16], 1);
    assert.equal(file.readBigUInt64BE(17), BigInt(records[0]!.body.length));
    assert.deepEqual(parsePushFile(file), records);
    const b = parseBlobRecord(records[2]!.body);
    assert.equal(b.data.toString(), 'report');
    assert.ok(b.originSha256.equals(records[2]!.body.subarray(0, 32)));
  });

  it('reads the same records fed a byte at a time, or in odd chunks', () => {
    for (const step of [1, 7, 4096]) {
      const p = new PushFileParser();
      const got = [];
      for (let i = 0; i < file.length; i += step) {
        p.push(file.subarray(i, i + step));
        for (let r = p.next(); r; r = p.next()) got.push(r);
      }
      p.end();
      assert.deepEqual(got, records, `step ${step}`);
    }
  });

  it('refuses, in one line saying where: no magic, an unknown type, a record over the bound, a cut file, a short blob', () => {
    refused(Buffer.alloc(0), /the file is empty/);
    refused(Buffer.from('ffaudit-push/v2\n'), /does not start with "ffaudit-push\/v1\\n"/);
    refused(Buffer.from('GIF89a'), /does not start with/);
    refused(Buffer.concat([Buffer.from(PUSH_FILE_MAGIC), Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 0])]), /record 1 \(at byte 16\) has the unknown type 9/);
    const huge = Buffer.concat([Buffer.from(PUSH_FILE_MAGIC), Buffer.from([2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
    refused(huge, /record 1 \(at byte 16\) is 18446744073709551615 bytes long, more than the 1073741824 allowed/);
    refused(file, /record 2 \(at byte \d+\) is 1000 bytes long, more than the 100 allowed/, 100);
    refused(file.subarray(0, file.length - 1), /it ends inside record 4 \(at byte \d+\): the file was cut short/);
    refused(file.subarray(0, 20), /it ends inside record 1 \(at byte 16\)/);
    refused(Buffer.concat([Buffer.from(PUSH_FILE_MAGIC), Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 10]), Buffer.alloc(10)]), /a blob shorter than its two SHA-256 hashes/);
  });
});
