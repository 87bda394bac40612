import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.js';
import { parseCheckpointHistoryPath, parseBlobPath } from './layout.js';
import { parseLockMode, parseRetention } from './retention.js';
import { scrubSecrets } from './s3-target.js';
import { parseArchiveLocation } from './target.js';

describe('archive options', () => {
  it('counts retention in days or calendar years from now', () => {
    const now = new Date('2024-02-29T12:00:00Z');
    assert.equal(parseRetention('compliance', '90d', now).until.toISOString(), '2024-05-29T12:00:00.000Z');
    assert.equal(parseRetention('governance', '1y', now).until.toISOString(), '2025-03-01T12:00:00.000Z');
    assert.equal(parseRetention('governance', '7y', now).until.toISOString(), '2031-03-01T12:00:00.000Z');
    for (const bad of ['0d', '1w', '-1d', '1.5y', 'y', '', '07d', '99999y']) assert.throws(() => parseRetention('governance', bad, now), { code: 'USAGE' }, bad);
    assert.equal(parseLockMode('compliance'), 'compliance');
    assert.throws(() => parseLockMode('COMPLIANCE'), { code: 'USAGE' });
  });

  it('parses durations', () => {
    assert.equal(parseDuration('90s', 'x'), 90_000);
    assert.equal(parseDuration('24h', 'x'), 86_400_000);
    assert.throws(() => parseDuration('1w', 'x'), { code: 'USAGE' });
  });

  it('parses locations and refuses credentials in them without echoing them', () => {
    assert.deepEqual(parseArchiveLocation('s3://evidence/studio/a/'), { kind: 's3', bucket: 'evidence', prefix: 'studio/a' });
    assert.deepEqual(parseArchiveLocation('s3://evidence'), { kind: 's3', bucket: 'evidence', prefix: '' });
    assert.equal(parseArchiveLocation('rel/dir').kind, 'dir');
    try {
      parseArchiveLocation('s3://AKIAEXAMPLE:s3cr3tvalue@bucket/x');
      assert.fail('accepted credentials');
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'USAGE');
      assert.ok(!(e as Error).message.includes('s3cr3tvalue') && !(e as Error).message.includes('AKIAEXAMPLE'));
    }
    assert.throws(() => parseArchiveLocation('s3://b/../x'), { code: 'USAGE' });
    assert.throws(() => parseArchiveLocation('gs://b/x'), { code: 'USAGE' });
  });

  it('scrubs credential values from messages', () => {
    const env = { AWS_SECRET_ACCESS_KEY: 'verysecretvalue', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' };
    assert.equal(scrubSecrets('key AKIDEXAMPLE secret verysecretvalue', env), 'key [redacted] secret [redacted]');
  });

  it('reads archive names strictly', () => {
    assert.equal(parseCheckpointHistoryPath('checkpoints/300'), 300);
    assert.equal(parseCheckpointHistoryPath('checkpoints/0300'), undefined);
    assert.equal(parseBlobPath(`blob/${'a'.repeat(64)}`), 'a'.repeat(64));
    assert.equal(parseBlobPath(`blob/${'A'.repeat(64)}`), undefined);
    for (const bad of [`blob/${'a'.repeat(63)}`, `blob/${'a'.repeat(65)}`, `blob/x/${'a'.repeat(64)}`, `xblob/${'a'.repeat(64)}`, `blob/${'a'.repeat(64)}\n`, 'a'.repeat(64)]) {
      assert.equal(parseBlobPath(bad), undefined, bad);
    }
  });
});
