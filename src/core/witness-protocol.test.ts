import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { FfauditError } from './errors.js';
import {
  DEFAULT_MAX_ADD_CHECKPOINT_BYTES,
  formatAddCheckpoint,
  formatTlogSize,
  MAX_PROOF_LINES,
  parseAddCheckpoint,
  parseTlogSize,
} from './witness-protocol.js';

/** BAD_INPUT with a message of one line (the server answers it as the 400 body). */
const badInput = (fn: () => unknown, why: string) =>
  assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT' && !e.message.includes('\n') && e.message.length > 0, why);

// The example request body of c2sp.org/tlog-witness §add-checkpoint, as printed there.
const EXAMPLE_CHECKPOINT =
  'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
  '\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
  '\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n';
const EXAMPLE_PROOF = [
  'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=',
  'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=',
  '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=',
  '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=',
];
const EXAMPLE = `old 20852014\n${EXAMPLE_PROOF.map((l) => `${l}\n`).join('')}\n${EXAMPLE_CHECKPOINT}`;

const hash = (i: number) => createHash('sha256').update(`h${i}`).digest();
const body = (s: string) => Buffer.from(s, 'utf8');

describe('add-checkpoint request body (c2sp.org/tlog-witness)', () => {
  it('parses the spec’s example', () => {
    const r = parseAddCheckpoint(body(EXAMPLE));
    assert.equal(r.oldSize, 20852014);
    assert.deepEqual(r.proof, EXAMPLE_PROOF.map((l) => Buffer.from(l, 'base64')));
    assert.equal(r.checkpoint, EXAMPLE_CHECKPOINT);
  });

  it('formats what it parses, byte for byte, and the checkpoint stays byte-exact', () => {
    assert.deepEqual(formatAddCheckpoint(parseAddCheckpoint(body(EXAMPLE))), body(EXAMPLE));
    const r = { oldSize: 0, proof: [], checkpoint: 'o\n1\nAAAA\n\n\u2014 k\u00e9y AAAAAAA=\n' };
    const b = formatAddCheckpoint(r);
    assert.equal(b.toString('utf8'), `old 0\n\n${r.checkpoint}`);
    assert.deepEqual(parseAddCheckpoint(b), r);
    // The checkpoint's bytes are the tail of the body's bytes.
    assert.deepEqual(Buffer.from(parseAddCheckpoint(b).checkpoint, 'utf8'), b.subarray(b.indexOf('\n\n') + 2));
  });

  it('takes up to 63 proof lines and refuses the 64th', () => {
    const proof = Array.from({ length: MAX_PROOF_LINES }, (_, i) => hash(i));
    const ok = formatAddCheckpoint({ oldSize: 5, proof, checkpoint: EXAMPLE_CHECKPOINT });
    assert.equal(parseAddCheckpoint(ok).proof.length, 63);
    const tooMany = `old 5\n${[...proof, hash(63)].map((h) => `${h.toString('base64')}\n`).join('')}\n${EXAMPLE_CHECKPOINT}`;
    badInput(() => parseAddCheckpoint(body(tooMany)), '64 proof lines');
    badInput(() => formatAddCheckpoint({ oldSize: 5, proof: [...proof, hash(63)], checkpoint: EXAMPLE_CHECKPOINT }), 'format 64 lines');
  });

  it('refuses a proof when the old size is 0 ("MUST be empty")', () => {
    badInput(() => parseAddCheckpoint(body(`old 0\n${hash(1).toString('base64')}\n\n${EXAMPLE_CHECKPOINT}`)), 'old 0 with a proof');
    badInput(() => formatAddCheckpoint({ oldSize: 0, proof: [hash(1)], checkpoint: EXAMPLE_CHECKPOINT }), 'format old 0 with a proof');
    assert.equal(parseAddCheckpoint(body(`old 0\n\n${EXAMPLE_CHECKPOINT}`)).oldSize, 0);
  });

  it('refuses old size lines that are not exactly "old", a space and a decimal without leading zeroes', () => {
    for (const line of ['old 01', 'old 00', 'old -1', 'old +1', 'old 1.0', 'old 1e3', 'old  1', 'old 1 ', 'Old 1', 'old', 'old ', 'old 0x10', 'old 9007199254740992', 'old 99999999999999999999', 'old 1\r']) {
      badInput(() => parseAddCheckpoint(body(`${line}\n\n${EXAMPLE_CHECKPOINT}`)), JSON.stringify(line));
    }
    assert.equal(parseAddCheckpoint(body(`old 9007199254740991\n\n${EXAMPLE_CHECKPOINT}`)).oldSize, Number.MAX_SAFE_INTEGER);
    badInput(() => parseAddCheckpoint(body(`\n${EXAMPLE_CHECKPOINT}`)), 'no old size line');
    badInput(() => parseAddCheckpoint(body('old 5')), 'no newline at all');
  });

  it('refuses proof lines that are not one standard base64 32-byte hash', () => {
    const h = hash(1).toString('base64');
    for (const line of [
      hash(1).subarray(0, 31).toString('base64'),
      Buffer.concat([hash(1), Buffer.alloc(1)]).toString('base64'),
      h.replace(/=$/, ''),
      h.replace('+', '-').replace('/', '_'),
      ` ${h}`,
      `${h}\r`,
      hash(1).toString('hex'),
      h.slice(0, -2) + 'B=', // non-zero padding bits
    ]) {
      if (line === h) continue;
      badInput(() => parseAddCheckpoint(body(`old 5\n${line}\n\n${EXAMPLE_CHECKPOINT}`)), JSON.stringify(line));
    }
  });

  it('refuses bodies without the empty line or the checkpoint', () => {
    badInput(() => parseAddCheckpoint(body(`old 5\n${hash(1).toString('base64')}\n`)), 'no empty line');
    badInput(() => parseAddCheckpoint(body(`old 5\n\n`)), 'no checkpoint');
    badInput(() => parseAddCheckpoint(body('')), 'empty body');
    badInput(() => formatAddCheckpoint({ oldSize: 5, proof: [], checkpoint: '' }), 'format without checkpoint');
    badInput(() => formatAddCheckpoint({ oldSize: 5, proof: [hash(1).subarray(1)], checkpoint: EXAMPLE_CHECKPOINT }), 'format short hash');
    badInput(() => formatAddCheckpoint({ oldSize: -1, proof: [], checkpoint: EXAMPLE_CHECKPOINT }), 'format negative old size');
  });

  it('is bounded: refuses bodies over maxBytes (64 KiB by default) before reading them', () => {
    assert.equal(DEFAULT_MAX_ADD_CHECKPOINT_BYTES, 64 * 1024);
    const pad = `old 0\n\n${EXAMPLE_CHECKPOINT}${'x'.repeat(DEFAULT_MAX_ADD_CHECKPOINT_BYTES)}`;
    badInput(() => parseAddCheckpoint(body(pad)), 'over 64 KiB');
    const b = body(EXAMPLE);
    assert.equal(parseAddCheckpoint(b, b.length).oldSize, 20852014);
    badInput(() => parseAddCheckpoint(b, b.length - 1), 'one byte over a given bound');
  });

  it('refuses invalid UTF-8 and a leading byte-order mark rather than altering the checkpoint', () => {
    const good = body(`old 0\n\n${EXAMPLE_CHECKPOINT}`);
    badInput(() => parseAddCheckpoint(Buffer.concat([good, Buffer.from([0xff])])), 'invalid UTF-8');
    badInput(() => parseAddCheckpoint(Buffer.concat([good.subarray(0, -3), Buffer.from([0xe2, 0x80]), Buffer.from('\n')])), 'truncated sequence');
    badInput(() => parseAddCheckpoint(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), good])), 'BOM');
    badInput(() => parseAddCheckpoint('old 0\n\nx' as unknown as Uint8Array), 'a string, not bytes');
  });
});

describe('text/x.tlog.size', () => {
  it('is the size in decimal and a newline', () => {
    assert.equal(formatTlogSize(0), '0\n');
    assert.equal(formatTlogSize(20852163), '20852163\n');
    assert.equal(parseTlogSize('20852163\n'), 20852163);
    assert.equal(parseTlogSize(formatTlogSize(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    assert.throws(() => formatTlogSize(-1), FfauditError);
    assert.throws(() => formatTlogSize(1.5), FfauditError);
  });

  it('refuses anything else', () => {
    for (const t of ['', '\n', '5', '05\n', '5\n\n', ' 5\n', '5 \n', '-5\n', '5\r\n', '9007199254740992\n', 'five\n', '0x5\n']) {
      badInput(() => parseTlogSize(t), JSON.stringify(t));
    }
  });
});
