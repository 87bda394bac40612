import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../testing/fixtures.js';
import { FfauditError } from './errors.js';
import { Frontier, hashLeaf, subtreeHash, type NodeSource } from './merkle.js';
import {
  AddEntriesParser,
  DEFAULT_MAX_HEADER_BYTES,
  encodeAddEntries,
  formatMirrorInfo,
  MAX_PACKAGE_BYTES,
  packageAt,
  packageCount,
  packageRanges,
  PACKAGE_WIDTH,
  parseMirrorInfo,
  type AddEntriesHeader,
  type EntryPackage,
} from './mirror-protocol.js';
import { isValidSubtree, subtreeConsistencyProof, verifySubtreeConsistency } from './subtree.js';

const fails = (fn: () => unknown, code: string, why: string) =>
  assert.throws(fn, (e: unknown) => e instanceof FfauditError && e.code === code && !e.message.includes('\n'), why);

/** A log of `n` entries with its node source. */
function logOf(n: number): { entries: Buffer[]; src: NodeSource } {
  const entries = Array.from({ length: n }, (_, i) => Buffer.from(`entry ${i} ${'x'.repeat(i % 7)}`));
  const nodes = new Map<string, Buffer>();
  const leaves = entries.map((e) => hashLeaf(e));
  const f = new Frontier();
  for (const h of leaves) f.push(h, (level, index, hash) => nodes.set(`${level}/${index}`, hash));
  return { entries, src: { perfect: (level, index) => (level === 0 ? leaves[index]! : nodes.get(`${level}/${index}`)!) } };
}

/** The canonical packages of [start, end) of a log, with their subtree consistency proofs (the client side). */
function packagesOf(log: { entries: Buffer[]; src: NodeSource }, start: number, end: number) {
  return packageRanges(start, end).map((r) => ({
    entries: log.entries.slice(r.start, r.end),
    proof: subtreeConsistencyProof(log.src, r.subtreeStart, r.end, end),
  }));
}

/** Feeds the chunks, draining after each push, and returns everything the parser gave. */
function parseChunks(chunks: readonly Uint8Array[], parser = new AddEntriesParser()) {
  let header: AddEntriesHeader | undefined;
  const packages: EntryPackage[] = [];
  const drain = () => {
    header ??= parser.header();
    for (let p = parser.nextPackage(); p; p = parser.nextPackage()) packages.push(p);
  };
  for (const c of chunks) {
    parser.push(c);
    drain();
  }
  return { header, packages, finished: parser.finished(), leftover: parser.leftover() };
}

/** The comparable content of a parse: buffers as hex. */
const plain = (r: ReturnType<typeof parseChunks>) =>
  JSON.stringify({
    header: r.header && { ...r.header, ticket: r.header.ticket.toString('hex') },
    packages: r.packages.map((p) => ({ range: p.range, entries: p.entries.map((e) => e.toString('hex')), proof: p.proof.map((h) => h.toString('hex')) })),
    finished: r.finished,
    leftover: r.leftover,
  });

