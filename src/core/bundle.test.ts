/**
 * The bundle verifier against hostile input: a seeded property test feeds it garbage and mutated bundles and
 * checks that every one is rejected cleanly (a verdict, never an exception; one line per failure), and that no
 * mutation of the evidence is ever accepted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleLineages } from '../ledger/bundle.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { traceContent } from '../ledger/trace.js';
import { runCli } from '../testing/cli.js';
import { makeCrossLog, type CrossLog } from '../testing/cross-log.js';
import { prng } from '../testing/fixtures.js';
import { bundleLineagesAcross } from '../lineage/bundle.js';
import { formatBundle, parseBundle, verifyBundle, type BundleVerdict } from './bundle.js';
import { parseVerifierKey } from './note.js';

const hex = (n: number, r: () => number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');

/** The fields of a bundle that carry no evidence: changing them may leave it valid. */
const INFORMATIONAL = [/^created$/, /^subjects\.\d+\.path$/];

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * 16);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return [0, -1, 1e308, -1e308, 2 ** 53, 2 ** 64, 1.5, -0, Number("9007199254740993")][Math.floor(r() * 9)];
    case 3:
      return '';
    case 4:
      return ['QQ', 'QQ=', 'QUJD', 'QUJD====', '@@@@', 'Zm9v\n', ' Zm9v', 'Zm9=', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='][Math.floor(r() * 9)];
    case 5:
      return hex(64, r);
    case 6:
      return 'c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com\n1\nAAAA\n\n— x AAAA\n';
    case 7:
      return '\u0000\u2014\ufffd\ud800';
    case 8:
      return depth > 3 ? 1 : Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    case 9:
      return depth > 3 ? {} : Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}`, randomValue(r, depth + 1)]));
    case 10:
      return { index: Math.floor(r() * 20), data: 'e30=', proof: '' };
    case 11:
      return 'x'.repeat(Math.floor(r() * 3000));
    case 12:
      return JSON.parse('['.repeat(2000) + ']'.repeat(2000)) as unknown;
    case 13:
      return Math.floor(r() * 40) - 5;
    case 14:
      return { path: 'p', sha256: hex(64, r) };
    default:
      return { $blob: hex(64, r), size: 1 };
  }
}

/** Every path (dotted) to a value in a JSON document. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  const out: string[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, String(i)])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function setAt(doc: unknown, path: string[], value: unknown): unknown {
  if (path.length === 0) return value;
  let o = doc as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  if (Array.isArray(o) && value === undefined) o.splice(Number(last), 1);
  else if (value === undefined) delete o[last];
  else o[last] = value;
  return doc;
}

/**
 * What a bundle asserts, as comparable items. A bundle proves what it holds, not that nothing was left out
 * (completeness needs the whole log), so the property is: an accepted bundle asserts nothing the original did
 * not: no new or altered entry, blob, checkpoint, key, subject or source.
 */
function evidence(bytes: Uint8Array): Set<string> {
  const b = parseBundle(bytes);
  const logs = b.format === 'ffaudit-bundle/v2' ? b.logs : [b];
  return new Set([
    ...logs.map((l) => `key ${l.origin} ${l.vkey}`),
    ...logs.map((l) => `checkpoint ${l.checkpoint}`),
    ...b.sources.map((s) => `source ${s}`),
    ...b.subjects.map((s) => `subject ${s.sha256}`),
    ...b.entries.map((e) => `entry ${'log' in e ? e.log : b.format === 'ffaudit-bundle/v1' ? b.origin : ''} ${e.index} ${e.data.toString('base64')} ${e.proof}`),
    ...b.blobs.map((x) => `blob ${x.sha256}`),
  ]);
}

function assertNothingNew(bytes: Uint8Array, original: Set<string>, what: string): void {
  for (const item of evidence(bytes)) assert.ok(original.has(item), `${what} was accepted with new evidence: ${item.slice(0, 120)}`);
}

function assertClean(v: BundleVerdict, what: string): void {
  assert.equal(v.ok, false, `${what} was accepted`);
  assert.ok(v.failures.length > 0, `${what}: rejected without a reason`);
  for (const f of v.failures) {
    assert.equal(typeof f, 'string');
    assert.ok(f.length > 0 && !f.includes('\n'), `${what}: failure is not one line: ${JSON.stringify(f)}`);
  }
}

describe('verify-bundle on hostile input', () => {
  let dir: string;
  let valid: Buffer;
  let pubkey: ReturnType<typeof parseVerifierKey>;
  let fileSha: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ffaudit-fuzz-'));
    const l = Ledger.init(join(dir, 'ledger'), { origin: 'test.example/ffaudit/fuzz' });
    try {
      const by = currentAuthor();
      const file = (n: string, sha: string) => ({ path: `/work/${n}`, size: 10, sha256: sha });
      const [src, mid, out] = ['a', 'b', 'c'].map((c) => c.repeat(64)) as [string, string, string];
      fileSha = out;
      const run = (id: string, inputs: ReturnType<typeof file>[], outputs: ReturnType<typeof file>[]): void => {
        const start = l.append([{ v: 1, type: 'run.start', time: nowRfc3339(), by, run: id, tool: 'ffmpeg', cwd: '/work', argv: ['ffmpeg', '-i', 'in', 'out', 'y'.repeat(id === 'r2' ? 70_000 : 1)], redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: '5.1', sha256: null }, inputs }]).indices[0]!;
        l.append([{ v: 1, type: 'run.end', time: nowRfc3339(), by, run: id, start, status: 'ok', exit_code: 0, signal: null, duration_ms: 5, inputs, outputs, streams: [], report_sha256: null, redactions: [] }]);
      };
      run('r1', [file('src.mov', src)], [file('mid.mp4', mid)]);
      run('r2', [file('mid.mp4', mid), { path: 'lavfi:sine', size: null, sha256: null } as never], [file('out.mp4', out)]);
      l.append([{ v: 1, type: 'custody.note', time: nowRfc3339(), by, text: 'delivered', files: [file('out.mp4', out)] }]);
      valid = Buffer.from(formatBundle(await bundleLineages(l, [await traceContent(l, '/work/out.mp4', out)])));
      pubkey = parseVerifierKey(l.vkey);
      writeFileSync(join(dir, 'log.vkey'), `${l.vkey}\n`);
    } finally {
      l.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the untouched bundle (with a blob-externalised argv and a source)', () => {
    const v = verifyBundle(valid, { pubkey, fileSha256: fileSha });
    assert.deepEqual(v.failures, []);
    assert.equal(v.ok, true);
    assert.equal(v.runs.length, 2);
    assert.equal(v.blobs, 1);
    assert.deepEqual(v.sources, ['a'.repeat(64)]);
  });

  it('rejects a subject that no signed entry names (the subject list itself is unsigned)', () => {
    const forged = 'f'.repeat(64);
    const b = JSON.parse(valid.toString('utf8')) as { subjects: { path: string; sha256: string }[] };
    b.subjects.push({ path: '/work/forged.mp4', sha256: forged });
    const v = verifyBundle(Buffer.from(JSON.stringify(b)), { pubkey, fileSha256: forged });
    assert.equal(v.ok, false);
    assert.ok(v.failures.some((f) => f.includes('is named by no entry')), v.failures.join('; '));
  });

  it('rejects garbage: random bytes, random JSON, deep nesting, huge numbers', () => {
    const r = prng(0xf00d);
    const cases: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('null'),
      Buffer.from('[]'),
      Buffer.from('{}'),
      Buffer.from('"ffaudit-bundle/v1"'),
      Buffer.from('['.repeat(200_000)),
      Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      Buffer.from(`{"format":"ffaudit-bundle/v1","entries":${'['.repeat(50_000)}${']'.repeat(50_000)}}`),
      Buffer.from('{"format":"ffaudit-bundle/v1","created":1e999}'),
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    ];
    for (let i = 0; i < 500; i++) cases.push(Buffer.from(Array.from({ length: Math.floor(r() * 400) }, () => Math.floor(r() * 256))));
    for (let i = 0; i < 500; i++) cases.push(Buffer.from(JSON.stringify(randomValue(r))));
    for (const [i, c] of cases.entries()) assertClean(verifyBundle(c, { pubkey }), `garbage case ${i}`);
  });

  it('rejects every truncation', () => {
    const r = prng(7);
    for (let i = 0; i < 400; i++) {
      const at = Math.floor(r() * (valid.length - 1));
      assertClean(verifyBundle(valid.subarray(0, at), { pubkey }), `truncated at ${at}`);
    }
  });

  it('never accepts a byte-level mutation that adds or alters evidence', () => {
    const r = prng(42);
    const original = evidence(valid);
    let rejected = 0;
    for (let i = 0; i < 1200; i++) {
      const m = Buffer.from(valid);
      const flips = 1 + Math.floor(r() * 3);
      for (let f = 0; f < flips; f++) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
      const v = verifyBundle(m, { pubkey, fileSha256: fileSha });
      if (v.ok) assertNothingNew(m, original, `mutation ${i}`);
      else {
        assertClean(v, `mutation ${i}`);
        rejected++;
      }
    }
    assert.ok(rejected > 800, `only ${rejected} of 1200 mutations were rejected`);
  });

  it('rejects a wrong type, number, base64 or nesting at any evidential field, or accepts only a subset', () => {
    const r = prng(1234);
    const doc = JSON.parse(valid.toString('utf8')) as unknown;
    const all = paths(doc).filter((p) => p.length > 0);
    const original = evidence(valid);
    const unchanged = Buffer.from(JSON.stringify(doc));
    let tried = 0;
    for (let i = 0; i < 700; i++) {
      const path = all[Math.floor(r() * all.length)]!;
      const key = path.join('.');
      const replacement = r() < 0.1 ? undefined : randomValue(r);
      const mutated = setAt(JSON.parse(valid.toString('utf8')), path, replacement);
      const bytes = Buffer.from(JSON.stringify(mutated));
      const v = verifyBundle(bytes, { pubkey, fileSha256: fileSha });
      if (INFORMATIONAL.some((re) => re.test(key))) continue;
      if (bytes.equals(unchanged)) continue; // the replacement happened to be the same value
      if (v.ok) assertNothingNew(bytes, original, `replacing ${key} with ${JSON.stringify(replacement)?.slice(0, 80)}`);
      else assertClean(v, `replacing ${key}`);
      tried++;
    }
    assert.ok(tried > 500);
  });

  it('through the CLI: exit 1 and one line on stderr, never a stack trace', () => {
    const r = prng(99);
    const samples: Buffer[] = [Buffer.from('{'), Buffer.from('['.repeat(100_000)), valid.subarray(0, valid.length >> 1), Buffer.from('{"format":"ffaudit-bundle/v1"}')];
    const flipped = Buffer.from(valid);
    const at = Math.floor(valid.length / 3);
    flipped[at] = flipped[at]! ^ 0x20;
    samples.push(flipped);
    samples.push(Buffer.from(JSON.stringify(randomValue(r))));
    for (const [i, s] of samples.entries()) {
      const p = join(dir, `garbage-${i}.json`);
      writeFileSync(p, s);
      const res = runCli(['verify-bundle', p, '--pubkey', join(dir, 'log.vkey')]);
      assert.equal(res.status, 1, `sample ${i}: ${res.stderr}`);
      assert.match(res.stderr, /^ffaudit: the bundle is INVALID: [^\n]+\n$/, `sample ${i}`);
      assert.doesNotMatch(res.stdout + res.stderr, /\n\s+at /, `sample ${i}: stack trace`);
    }
  });
});

describe('verify-bundle on hostile input: a bundle across logs (ffaudit-bundle/v2)', () => {
  let x: CrossLog;
  let valid: Buffer;
  let pubkeys: ReturnType<typeof parseVerifierKey>[];

  before(async () => {
    x = makeCrossLog('fuzz-v2');
    valid = Buffer.from(formatBundle(await bundleLineagesAcross(x.sourceFor, [await x.trace(x.sha.c, '/delivery/c.mp4')], { now: nowRfc3339 })));
    pubkeys = [parseVerifierKey(x.host1.vkey), parseVerifierKey(x.host2.vkey)];
  });
  after(() => x.close());

  it('accepts the untouched bundle', () => {
    assert.equal((JSON.parse(valid.toString('utf8')) as { format: string }).format, 'ffaudit-bundle/v2');
    assert.deepEqual(verifyBundle(valid, { pubkeys, fileSha256: x.sha.c }).failures, []);
  });

  it('never accepts a byte-level mutation that adds or alters evidence', () => {
    const r = prng(4242);
    const original = evidence(valid);
    let rejected = 0;
    for (let i = 0; i < 800; i++) {
      const m = Buffer.from(valid);
      const flips = 1 + Math.floor(r() * 3);
      for (let f = 0; f < flips; f++) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
      const v = verifyBundle(m, { pubkeys, fileSha256: x.sha.c });
      if (v.ok) assertNothingNew(m, original, `mutation ${i}`);
      else {
        assertClean(v, `mutation ${i}`);
        rejected++;
      }
    }
    assert.ok(rejected > 500, `only ${rejected} of 800 mutations were rejected`);
  });

  it('rejects a wrong type, number, base64 or nesting at any evidential field, or accepts only a subset', () => {
    const r = prng(5678);
    const doc = JSON.parse(valid.toString('utf8')) as unknown;
    const all = paths(doc).filter((p) => p.length > 0);
    const original = evidence(valid);
    const unchanged = Buffer.from(JSON.stringify(doc));
    let tried = 0;
    for (let i = 0; i < 600; i++) {
      const path = all[Math.floor(r() * all.length)]!;
      const key = path.join('.');
      const replacement = r() < 0.1 ? undefined : randomValue(r);
      const bytes = Buffer.from(JSON.stringify(setAt(JSON.parse(valid.toString('utf8')), path, replacement)));
      const v = verifyBundle(bytes, { pubkeys, fileSha256: x.sha.c });
      if (INFORMATIONAL.some((re) => re.test(key))) continue;
      if (bytes.equals(unchanged)) continue;
      if (v.ok) assertNothingNew(bytes, original, `replacing ${key} with ${JSON.stringify(replacement)?.slice(0, 80)}`);
      else assertClean(v, `replacing ${key}`);
      tried++;
    }
    assert.ok(tried > 400);
  });
});
