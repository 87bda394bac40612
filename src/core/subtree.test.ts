import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { naiveLeaf, naiveRoot, prng, VECTORS_DIR } from '../testing/fixtures.js';
import { consistencyProof, EMPTY_ROOT, Frontier, hashLeaf, inclusionProof, subtreeHash, type NodeSource } from './merkle.js';
import {
  coveringSubtrees,
  evaluateSubtreeInclusion,
  isValidSubtree,
  subtreeConsistencyProof,
  subtreeInclusionProof,
  subtreeRoot,
  verifySubtreeConsistency,
  verifySubtreeConsistencyBig,
} from './subtree.js';

const SUBTREE = join(VECTORS_DIR, 'subtree');

/** An in-memory node source over the given leaf hashes, its perfect nodes recorded as a Frontier completes them. */
function treeOf(leafHashes: readonly Buffer[]): NodeSource {
  const nodes = new Map<string, Buffer>();
  const f = new Frontier();
  for (const h of leafHashes) f.push(h, (level, index, hash) => nodes.set(`${level}/${index}`, hash));
  return {
    perfect(level, index) {
      const h = level === 0 ? leafHashes[index] : nodes.get(`${level}/${index}`);
      if (!h) throw new Error(`node ${level}/${index} was never completed`);
      return h;
    },
  };
}

const leavesOf = (n: number, tag = 'leaf'): Buffer[] => Array.from({ length: n }, (_, i) => hashLeaf(Buffer.from(`${tag} ${i}`)));