describe('the canonical package sequence (c2sp.org/tlog-mirror §Request Body)', () => {
  it('is empty when upload_start = upload_end', () => {
    for (const n of [0, 1, 255, 256, 300, 2 ** 50]) {
      assert.deepEqual(packageRanges(n, n), []);
      assert.equal(packageCount(n, n), 0);
    }
  });

  it('starts at upload_start when it is not aligned, its proof for the subtree from the multiple of 256 below', () => {
    assert.deepEqual(packageRanges(300, 600), [
      { start: 300, end: 512, subtreeStart: 256 },
      { start: 512, end: 600, subtreeStart: 512 },
    ]);
  });

  it('ends at upload_end when it is not aligned', () => {
    assert.deepEqual(packageRanges(256, 700), [
      { start: 256, end: 512, subtreeStart: 256 },
      { start: 512, end: 700, subtreeStart: 512 },
    ]);
    assert.deepEqual(packageRanges(0, 512), [
      { start: 0, end: 256, subtreeStart: 0 },
      { start: 256, end: 512, subtreeStart: 256 },
    ]);
  });

  it('is one partial package inside one bundle, and two across a boundary', () => {
    assert.deepEqual(packageRanges(10, 20), [{ start: 10, end: 20, subtreeStart: 0 }]);
    assert.deepEqual(packageRanges(0, 1), [{ start: 0, end: 1, subtreeStart: 0 }]);
    assert.deepEqual(packageRanges(255, 257), [
      { start: 255, end: 256, subtreeStart: 0 },
      { start: 256, end: 257, subtreeStart: 256 },
    ]);
    assert.deepEqual(packageRanges(2 ** 52 + 1, 2 ** 52 + 2), [{ start: 2 ** 52 + 1, end: 2 ** 52 + 2, subtreeStart: 2 ** 52 }]);
  });

  it('refuses upload_start > upload_end and values that are not safe integers', () => {
    fails(() => packageRanges(5, 4), 'BAD_INPUT', 'reversed');
    fails(() => packageRanges(-1, 4), 'BAD_INPUT', 'negative');
    fails(() => packageRanges(0, 2 ** 53), 'BAD_INPUT', 'unsafe');
    assert.throws(() => packageAt(0, 300, 2), RangeError);
  });

  it('covers [start, end) once, in bundles of 256, each proof for a valid subtree (random ranges)', () => {
    const rand = prng(256);
    for (let t = 0; t < 2000; t++) {
      const start = Math.floor(rand() * 3000);
      const end = start + Math.floor(rand() * 1500);
      const ranges = packageRanges(start, end);
      let at = start;
      for (const r of ranges) {
        assert.equal(r.start, at);
        assert.ok(r.end > r.start && r.end <= end);
        assert.equal(r.subtreeStart % PACKAGE_WIDTH, 0);
        assert.ok(r.subtreeStart <= r.start && r.end <= r.subtreeStart + PACKAGE_WIDTH, 'within one bundle');
        assert.ok(isValidSubtree(r.subtreeStart, r.end));
        at = r.end;
      }
      assert.equal(at, end, `[${start}, ${end})`);
    }
  });
});

