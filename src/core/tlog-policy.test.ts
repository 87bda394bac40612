import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isFfauditError } from './errors.js';
import { formatCosignerVkey, makeCosigner } from './cosignature.js';
import { computeKeyId, formatVerifierKey, makeEd25519Signer, signNote } from './note.js';
import { checkpointWitnesses, parseTlogPolicy, quorumMet } from './tlog-policy.js';

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
    refused(`witness A ${logKey('w.example')}\nquorum A\n`, /line 1: the witness key is not an Ed25519 \(type 0x04\) or ML-DSA-44 \(type 0x06\) cosigner key/);
  });

  it('keeps each witness key and group rule, and decides the quorum from who cosigned (k of n, nested, any, all)', () => {
    // Guards: a threshold read as all or any, a nested group counted as met when its members are not, or a
    // witness counted for a group it is not a member of.
    const w = (n: string) => `witness ${n} ${witnessKey(`${n}.example`)}`;
    const p = parse([w('X1'), w('X2'), w('X3'), 'group X 2 X1 X2 X3', w('Y1'), w('Y2'), 'group Y any Y1 Y2', 'group XY all X Y', 'quorum XY'].join('\n'));
    assert.equal(p.witnessKeys.get('X2')?.name, 'X2.example');
    assert.deepEqual(p.groupRules.get('X'), { threshold: 2, members: ['X1', 'X2', 'X3'] });
    assert.deepEqual(p.groupRules.get('XY'), { threshold: 2, members: ['X', 'Y'] });
    const met = (...names: string[]) => quorumMet(p, new Set(names));
    assert.equal(met('X1', 'X3', 'Y2'), true);
    assert.equal(met('X1', 'Y1', 'Y2'), false, 'one of X is not 2');
    assert.equal(met('X1', 'X2', 'X3'), false, 'no Y');
    assert.equal(met(), false);
    assert.equal(quorumMet(parse('quorum none\n'), new Set()), true);
    const single = parse(`${w('W')}\nquorum W\n`);
    assert.equal(quorumMet(single, new Set(['W'])), true);
    assert.equal(quorumMet(single, new Set(['V'])), false);
  });

  it("reads a checkpoint's cosignatures: the policy's witnesses that verify, those that fail, others ignored", () => {
    const log = makeEd25519Signer('example.com/log', randomBytes(32));
    const a = makeCosigner('a.example/w', randomBytes(32));
    const b = makeCosigner('b.example/w', randomBytes(32));
    const c = makeCosigner('c.example/w', randomBytes(32));
    const p = parse(`log ${formatVerifierKey(log.name, log.publicKey)}\nwitness A ${formatCosignerVkey(a.name, a.publicKey)}\nwitness B ${formatCosignerVkey(b.name, b.publicKey)}\ngroup G any A B\nquorum G\n`);
    const text = 'example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n';
    const note = signNote(text, [log]);
    // B's line with one bit of its Ed25519 signature flipped: still B's name and key ID.
    const bad = b.cosign(text, 7).replace(/ (\S+)\n$/, (_, sig: string) => {
      const raw = Buffer.from(sig, 'base64');
      raw[raw.length - 1]! ^= 1;
      return ` ${raw.toString('base64')}\n`;
    });
    const r = checkpointWitnesses(p, `${note}${a.cosign(text, 5)}${bad}${c.cosign(text, 6)}`);
    assert.deepEqual([...r.witnessed], ['A']);
    assert.deepEqual(r.failed, ['B']);
  });
});
