import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isFfauditError } from './errors.js';
import { computeKeyId, formatVerifierKey, makeEd25519Signer } from './note.js';
import { parseTlogPolicy } from './tlog-policy.js';

const logKey = (name: string) => formatVerifierKey(name, makeEd25519Signer(name, randomBytes(32)).publicKey);
/** A witness key as c2sp.org/tlog-cosignature writes it: signature type 0x04. */
function witnessKey(name: string): string {
  const pub = randomBytes(32);
  return `${name}+${computeKeyId(name, 0x04, pub).toString('hex')}+${Buffer.concat([Buffer.from([0x04]), pub]).toString('base64')}`;
}
const parse = (text: string) => parseTlogPolicy(Buffer.from(text, 'utf8'));
function refused(text: string | Buffer, pattern: RegExp): void {
  assert.throws(
    () => parseTlogPolicy(typeof text === 'string' ? Buffer.from(text, 'utf8') : text),
    (e: unknown) => isFfauditError(e) && e.code === 'BAD_INPUT' && pattern.test(e.message),
    String(pattern),
  );
}

describe('c2sp.org/tlog-policy', () => {
  it("reads the specification's example shape: logs, witnesses, nested groups, the quorum", () => {
    const log = logKey('example.com/log');
    const w = (n: string) => `witness ${n} ${witnessKey(`${n}.example`)}`;
    const p = parse(
      [
        '# a comment',
        `  log ${log} https://example.com/log  `,
        '',
        w('X1'), w('X2'), w('X3'),
        'group X-witnesses 2 X1 X2 X3',
        `\t${w('Y1')}`, w('Y2'), w('Y3'),
        'group Y-witnesses any Y1 Y2 Y3',
        'group X-and-Y all X-witnesses Y-witnesses',
        'quorum X-and-Y',
      ].join('\n'),
    );
    assert.deepEqual(p.logs.map((k) => k.name), ['example.com/log']);
    assert.deepEqual(p.witnesses, ['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3']);
    assert.deepEqual(p.groups, ['X-witnesses', 'Y-witnesses', 'X-and-Y']);
    assert.equal(p.quorum, 'X-and-Y');
    assert.equal(parse(`log ${log}\nquorum none\n`).quorum, 'none');
  });

  it('refuses what the specification forbids, one message each', () => {
    const log = logKey('example.com/log');
    const w1 = witnessKey('w1.example');
    refused(`log ${log}\n`, /no quorum line/);
    refused(`log ${log}\nquorum none\nquorum none\n`, /line 3: a second quorum line/);
    refused(`log ${log}\nquorum W\nwitness W ${w1}\n`, /line 2: the quorum "W" is not defined on an earlier line/);
    refused(`log ${log}\nlog ${log}\nquorum none\n`, /line 2: duplicate log/);
    refused(`witness A ${w1}\nwitness B ${w1}\nquorum none\n`, /line 2: duplicate witness/);
    refused(`witness A ${w1}\nwitness A ${witnessKey('w2.example')}\nquorum none\n`, /line 2: the name "A" is already defined/);
    refused(`witness none ${w1}\nquorum none\n`, /line 1: the name "none" is reserved/);
    refused(`witness A ${w1}\ngroup G 2 A\nquorum G\n`, /line 2: the threshold "2" is not all, any or a number from 1 to 1/);
    refused(`witness A ${w1}\ngroup G 0 A\nquorum G\n`, /threshold "0"/);
    refused(`witness A ${w1}\ngroup G any A A\nquorum G\n`, /lists a member more than once/);
    refused(`witness A ${w1}\ngroup G any A none\nquorum G\n`, /member "none" is not defined/);
    refused(`group G any A\nwitness A ${w1}\nquorum G\n`, /line 1: the group member "A" is not defined on an earlier line/);
    refused(`log ${witnessKey('example.com/log')}\nquorum none\n`, /not an Ed25519 \(type 0x01\) key/);
    refused(`log ${log.replace(/\+[0-9a-f]{8}\+/, '+00000000+')}\nquorum none\n`, /the vkey ID does not match its key/);
    refused(`log ${log}\nquorum none\nwhatever x\n`, /line 3: unknown line type "whatever"/);
    refused(Buffer.from(`log ${log}\r\nquorum none\n`), /control character 0x0d/);
  });
});