describe('add-entries bodies: encode, then parse as a stream', () => {
  const log = logOf(700);
  const header = { origin: 'studio.example/host-a', uploadStart: 300, uploadEnd: 700, ticket: Buffer.from('ticket bytes') };
  const packages = packagesOf(log, 300, 700);
  const body = encodeAddEntries(header, packages);

  it('writes the header as the spec lays it out', () => {
    const o = Buffer.from(header.origin);
    assert.equal(body.readUInt16BE(0), o.length);
    assert.deepEqual(body.subarray(2, 2 + o.length), o);
    assert.equal(body.readBigUInt64BE(2 + o.length), 300n);
    assert.equal(body.readBigUInt64BE(10 + o.length), 700n);
    assert.equal(body.readUInt16BE(18 + o.length), header.ticket.length);
    // Then the first entry's u16 length.
    assert.equal(body.readUInt16BE(20 + o.length + header.ticket.length), log.entries[300]!.length);
  });

  it('parses back to the same header and packages, whose proofs verify against the checkpoint at upload_end', () => {
    const r = parseChunks([body]);
    assert.deepEqual(r.header, header);
    assert.equal(r.packages.length, 2);
    assert.ok(r.finished);
    assert.equal(r.leftover, 0);
    const root = subtreeHash(log.src, 0, 700);
    for (const p of r.packages) {
      assert.deepEqual(p.entries, log.entries.slice(p.range.start, p.range.end));
      // The mirror's check: the subtree hash from entries it has ([subtreeStart, start)) and the package's.
      const have = log.entries.slice(p.range.subtreeStart, p.range.start);
      const leaves = [...have, ...p.entries].map((e) => hashLeaf(e));
      const f = new Frontier(p.range.subtreeStart);
      for (const h of leaves) f.push(h);
      assert.ok(verifySubtreeConsistency(p.range.subtreeStart, p.range.end, 700, p.proof, f.root(), root));
    }
  });

  it('parses identically whatever the chunking: split at every byte boundary, and one byte at a time', () => {
    const small = encodeAddEntries(
      { origin: 'o', uploadStart: 250, uploadEnd: 262, ticket: Buffer.from([1, 2, 3]) },
      packagesOf(log, 250, 262),
    );
    const whole = plain(parseChunks([small]));
    assert.ok((JSON.parse(whole) as { finished: boolean }).finished);
    for (let k = 0; k <= small.length; k++) {
      assert.equal(plain(parseChunks([small.subarray(0, k), small.subarray(k)])), whole, `split at ${k}`);
    }
    for (let k = 1; k < small.length; k += 7) {
      const j = Math.min(small.length, k + 13);
      assert.equal(plain(parseChunks([small.subarray(0, k), small.subarray(k, j), small.subarray(j)])), whole, `split at ${k} and ${j}`);
    }
    assert.equal(plain(parseChunks([...small].map((b) => Buffer.from([b])))), whole, 'bytes one by one');
  });

  it('a strict prefix: the packages that arrived whole, and the partial bytes left over', () => {
    const cut = body.length - 10;
    const r = parseChunks([body.subarray(0, cut)]);
    assert.equal(r.packages.length, 1);
    assert.ok(!r.finished);
    assert.ok(r.leftover > 0 && r.leftover < cut);
    // A prefix of whole packages: the client's deliberate prefix.
    const prefix = encodeAddEntries(header, packages.slice(0, 1));
    const p = parseChunks([prefix]);
    assert.equal(p.packages.length, 1);
    assert.ok(!p.finished);
    assert.equal(p.leftover, 0);
    // Only the header.
    const h = parseChunks([encodeAddEntries(header, [])]);
    assert.deepEqual(h.header, header);
    assert.equal(h.packages.length, 0);
  });

  it('counts bytes after the whole sequence without keeping them; end() says whether any were left', () => {
    const parser = new AddEntriesParser();
    const r = parseChunks([body, Buffer.alloc(5), Buffer.alloc(1000)], parser);
    assert.ok(r.finished);
    assert.equal(r.leftover, 1005);
    assert.equal((parser as unknown as { store: Buffer }).store.length, 0);
    assert.equal(parser.end(), true);
    fails(() => parser.push(Buffer.alloc(1)), 'INTERNAL', 'push after end');
    const clean = new AddEntriesParser();
    parseChunks([body], clean);
    assert.equal(clean.end(), false);
    // An empty sequence: everything after the header is trailing.
    const empty = parseChunks([encodeAddEntries({ ...header, uploadStart: 700 }, []), Buffer.from('junk')]);
    assert.ok(empty.finished);
    assert.equal(empty.leftover, 4);
  });

  it('takes entries of every length from 0 to 65535', () => {
    const entries = [Buffer.alloc(0), Buffer.alloc(1, 1), Buffer.alloc(0xffff, 2)];
    const b = encodeAddEntries({ origin: 'o', uploadStart: 0, uploadEnd: 3, ticket: Buffer.alloc(0) }, [{ entries, proof: [] }]);
    const r = parseChunks([b.subarray(0, 1000), b.subarray(1000)]);
    assert.deepEqual(r.packages[0]!.entries, entries);
  });
});

