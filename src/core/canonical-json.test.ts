import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalBytes, canonicalize, isCanonical } from './canonical-json.js';
import { FfauditError } from './errors.js';

const badInput = (fn: () => unknown, why: string) =>
  assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT', why);

/** The double whose IEEE 754 bits are `hex` (RFC 8785 Appendix B lists numbers this way). */
function fromBits(hex: string): number {
  const b = Buffer.from(hex, 'hex');
  return b.readDoubleBE(0);
}

describe('RFC 8785 canonical JSON', () => {
  it('sorts members by UTF-16 code units: the RFC’s sorting example (§3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    assert.equal(
      canonicalize(input),
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('orders a non-BMP key by its surrogates, not its code point', () => {
    // U+1F600 is above U+FB33 as a code point, but its first UTF-16 unit (0xD83D) is below 0xFB33.
    assert.equal(canonicalize({ '\ufb33': 1, '\u{1f600}': 2 }), '{"\u{1f600}":2,"\ufb33":1}');
    // U+10000 (0xD800 0xDC00) sorts before U+E000, though it is the larger code point.
    assert.equal(canonicalize({ '\ue000': 1, '\u{10000}': 2 }), '{"\u{10000}":2,"\ue000":1}');
    assert.equal(canonicalize({ b: 1, a: 2, aa: 3, A: 4, '': 5 }), '{"":5,"A":4,"a":2,"aa":3,"b":1}');
  });

  it('sorts index-like keys as text, though the engine enumerates them first and in numeric order', () => {
    assert.equal(canonicalize({ a: 1, '9': 2, '10': 3 }), '{"10":3,"9":2,"a":1}');
    assert.equal(canonicalize({ z: { '2': 1, '10': 2, ' ': 3 }, a: [{ '0': 0 }] }), '{"a":[{"0":0}],"z":{" ":3,"10":2,"2":1}}');
    assert.equal(canonicalize({ '4294967295': 1, '01': 2, '-1': 3 }), '{"-1":3,"01":2,"4294967295":1}');
  });

  it('keeps a member named __proto__ (JSON.parse makes it an ordinary member)', () => {
    assert.equal(canonicalize(JSON.parse('{"b":1,"__proto__":{"x":1},"a":2}')), '{"__proto__":{"x":1},"a":2,"b":1}');
  });

  it('writes numbers in ECMAScript shortest form (RFC 8785 §3.2.2.3, Appendix B)', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [1, '1'],
      [-1, '-1'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1e-7, '1e-7'],
      [1e-6, '0.000001'],
      [123.456, '123.456'],
      [2 ** 53 - 1, '9007199254740991'],
      [-(2 ** 53 - 1), '-9007199254740991'],
      [fromBits('0000000000000001'), '5e-324'],
      [fromBits('8000000000000001'), '-5e-324'],
      [fromBits('41b3de4355555555'), '333333333.3333333'],
      [fromBits('3eb0c6f7a0b5ed8d'), '0.000001'],
      [fromBits('3eb0c6f7a0b5ed8c'), '9.999999999999997e-7'],
      [fromBits('3eb0c6f7a0b5ed8e'), '0.0000010000000000000002'],
    ];
    for (const [n, text] of cases) assert.equal(canonicalize(n), text, `${n}`);
    assert.equal(canonicalize({ n: 1.5e-10 }), '{"n":1.5e-10}');
  });

  it('refuses what JSON cannot hold exactly: NaN, infinities, integers from 2^53 up (1e21 among them)', () => {
    for (const n of [Number.NaN, Infinity, -Infinity]) badInput(() => canonicalize(n), `${n}`);
    // RFC 8785 would write 1e21 as "1e+21"; ffaudit keeps integers below 2^53, so every number from there up
    // (all of them integers in IEEE 754) is refused rather than written in a form other readers may round.
    for (const n of [2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e21, -1e21, fromBits('44b52d02c7e14af5'), Number.MAX_VALUE]) {
      badInput(() => canonicalize({ n }), `${n}`);
    }
  });

  it('escapes strings minimally (RFC 8785 §3.2.2.2)', () => {
    assert.equal(canonicalize('"\\/'), '"\\"\\\\/"');
    assert.equal(canonicalize('\b\f\n\r\t'), '"\\b\\f\\n\\r\\t"');
    assert.equal(canonicalize('\u0000\u0001\u000f\u001f'), '"\\u0000\\u0001\\u000f\\u001f"');
    // Everything from 0x20 up is written as itself, DEL and the line separators included.
    assert.equal(canonicalize('\u007f\u0080\u2028\u2029\u20ac\u{1f600}'), '"\u007f\u0080\u2028\u2029\u20ac\u{1f600}"');
    assert.equal(canonicalBytes('\u20ac').toString('hex'), '22e282ac22');
  });

  it('rejects lone surrogates, in values and in keys', () => {
    for (const s of ['\ud800', '\udc00', 'a\ud83d', '\ude00b', '\ude00\ud83d']) {
      badInput(() => canonicalize(s), JSON.stringify(s));
      badInput(() => canonicalize({ [s]: 1 }), `key ${JSON.stringify(s)}`);
    }
    assert.equal(canonicalize('\ud83d\ude00'), '"\u{1f600}"');
  });

  it('writes literals, arrays and nested objects without whitespace; drops undefined members', () => {
    assert.equal(canonicalize([null, true, false, [], {}, [1, [2]], { b: { d: 1, c: 2 } }]), '[null,true,false,[],{},[1,[2]],{"b":{"c":2,"d":1}}]');
    assert.equal(canonicalize({ a: undefined, b: 1 }), '{"b":1}');
  });

  it('refuses values that are not JSON, and nesting too deep to be an entry', () => {
    for (const v of [undefined, () => 1, Symbol('s'), 1n]) badInput(() => canonicalize(v), typeof v);
    badInput(() => canonicalize([undefined]), 'undefined in an array');
    for (const v of [new Date(0), Buffer.from('ab'), new Map(), { at: new Date(0) }, { '10': 1, '9': Buffer.alloc(1) }]) badInput(() => canonicalize(v), Object.prototype.toString.call(v));
    assert.equal(canonicalize(Object.assign(Object.create(null) as object, { b: 1, a: 2 })), '{"a":2,"b":1}');
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    badInput(() => canonicalize(deep), 'depth 100');
  });

  it('isCanonical accepts exactly the canonical bytes', () => {
    assert.ok(isCanonical(Buffer.from('{"a":1,"b":[true,null]}')));
    for (const t of ['{"b":1,"a":1}', '{"a": 1}', '{"a":1.0}', '{"a":1E3}', '{"a":"\\u0041"}', ' {}', '{}\n', 'nope', '{"a":9007199254740993}']) {
      assert.ok(!isCanonical(Buffer.from(t)), t);
    }
    assert.ok(!isCanonical(Buffer.from([0x22, 0xff, 0x22])), 'invalid UTF-8');
    assert.ok(!isCanonical(Buffer.from('"\\ud800"')), 'escaped lone surrogate');
  });
});
