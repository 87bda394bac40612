import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { naiveLeaf, naiveRoot, prng, VECTORS_DIR } from '../testing/fixtures.js';
import {
  consistencyProof,
  EMPTY_ROOT,
  Frontier,
  hashChildren,
  hashLeaf,
  inclusionProof,
  rootAt,
  splitPoint,
  subtreeHash,
  verifyConsistency,
  verifyInclusion,
  type NodeSource,
} from './merkle.js';

const MERKLE = join(VECTORS_DIR, 'merkle');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? jsonFiles(p) : e.name.endsWith('.json') ? [p] : [];
  });
}

/** Vector hashes are base64; malformed ones (wrong length, empty) must reach the verifier as they are. */
const b64 = (s: string | null | undefined): Buffer => Buffer.from(s ?? '', 'base64');
const proofOf = (p: string[] | null): Buffer[] => (p ?? []).map(b64);

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  wantErr: boolean;
}
interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}

describe('transparency-dev/merkle vectors', () => {
  it('every inclusion vector gets the expected verdict', () => {
    const files = jsonFiles(join(MERKLE, 'inclusion'));
    assert.ok(files.length >= 80, `found only ${files.length} inclusion vectors`);
    let rejected = 0;
    for (const f of files) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as InclusionVector;
      const ok = verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, proofOf(v.proof), b64(v.root));
      assert.equal(ok, !v.wantErr, `${relative(MERKLE, f)}: wantErr=${v.wantErr}`);
      if (v.wantErr) rejected++;
    }
    assert.ok(rejected > 0 && rejected < files.length);
  });

  it('every consistency vector gets the expected verdict', () => {
    const files = jsonFiles(join(MERKLE, 'consistency'));
    assert.ok(files.length >= 80, `found only ${files.length} consistency vectors`);
    for (const f of files) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as ConsistencyVector;
      const ok = verifyConsistency(v.size1, v.size2, proofOf(v.proof), b64(v.root1), b64(v.root2));
      assert.equal(ok, !v.wantErr, `${relative(MERKLE, f)}: wantErr=${v.wantErr}`);
    }
  });
});

/** An in-memory node source: every perfect subtree recorded as the Frontier completes it. */
class MemoryTree implements NodeSource {
  readonly leaves: Buffer[] = [];
  readonly nodes = new Map<string, Buffer>();
  readonly frontier = new Frontier();
  reads = 0;

  push(leaf: Buffer): void {
    this.leaves.push(leaf);
    this.frontier.push(leaf, (level, index, hash) => this.nodes.set(`${level}/${index}`, hash));
  }

  perfect(level: number, index: number): Buffer {
    this.reads++;
    const h = level === 0 ? this.leaves[index] : this.nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`node ${level}/${index} was never completed`);
    return h;
  }
}

function treeOf(n: number): MemoryTree {
  const t = new MemoryTree();
  for (let i = 0; i < n; i++) t.push(hashLeaf(Buffer.from(`leaf ${i}`)));
  return t;
}