describe('add-entries parsing: hostile bodies', () => {
  /** A header with raw u64 values. */
  const rawHeader = (origin: Buffer, start: bigint, end: bigint, ticket = Buffer.alloc(0)) => {
    const b = Buffer.alloc(2 + origin.length + 18 + ticket.length);
    b.writeUInt16BE(origin.length, 0);
    origin.copy(b, 2);
    b.writeBigUInt64BE(start, 2 + origin.length);
    b.writeBigUInt64BE(end, 10 + origin.length);
    b.writeUInt16BE(ticket.length, 18 + origin.length);
    ticket.copy(b, 20 + origin.length);
    return b;
  };
  const headerOnly = (b: Buffer) => {
    const p = new AddEntriesParser();
    p.push(b);
    return p.header();
  };

  it('refuses u64 values above 2^53 - 1 and upload_start > upload_end', () => {
    const o = Buffer.from('o');
    fails(() => headerOnly(rawHeader(o, 0n, 2n ** 53n)), 'BAD_INPUT', 'end = 2^53');
    fails(() => headerOnly(rawHeader(o, 2n ** 64n - 1n, 2n ** 64n - 1n)), 'BAD_INPUT', 'u64 max');
    fails(() => headerOnly(rawHeader(o, 5n, 4n)), 'BAD_INPUT', 'start > end');
    assert.equal(headerOnly(rawHeader(o, 2n ** 53n - 1n, 2n ** 53n - 1n))?.uploadEnd, Number.MAX_SAFE_INTEGER);
  });

  it('refuses an origin that is not UTF-8', () => {
    fails(() => headerOnly(rawHeader(Buffer.from([0x6f, 0xff]), 0n, 0n)), 'BAD_INPUT', 'invalid UTF-8');
    // A byte-order mark is valid UTF-8: kept, so the origin is merely one no log has.
    assert.equal(headerOnly(rawHeader(Buffer.from([0xef, 0xbb, 0xbf, 0x6f]), 0n, 0n))?.origin, '\ufeffo');
  });

  it('refuses a header over its bound as soon as its length is known', () => {
    const p = new AddEntriesParser(64);
    const big = rawHeader(Buffer.alloc(100, 0x61), 0n, 0n);
    p.push(big.subarray(0, 2)); // only the origin length
    fails(() => p.header(), 'BAD_INPUT', 'origin length past the bound');
    const q = new AddEntriesParser(64);
    q.push(rawHeader(Buffer.from('o'), 0n, 0n, Buffer.alloc(100)).subarray(0, 23));
    fails(() => q.header(), 'BAD_INPUT', 'ticket length past the bound');
    assert.equal(DEFAULT_MAX_HEADER_BYTES, 16 * 1024);
  });

  it('refuses num_hashes above 63, and stays failed', () => {
    const h = rawHeader(Buffer.from('o'), 0n, 1n);
    const p = new AddEntriesParser();
    p.push(Buffer.concat([h, Buffer.from([0, 1, 0x41, 64])]));
    assert.ok(p.header());
    fails(() => p.nextPackage(), 'BAD_INPUT', '64 hashes');
    fails(() => p.nextPackage(), 'BAD_INPUT', 'still failed');
    fails(() => p.push(Buffer.alloc(1)), 'BAD_INPUT', 'push after failure');
    // 63 hashes are fine.
    const q = parseChunks([Buffer.concat([h, Buffer.from([0, 1, 0x41, 63]), Buffer.alloc(63 * 32)])]);
    assert.equal(q.packages[0]!.proof.length, 63);
  });

  it('refuses to encode packages that do not fit the sequence', () => {
    const h = { origin: 'o', uploadStart: 250, uploadEnd: 262, ticket: Buffer.alloc(0) };
    fails(() => encodeAddEntries(h, [{ entries: [Buffer.alloc(1)], proof: [] }]), 'BAD_INPUT', 'wrong entry count');
    fails(() => encodeAddEntries(h, [0, 1, 2].map(() => ({ entries: [], proof: [] }))), 'BAD_INPUT', 'too many packages');
    const six = Array.from({ length: 6 }, () => Buffer.alloc(1));
    fails(() => encodeAddEntries(h, [{ entries: [...six.slice(1), Buffer.alloc(0x10000)], proof: [] }]), 'BAD_INPUT', 'entry too long');
    fails(() => encodeAddEntries(h, [{ entries: six, proof: Array.from({ length: 64 }, () => Buffer.alloc(32)) }]), 'BAD_INPUT', '64 hashes');
    fails(() => encodeAddEntries(h, [{ entries: six, proof: [Buffer.alloc(31)] }]), 'BAD_INPUT', 'short hash');
    fails(() => encodeAddEntries({ ...h, ticket: Buffer.alloc(0x10000) }, []), 'BAD_INPUT', 'long ticket');
    fails(() => encodeAddEntries({ ...h, uploadStart: 263 }, []), 'BAD_INPUT', 'start > end');
  });
});