/** Changes one bit of one hash. */
function flip(h: Uint8Array, bit = 0): Buffer {
  const c = Buffer.from(h);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

/** Every valid subtree [start, end) with end <= size (§Definition of a Subtree), by brute force. */
function* validSubtrees(size: number): Generator<[number, number]> {
  for (let end = 0; end <= size; end++) for (let start = 0; start <= end; start++) if (isValidSubtree(start, end)) yield [start, end];
}

describe('subtree definition', () => {
  it('follows §Definition of a Subtree and its examples', () => {
    // §Example Subtrees: [4, 8) and [8, 13); §Subtrees (appendix): [1, 5) is misaligned.
    assert.ok(isValidSubtree(4, 8));
    assert.ok(isValidSubtree(8, 13));
    assert.ok(!isValidSubtree(1, 5));
    assert.ok(!isValidSubtree(4, 13)); // BIT_CEIL(9) = 16 does not divide 4
    assert.ok(!isValidSubtree(6, 9)); // BIT_CEIL(3) = 4 does not divide 6
    // "For all x, [0, x) is a valid subtree, and [x, x) is a valid subtree."
    for (const x of [0, 1, 7, 13, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
      assert.ok(isValidSubtree(0, x), `[0, ${x})`);
      assert.ok(isValidSubtree(x, x), `[${x}, ${x})`);
    }
    // Not a subtree: reversed, negative, fractional, unsafe, not numbers.
    for (const [s, e] of [[5, 4], [-1, 0], [0.5, 1], [0, 2 ** 53], [NaN, 1], [0, Infinity]] as [number, number][]) {
      assert.ok(!isValidSubtree(s, e), `[${s}, ${e})`);
    }
    assert.ok(!isValidSubtree('0' as unknown as number, 1));
  });

  it('counts the valid subtrees of a small tree as a direct reading of the rule would', () => {
    // start must be a multiple of the smallest power of two >= end - start.
    let direct = 0;
    for (let end = 0; end <= 64; end++) {
      for (let start = 0; start <= end; start++) {
        let p = 1;
        while (p < end - start) p *= 2;
        if (start % p === 0) direct++;
      }
    }
    assert.equal([...validSubtrees(64)].length, direct);
  });
});

describe('subtree consistency proofs: the draft’s examples', () => {
  const leaves = Array.from({ length: 14 }, (_, i) => naiveLeaf(Buffer.from([i])));
  const src = treeOf(leaves);
  const mth = (a: number, b: number) => naiveRoot(leaves.slice(a, b));

  it('[4, 8) in a tree of 14 is MTH(D[0:4]), MTH(D[8:14])', () => {
    const proof = subtreeConsistencyProof(src, 4, 8, 14);
    assert.deepEqual(proof, [mth(0, 4), mth(8, 14)]);
    assert.ok(verifySubtreeConsistency(4, 8, 14, proof, mth(4, 8), mth(0, 14)));
  });

  it('[8, 13) in a tree of 14 is MTH({d[12]}), MTH({d[13]}), MTH(D[8:12]), MTH(D[0:8])', () => {
    const proof = subtreeConsistencyProof(src, 8, 13, 14);
    assert.deepEqual(proof, [mth(12, 13), mth(13, 14), mth(8, 12), mth(0, 8)]);
    assert.ok(verifySubtreeConsistency(8, 13, 14, proof, mth(8, 13), mth(0, 14)));
  });

  it('[0, 6) in trees of 8 and 7 start at [4, 6) (appendix, Consistency Proof Structure)', () => {
    const l8 = leaves.slice(0, 8);
    assert.deepEqual(subtreeConsistencyProof(treeOf(l8), 0, 6, 8), [naiveRoot(l8.slice(4, 6)), naiveRoot(l8.slice(6, 8)), naiveRoot(l8.slice(0, 4))]);
    const l7 = leaves.slice(0, 7);
    assert.deepEqual(subtreeConsistencyProof(treeOf(l7), 0, 6, 7), [naiveRoot(l7.slice(4, 6)), l7[6], naiveRoot(l7.slice(0, 4))]);
  });

  it('an empty subtree has an empty proof and only HASH() as its hash', () => {
    assert.deepEqual(subtreeConsistencyProof(src, 5, 5, 14), []);
    assert.ok(verifySubtreeConsistency(5, 5, 14, [], EMPTY_ROOT, mth(0, 14)));
    // Step 2 does not constrain root_hash.
    assert.ok(verifySubtreeConsistency(5, 5, 14, [], EMPTY_ROOT, flip(mth(0, 14))));
    assert.ok(!verifySubtreeConsistency(5, 5, 14, [], mth(5, 6), mth(0, 14)));
    assert.ok(!verifySubtreeConsistency(5, 5, 14, [mth(0, 14)], EMPTY_ROOT, mth(0, 14)));
    assert.ok(!verifySubtreeConsistency(5, 5, 4, [], EMPTY_ROOT, mth(0, 4)), 'end > n');
  });

  it('refuses to generate a proof for an invalid subtree or an end past the tree', () => {
    assert.throws(() => subtreeConsistencyProof(src, 1, 5, 14), RangeError);
    assert.throws(() => subtreeConsistencyProof(src, 8, 13, 12), RangeError);
    assert.throws(() => subtreeConsistencyProof(src, 0, 1, -1), RangeError);
    assert.throws(() => subtreeRoot(src, 1, 5), RangeError);
    assert.deepEqual(subtreeRoot(src, 8, 13), mth(8, 13));
  });
});

describe('draft-ietf-plants-merkle-tree-certs appendix: accumulated subtree test vectors', () => {
  const want = new Map(
    readFileSync(join(SUBTREE, 'accumulated.txt'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(' ') as [string, string]),
  );
  // "a tree D_n of size n is constructed with leaf values d[0] = 0x00, d[1] = 0x01, ...", n up to 130.
  const MAX = 130;
  const leaves = Array.from({ length: MAX }, (_, i) => naiveLeaf(Buffer.from([i])));
  const src = treeOf(leaves);
  const hex = (hs: readonly Buffer[]) => hs.map((h) => ` ${h.toString('hex')}`).join('');

  it('reads the four values', () => assert.equal(want.size, 4));

  it('subtree hashes', () => {
    const h = createHash('sha256');
    for (let end = 0; end <= MAX; end++) {
      for (let start = 0; start <= end; start++) {
        if (isValidSubtree(start, end)) h.update(`[${start}, ${end}) ${subtreeRoot(src, start, end).toString('hex')}\n`);
      }
    }
    assert.equal(h.digest('hex'), want.get('subtree-hashes'));
  });

  it('subtree inclusion proofs (each also evaluated back to its subtree hash)', () => {
    const h = createHash('sha256');
    for (let end = 0; end <= MAX; end++) {
      for (let start = 0; start <= end; start++) {
        if (!isValidSubtree(start, end)) continue;
        const root = subtreeRoot(src, start, end);
        for (let index = start; index < end; index++) {
          const proof = subtreeInclusionProof(src, index, start, end);
          h.update(`${index} [${start}, ${end})${hex(proof)}\n`);
          assert.deepEqual(evaluateSubtreeInclusion(index, start, end, leaves[index]!, proof), root);
          if (proof.length > 0) assert.equal(evaluateSubtreeInclusion(index, start, end, leaves[index]!, proof.slice(0, -1)), undefined);
          assert.equal(evaluateSubtreeInclusion(index, start, end, leaves[index]!, [...proof, root]), undefined);
        }
      }
    }
    assert.equal(h.digest('hex'), want.get('subtree-inclusion-proofs'));
  });

  it('subtree consistency proofs (each also verified)', () => {
    const h = createHash('sha256');
    for (let n = 0; n <= MAX; n++) {
      const root = subtreeHash(src, 0, n);
      for (let end = 0; end <= n; end++) {
        for (let start = 0; start <= end; start++) {
          if (!isValidSubtree(start, end)) continue;
          const proof = subtreeConsistencyProof(src, start, end, n);
          h.update(`[${start}, ${end}) ${n}${hex(proof)}\n`);
          assert.ok(verifySubtreeConsistency(start, end, n, proof, subtreeHash(src, start, end), root), `[${start}, ${end}) ${n}`);
        }
      }
    }
    assert.equal(h.digest('hex'), want.get('subtree-consistency-proofs'));
  });

  it('efficient covering subtrees', () => {
    const h = createHash('sha256');
    for (let end = 0; end <= MAX; end++) {
      for (let start = 0; start <= end; start++) {
        const [l, r] = coveringSubtrees(start, end);
        h.update(`[${l.start}, ${l.end}) [${r.start}, ${r.end})\n`);
      }
    }
    assert.equal(h.digest('hex'), want.get('efficient-covering-subtrees'));
  });
});

describe('merkle-tree-certs demo: consistency proofs in trees of 2^48, 2^63 and 2^64 leaves', () => {
  const text = readFileSync(join(SUBTREE, 'large_consistency_proofs.txt'), 'utf8');
  const re = /Subtree \[(0x[0-9a-f]+), (0x[0-9a-f]+)\) with hash ([0-9a-f]{64})\nTree size (0x[0-9a-f]+) with hash ([0-9a-f]{64})\nConsistency Proof:\n((?: {2}[0-9a-f]{64}\n)*)\n/g;
  const vectors = [...text.matchAll(re)].map((m) => ({
    start: BigInt(m[1]!),
    end: BigInt(m[2]!),
    node: Buffer.from(m[3]!, 'hex'),
    size: BigInt(m[4]!),
    root: Buffer.from(m[5]!, 'hex'),
    proof: m[6]!.split('\n').filter(Boolean).map((l) => Buffer.from(l.trim(), 'hex')),
  }));

  it('every block was read', () => {
    assert.equal(vectors.length, 21);
    assert.equal(vectors.length, text.split('\nSubtree [').length - 1);
  });

  it('every proof verifies, on BigInt indices up to 2^64 - 1', () => {
    for (const v of vectors) assert.ok(verifySubtreeConsistencyBig(v.start, v.end, v.size, v.proof, v.node, v.root), `[${v.start}, ${v.end}) ${v.size}`);
  });

  it('and fails once anything is changed', () => {
    for (const v of vectors) {
      const name = `[${v.start}, ${v.end}) ${v.size}`;
      for (let i = 0; i < v.proof.length; i++) {
        const p = v.proof.map((h, j) => (j === i ? flip(h, 77) : h));
        assert.ok(!verifySubtreeConsistencyBig(v.start, v.end, v.size, p, v.node, v.root), `${name}: hash ${i}`);
      }
      assert.ok(!verifySubtreeConsistencyBig(v.start, v.end, v.size, [...v.proof, v.root], v.node, v.root), `${name}: extended`);
      if (v.start === v.end) continue; // an empty subtree's proof ignores the root (step 2)
      assert.ok(!verifySubtreeConsistencyBig(v.start, v.end, v.size, v.proof, v.node, flip(v.root)), `${name}: root`);
      if (v.start !== 0n || v.end !== v.size) {
        assert.ok(!verifySubtreeConsistencyBig(v.start, v.end, v.size, v.proof, flip(v.node), v.root), `${name}: node`);
      }
    }
    // Past 2^64 - 1 nothing is a tree size.
    assert.ok(!verifySubtreeConsistencyBig(0n, 0n, 2n ** 64n, [], EMPTY_ROOT, EMPTY_ROOT));
  });

  it('the number API gives the same verdicts below 2^53 and refuses what it cannot hold exactly', () => {
    let safe = 0;
    for (const v of vectors) {
      if (v.size <= BigInt(Number.MAX_SAFE_INTEGER)) {
        safe++;
        assert.ok(verifySubtreeConsistency(Number(v.start), Number(v.end), Number(v.size), v.proof, v.node, v.root));
      } else {
        // The nearest double is another number: never a silent rounding into a verdict.
        assert.ok(!verifySubtreeConsistency(Number(v.start), Number(v.end), Number(v.size), v.proof, v.node, v.root));
      }
    }
    assert.equal(safe, 7);
  });
});

describe('subtree proofs: properties over random trees of up to 600 leaves', () => {
  const rand = prng(0x5b7);
  const sizes = [1, 2, 3, 256, 257, 600, ...Array.from({ length: 2 }, () => 1 + Math.floor(rand() * 600))];

  for (const size of sizes) {
    it(`tree of ${size}: every valid subtree’s proof verifies, and fails once anything changes`, () => {
      // One leaf more than the tree, so that the true root of size + 1 is known too.
      const src = treeOf(leavesOf(size + 1, `t${size}`));
      const hashOf = (s: number, e: number) => subtreeHash(src, s, e);
      const rootOf = (n: number) => subtreeHash(src, 0, n);
      const root = rootOf(size);
      let checked = 0;
      for (const [start, end] of validSubtrees(size)) {
        const proof = subtreeConsistencyProof(src, start, end, size);
        const node = hashOf(start, end);
        assert.ok(verifySubtreeConsistency(start, end, size, proof, node, root), `[${start}, ${end}) ${size}`);
        // start = 0 is an RFC 6962 consistency proof; end = start + 1 is an inclusion path.
        if (start === 0) assert.deepEqual(proof, consistencyProof(src, end, size));
        if (end === start + 1) assert.deepEqual(proof, inclusionProof(src, start, size));
        if (start === end) continue;
        checked++;
        // Every hash of the proof matters, and so does its length.
        for (let i = 0; i < proof.length; i++) {
          const p = proof.map((h, j) => (j === i ? flip(h, i) : h));
          assert.ok(!verifySubtreeConsistency(start, end, size, p, node, root), `[${start}, ${end}) ${size}: hash ${i}`);
        }
        assert.ok(!verifySubtreeConsistency(start, end, size, [...proof, root], node, root));
        if (proof.length > 0) assert.ok(!verifySubtreeConsistency(start, end, size, proof.slice(1), node, root));
        assert.ok(!verifySubtreeConsistency(start, end, size, proof, flip(node), root));
        assert.ok(!verifySubtreeConsistency(start, end, size, proof, node, flip(root)));
        // Other bounds, with the true hashes for them: the proof verifies only where it is also their proof.
        for (const [s, e, n] of [
          [start + 1, end, size],
          [start - 1, end, size],
          [start, end + 1, size],
          [start, end - 1, size],
          [start, end, size + 1],
          [start, end, size - 1],
        ] as [number, number, number][]) {
          const valid = isValidSubtree(s, e) && e <= n && n <= size + 1 && s < e;
          const ok = verifySubtreeConsistency(s, e, n, proof, valid ? hashOf(s, e) : node, valid ? rootOf(n) : root);
          const theirs = valid ? subtreeConsistencyProof(src, s, e, n) : undefined;
          const expected = theirs !== undefined && theirs.length === proof.length && theirs.every((h, i) => h.equals(proof[i]!));
          assert.equal(ok, expected, `[${start}, ${end}) ${size} as [${s}, ${e}) ${n}`);
        }
      }
      assert.ok(checked > 0);
    });
  }

  it('the covering subtrees are valid, adjacent, cover the interval and waste less than half the left one', () => {
    assert.deepEqual(coveringSubtrees(5, 13), [{ start: 4, end: 8 }, { start: 8, end: 13 }]); // §Selecting Two Subtrees
    assert.deepEqual(coveringSubtrees(7, 9), [{ start: 7, end: 8 }, { start: 8, end: 9 }]);
    for (let end = 0; end <= 300; end++) {
      for (let start = 0; start <= end; start++) {
        const [l, r] = coveringSubtrees(start, end);
        assert.ok(isValidSubtree(l.start, l.end) && isValidSubtree(r.start, r.end), `[${start}, ${end})`);
        assert.equal(l.end, r.start);
        assert.equal(r.end, end);
        assert.ok(l.start <= start);
        if (start < end) assert.ok(start - l.start < l.end - start, `[${start}, ${end}) excess`);
      }
    }
    const big = 2 ** 52 + 12345;
    const [l, r] = coveringSubtrees(big - 1000, big);
    assert.ok(isValidSubtree(l.start, l.end) && isValidSubtree(r.start, r.end) && l.end === r.start && r.end === big);
    assert.throws(() => coveringSubtrees(3, 2), RangeError);
  });
});

describe('subtree verification on hostile input', () => {
  const leaves = leavesOf(20);
  const src = treeOf(leaves);
  const proof = subtreeConsistencyProof(src, 8, 13, 20);
  const node = subtreeHash(src, 8, 13);
  const root = subtreeHash(src, 0, 20);

  it('returns false, never throws, on malformed values', () => {
    assert.ok(verifySubtreeConsistency(8, 13, 20, proof, node, root));
    const cases: [unknown, unknown, unknown, unknown, unknown, unknown][] = [
      [8, 13, 20, [...proof.slice(0, 1), proof[1]!.subarray(0, 31), ...proof.slice(2)], node, root],
      [8, 13, 20, [...proof, Buffer.alloc(33)], node, root],
      [8, 13, 20, 'proof', node, root],
      [8, 13, 20, null, node, root],
      [8, 13, 20, [...proof.slice(0, -1), 'x'], node, root],
      [8, 13, 20, proof, node.subarray(1), root],
      [8, 13, 20, proof, node, Buffer.concat([root, Buffer.alloc(1)])],
      [8, 13, 20, proof, node, undefined],
      [8.5, 13, 20, proof, node, root],
      [8, 13, NaN, proof, node, root],
      [8, 13, -20, proof, node, root],
      ['8', 13, 20, proof, node, root],
      [8, 13, 2 ** 53, proof, node, root],
      [8, 13, 12, proof, node, root],
      [13, 8, 20, proof, node, root],
    ];
    for (const c of cases) {
      assert.equal((verifySubtreeConsistency as (...a: unknown[]) => boolean)(...c), false, JSON.stringify(c.slice(0, 3)));
    }
    assert.equal((verifySubtreeConsistencyBig as (...a: unknown[]) => boolean)(8, 13, 20, proof, node, root), false, 'numbers are not BigInts');
    assert.ok(!verifySubtreeConsistencyBig(-8n, 13n, 20n, proof, node, root));
    // A thousand hashes: refused in bounded work (the loop fails as soon as the tree's height is used up).
    assert.ok(!verifySubtreeConsistency(8, 13, 20, Array.from({ length: 1000 }, () => node), node, root));
  });

  it('subtree inclusion evaluation refuses what the draft’s step 1 refuses', () => {
    const p = subtreeInclusionProof(src, 10, 8, 13);
    assert.deepEqual(evaluateSubtreeInclusion(10, 8, 13, leaves[10]!, p), node);
    assert.equal(evaluateSubtreeInclusion(13, 8, 13, leaves[10]!, p), undefined);
    assert.equal(evaluateSubtreeInclusion(10, 7, 13, leaves[10]!, p), undefined);
    assert.equal(evaluateSubtreeInclusion(10, 8, 13, leaves[10]!.subarray(1), p), undefined);
    assert.equal(evaluateSubtreeInclusion(10, 8, 13, leaves[10]!, [...p.slice(0, -1), Buffer.alloc(3)]), undefined);
    assert.deepEqual(evaluateSubtreeInclusion(10, 8, 13, flip(leaves[10]!), p)?.equals(node), false);
    assert.throws(() => subtreeInclusionProof(src, 13, 8, 13), RangeError);
    // §Example Subtree Inclusion Proofs: entry 10 of [8, 13) is MTH({d[11]}), MTH(D[8:10]), MTH({d[12]}).
    assert.deepEqual(p, [leaves[11], naiveRoot(leaves.slice(8, 10)), leaves[12]]);
  });
});