/** Changes one bit of one hash. */
function flip(h: Buffer, bit = 0): Buffer {
  const c = Buffer.from(h);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

describe('tree hashing', () => {
  it('hashes leaves and nodes with the RFC 6962 domain prefixes', () => {
    assert.deepEqual(hashLeaf(Buffer.from('abc')), naiveLeaf(Buffer.from('abc')));
    // RFC 6962's empty leaf: SHA-256(0x00).
    assert.equal(hashLeaf(Buffer.alloc(0)).toString('hex'), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    assert.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const l = hashLeaf(Buffer.from('l'));
    const r = hashLeaf(Buffer.from('r'));
    assert.deepEqual(hashChildren(l, r), naiveRoot([l, r]));
    assert.notDeepEqual(hashChildren(l, r), hashChildren(r, l));
  });

  it('splits at the largest power of two below n', () => {
    const expected: [number, number][] = [[2, 1], [3, 2], [4, 2], [5, 4], [8, 4], [9, 8], [1025, 1024], [2 ** 40 + 1, 2 ** 40]];
    for (const [n, k] of expected) assert.equal(splitPoint(n), k, `n=${n}`);
  });

  it('Frontier.root equals the naive MTH, and Frontier.at rebuilds the same state, for sizes 0..300', () => {
    const t = new MemoryTree();
    assert.deepEqual(t.frontier.root(), EMPTY_ROOT);
    for (let n = 1; n <= 300; n++) {
      t.push(hashLeaf(Buffer.from(`leaf ${n - 1}`)));
      const want = naiveRoot(t.leaves);
      assert.deepEqual(t.frontier.root(), want, `size ${n}`);
      assert.deepEqual(rootAt(t, n), want, `rootAt ${n}`);
      const rebuilt = Frontier.at(t, n);
      assert.equal(rebuilt.size, n);
      assert.deepEqual(rebuilt.root(), want, `Frontier.at ${n}`);
      // The rebuilt frontier continues exactly as the original would.
      const next = hashLeaf(Buffer.from('next'));
      rebuilt.push(next);
      assert.deepEqual(rebuilt.root(), naiveRoot([...t.leaves, next]), `Frontier.at ${n} then push`);
    }
    assert.equal(Frontier.at(t, 0).size, 0);
    assert.deepEqual(Frontier.at(t, 0).root(), EMPTY_ROOT);
  });

  it('reads O(log n) nodes for a root, however large the tree', () => {
    const t = treeOf(4097);
    t.reads = 0;
    subtreeHash(t, 0, 4097);
    assert.ok(t.reads <= 2 * 13, `${t.reads} reads`);
    t.reads = 0;
    inclusionProof(t, 1234, 4097);
    assert.ok(t.reads <= 4 * 13, `${t.reads} reads`);
  });
});

describe('proofs: properties over random tree sizes', () => {
  const rand = prng(0x5eed);
  const sizes = [...Array.from({ length: 300 }, (_, i) => i + 1), 511, 512, 513, 1000, 1023, 1024, 1025, 4095, 4097, 10_001];
  const maxSize = Math.max(...sizes);
  const big = treeOf(maxSize);
  const pick = (n: number) => Math.floor(rand() * n);
  // Roots of prefixes from the independent recursion of RFC 6962 §2.1, remembering full subtrees so that a few
  // hundred roots over 10,000 leaves stay cheap.
  const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const full = new Map<string, Buffer>();
  const mth = (lo: number, hi: number): Buffer => {
    const n = hi - lo;
    if (n === 1) return big.leaves[lo]!;
    const key = `${lo}:${hi}`;
    const known = full.get(key);
    if (known) return known;
    let k = 1;
    while (k * 2 < n) k *= 2;
    const h = sha(Buffer.from([1]), mth(lo, lo + k), mth(lo + k, hi));
    if (k * 2 === n) full.set(key, h);
    return h;
  };
  const root = (n: number) => (n === 0 ? sha() : mth(0, n));

  it('every inclusion proof verifies against the naive root; a changed hash, index or size fails', () => {
    let checked = 0;
    for (const n of sizes) {
      const rootN = root(n);
      // Every index in small trees, a sample in large ones, always the first and last.
      const indices = n <= 64 ? Array.from({ length: n }, (_, i) => i) : [0, n - 1, ...Array.from({ length: 12 }, () => pick(n))];
      for (const i of indices) {
        const leaf = big.leaves[i]!;
        const proof = inclusionProof(big, i, n);
        assert.ok(verifyInclusion(leaf, i, n, proof, rootN), `index ${i} size ${n}`);
        checked++;
        assert.ok(!verifyInclusion(flip(leaf, pick(256)), i, n, proof, rootN), `changed leaf, index ${i} size ${n}`);
        assert.ok(!verifyInclusion(leaf, i, n, proof, flip(rootN, pick(256))), `changed root, index ${i} size ${n}`);
        if (proof.length > 0) {
          const j = pick(proof.length);
          const bad = proof.map((h, k) => (k === j ? flip(h, pick(256)) : h));
          assert.ok(!verifyInclusion(leaf, i, n, bad, rootN), `changed proof hash ${j}, index ${i} size ${n}`);
          assert.ok(!verifyInclusion(leaf, i, n, proof.slice(0, -1), rootN), `truncated proof, index ${i} size ${n}`);
        }
        assert.ok(!verifyInclusion(leaf, i, n, [...proof, rootN], rootN), `extended proof, index ${i} size ${n}`);
        if (n > 1) {
          const other = (i + 1 + pick(n - 1)) % n;
          assert.ok(!verifyInclusion(leaf, other, n, proof, rootN), `index ${other} instead of ${i}, size ${n}`);
        }
        // A size whose proofs have another length gives the path another shape: the proof must fail there.
        for (const m of [n + 1, n - 1, n * 2, Math.floor(n / 2)]) {
          if (m <= i || m === n || m > maxSize || inclusionProof(big, i, m).length === proof.length) continue;
          assert.ok(!verifyInclusion(leaf, i, m, proof, rootN), `size ${m} instead of ${n}, index ${i}`);
        }
        assert.ok(!verifyInclusion(leaf, i, i, proof, rootN), `size equal to index ${i}`);
      }
    }
    assert.ok(checked > 4000);
  });

  it('a proof for one size fails at every size that gives the path another shape', () => {
    // RFC 9162 §2.1.3.2 binds the size only through the path's shape: sizes with the same shape (3 and 4 for
    // leaf 0) accept the same proof, which is why a checkpoint signs size and root together.
    let rejected = 0;
    for (let n = 2; n <= 40; n++) {
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(big, i, n);
        for (let m = i + 1; m <= 48; m++) {
          if (m === n || inclusionProof(big, i, m).length === proof.length) continue;
          assert.ok(!verifyInclusion(big.leaves[i]!, i, m, proof, root(n)), `proof for ${i}@${n} accepted at size ${m}`);
          rejected++;
        }
      }
    }
    assert.ok(rejected > 5_000, `${rejected} checked`);
  });

  it('every consistency proof verifies against naive roots; a changed hash or size fails', () => {
    let checked = 0;
    // All pairs of sizes up to 64, then random pairs across the rest.
    const pairs: [number, number][] = [];
    for (let b = 1; b <= 64; b++) for (let a = 0; a <= b; a++) pairs.push([a, b]);
    for (const n of sizes) for (let k = 0; k < 6; k++) pairs.push([1 + pick(n), n]);
    for (const [m, n] of pairs) {
      const proof = consistencyProof(big, m, n);
      const r1 = root(m);
      const r2 = root(n);
      assert.ok(verifyConsistency(m, n, proof, r1, r2), `sizes ${m} → ${n}`);
      checked++;
      if (m === 0) continue; // every tree extends the empty one, whatever its root
      assert.ok(!verifyConsistency(m, n, proof, flip(r1, pick(256)), r2), `changed root1, ${m} → ${n}`);
      assert.ok(!verifyConsistency(m, n, proof, r1, flip(r2, pick(256))), `changed root2, ${m} → ${n}`);
      if (proof.length > 0) {
        const j = pick(proof.length);
        const bad = proof.map((h, k) => (k === j ? flip(h, pick(256)) : h));
        assert.ok(!verifyConsistency(m, n, bad, r1, r2), `changed proof hash ${j}, ${m} → ${n}`);
        assert.ok(!verifyConsistency(m, n, proof.slice(1), r1, r2), `truncated proof, ${m} → ${n}`);
      }
      assert.ok(!verifyConsistency(m, n, [...proof, r2], r1, r2), `extended proof, ${m} → ${n}`);
      if (m < n) {
        // As for inclusion, a size change that alters the proof's length must fail.
        if (n < maxSize && consistencyProof(big, m, n + 1).length !== proof.length) {
          assert.ok(!verifyConsistency(m, n + 1, proof, r1, r2), `size2 ${n + 1}, ${m} → ${n}`);
        }
        if (m > 1 && consistencyProof(big, m - 1, n).length !== proof.length) {
          assert.ok(!verifyConsistency(m - 1, n, proof, r1, r2), `size1 ${m - 1}, ${m} → ${n}`);
        }
        assert.ok(!verifyConsistency(n, m, proof, r2, r1), `swapped ${n} → ${m}`);
        assert.ok(!verifyConsistency(m, n, proof, r2, r1), `swapped roots ${m} → ${n}`);
      }
    }
    assert.ok(checked > 2000);
  });

  it('rejects malformed input instead of throwing', () => {
    const leaf = big.leaves[3]!;
    const proof = inclusionProof(big, 3, 8);
    const r = root(8);
    assert.equal(verifyInclusion(leaf.subarray(0, 31), 3, 8, proof, r), false);
    assert.equal(verifyInclusion(leaf, 3, 8, [proof[0]!.subarray(1), ...proof.slice(1)], r), false);
    assert.equal(verifyInclusion(leaf, -1, 8, proof, r), false);
    assert.equal(verifyInclusion(leaf, 3.5, 8, proof, r), false);
    assert.equal(verifyInclusion(leaf, 3, Number.NaN, proof, r), false);
    assert.equal(verifyInclusion(leaf, 3, 2 ** 60, proof, r), false);
    assert.equal(verifyInclusion(leaf, 3, 8, null as unknown as Buffer[], r), false);
    assert.equal(verifyConsistency(3, 8, consistencyProof(big, 3, 8), root(3).subarray(0, 16), r), false);
    assert.equal(verifyConsistency(-1, 8, [], root(3), r), false);
    assert.equal(verifyConsistency(3, 8, ['x' as unknown as Buffer], root(3), r), false);
  });

  it('inclusion and consistency proofs of large sizes use the BigInt paths correctly', () => {
    // A tree of 2^33 + 5 leaves whose leaf i is hashLeaf(i mod 3): a perfect subtree's hash depends only on its
    // level and its first leaf mod 3, so a consistent node source costs a few hundred hashes, not 2^33.
    const n = 2 ** 33 + 5;
    const memo = new Map<string, Buffer>();
    const perfectAt = (level: number, start: number): Buffer => {
      const key = `${level}/${start % 3}`;
      let h = memo.get(key);
      if (!h) {
        const half = 2 ** (level - 1);
        h = level === 0 ? hashLeaf(Buffer.from(String(start % 3))) : hashChildren(perfectAt(level - 1, start), perfectAt(level - 1, start + half));
        memo.set(key, h);
      }
      return h;
    };
    const sparse: NodeSource = { perfect: (level, index) => perfectAt(level, index * 2 ** level) };
    // The structure matches the naive recursion on a small prefix.
    assert.deepEqual(rootAt(sparse, 37), naiveRoot(Array.from({ length: 37 }, (_, i) => hashLeaf(Buffer.from(String(i % 3))))));
    const r = rootAt(sparse, n);
    for (const i of [0, 2 ** 31, 2 ** 32 + 7, n - 1]) {
      const proof = inclusionProof(sparse, i, n);
      assert.ok(verifyInclusion(sparse.perfect(0, i), i, n, proof, r), `index ${i}`);
      assert.ok(!verifyInclusion(sparse.perfect(0, i), i, n, [flip(proof[0]!), ...proof.slice(1)], r), `index ${i}, changed proof`);
      for (const m of [n + 2 ** 33, Math.floor(n / 2) + 1]) {
        if (m <= i || inclusionProof(sparse, i, m).length === proof.length) continue;
        assert.ok(!verifyInclusion(sparse.perfect(0, i), i, m, proof, r), `index ${i}, size ${m}`);
      }
    }
    for (const m of [2 ** 31, 2 ** 32, 2 ** 32 + 3, n - 1]) {
      assert.ok(verifyConsistency(m, n, consistencyProof(sparse, m, n), rootAt(sparse, m), r), `size ${m}`);
    }
  });

  it('proof generation refuses out-of-range arguments', () => {
    assert.throws(() => inclusionProof(big, 5, 5), RangeError);
    assert.throws(() => inclusionProof(big, -1, 5), RangeError);
    assert.throws(() => consistencyProof(big, 6, 5), RangeError);
    assert.deepEqual(consistencyProof(big, 0, 5), []);
    assert.deepEqual(consistencyProof(big, 5, 5), []);
  });
});