describe('add-entries parsing: bounded memory', () => {
  it('holds at most one package plus the chunk being pushed, for the largest package the format allows', () => {
    assert.equal(MAX_PACKAGE_BYTES, 256 * (2 + 65535) + 1 + 63 * 32);
    const entry = Buffer.alloc(0xffff, 7);
    const proof = Array.from({ length: 63 }, (_, i) => Buffer.alloc(32, i));
    const h = { origin: 'o', uploadStart: 0, uploadEnd: 512, ticket: Buffer.alloc(0) };
    const pkg = { entries: Array.from({ length: 256 }, () => entry), proof };
    const body = encodeAddEntries(h, [pkg, pkg]);
    const parser = new AddEntriesParser();
    const CHUNK = 64 * 1024;
    let got = 0;
    let most = 0;
    for (let at = 0; at < body.length; at += CHUNK) {
      parser.push(body.subarray(at, at + CHUNK));
      parser.header();
      for (let p = parser.nextPackage(); p; p = parser.nextPackage()) {
        got++;
        assert.equal(p.entries.length, 256);
        assert.ok(p.entries.every((e) => e.length === 0xffff));
      }
      most = Math.max(most, (parser as unknown as { store: Buffer }).store.length);
    }
    assert.equal(got, 2);
    assert.ok(parser.finished());
    assert.ok(most <= MAX_PACKAGE_BYTES + DEFAULT_MAX_HEADER_BYTES + CHUNK, `held ${most} bytes`);
  });

  it('refuses (INTERNAL) to grow for a caller that pushes without taking packages', () => {
    const entry = Buffer.alloc(0xffff, 7);
    const h = { origin: 'o', uploadStart: 0, uploadEnd: 1024, ticket: Buffer.alloc(0) };
    const pkg = { entries: Array.from({ length: 256 }, () => entry), proof: [] };
    const body = encodeAddEntries(h, [pkg, pkg]);
    const parser = new AddEntriesParser();
    const CHUNK = 1024 * 1024;
    let refused = false;
    try {
      for (let at = 0; at < body.length; at += CHUNK) parser.push(body.subarray(at, at + CHUNK));
    } catch (e) {
      refused = e instanceof FfauditError && e.code === 'INTERNAL';
    }
    assert.ok(refused);
  });
});

describe('text/x.tlog.mirror-info', () => {
  it('is three lines: size, next entry, base64 ticket (possibly empty)', () => {
    assert.equal(formatMirrorInfo({ size: 700, next: 512, ticket: Buffer.from([1, 2, 3]) }), '700\n512\nAQID\n');
    assert.equal(formatMirrorInfo({ size: 0, next: 0, ticket: Buffer.alloc(0) }), '0\n0\n\n');
    assert.deepEqual(parseMirrorInfo('700\n512\nAQID\n'), { size: 700, next: 512, ticket: Buffer.from([1, 2, 3]) });
    assert.deepEqual(parseMirrorInfo('0\n0\n\n'), { size: 0, next: 0, ticket: Buffer.alloc(0) });
    const t = Buffer.alloc(0xffff, 9);
    assert.deepEqual(parseMirrorInfo(formatMirrorInfo({ size: 1, next: 1, ticket: t })).ticket, t);
  });

  it('refuses anything else', () => {
    for (const s of ['700\n512\n', '700\n512\nAQID', '700\n512\nAQID\n\n', '0700\n512\n\n', '700\n-1\n\n', '700\n512\nAQI\n', '700\n512\nAQ-D\n', ' 700\n512\n\n', '700\r\n512\n\n', '9007199254740992\n0\n\n', '']) {
      fails(() => parseMirrorInfo(s), 'BAD_INPUT', JSON.stringify(s));
    }
    fails(() => parseMirrorInfo(`1\n1\n${Buffer.alloc(0x10000).toString('base64')}\n`), 'BAD_INPUT', 'ticket longer than u16');
    assert.throws(() => formatMirrorInfo({ size: -1, next: 0, ticket: Buffer.alloc(0) }), FfauditError);
    assert.throws(() => formatMirrorInfo({ size: 1, next: 0, ticket: Buffer.alloc(0x10000) }), FfauditError);
  });
});
