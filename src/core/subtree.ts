/**
 * Subtrees of a Merkle tree and their proofs, draft-ietf-plants-merkle-tree-certs §Subtrees: what c2sp.org/tlog-mirror
 * uses to authenticate each package of entries against a checkpoint without holding the whole upload.
 *
 * A subtree [start, end) is MTH(D[start:end]) where 0 <= start <= end and start is a multiple of BIT_CEIL(end -
 * start) (§Definition of a Subtree), which keeps it aligned with the tree's own nodes. Verifiers take
 * attacker-controlled values: they check every length and bound and return false (or undefined) rather than throw.
 * They compute on BigInt, so indices up to 2^64 - 1 follow the draft exactly; the number API refuses anything that
 * is not a safe integer.
 */
import { EMPTY_ROOT, HASH_SIZE, hashChildren, inclusionProof, rootFromInclusion, splitPoint, subtreeHash, type NodeSource } from './merkle.js';

const U64_MAX = 2n ** 64n - 1n;

/** BIT_CEIL(n): the smallest power of two >= n (BIT_CEIL(0) = 1). */
function bitCeil(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

function isValidSubtreeBig(start: bigint, end: bigint): boolean {
  return start >= 0n && start <= end && end <= U64_MAX && start % bitCeil(end - start) === 0n;
}

const isSize = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** §Definition of a Subtree: 0 <= start <= end, and start is a multiple of BIT_CEIL(end - start). */
export function isValidSubtree(start: number, end: number): boolean {
  return isSize(start) && isSize(end) && isValidSubtreeBig(BigInt(start), BigInt(end));
}

/** The hashes of a subtree [start, end) are those of the tree D[start:end], indexed from 0. */
function shifted(src: NodeSource, start: number): NodeSource {
  // Every perfect node of D[start:end] is one of the tree's: start is a multiple of each width 2^level <=
  // BIT_CEIL(end - start), which is what makes the subtree valid.
  return { perfect: (level, index) => src.perfect(level, index + start / 2 ** level) };
}

/**
 * SUBTREE_PROOF(start, end, D_n) of §Generating a Subtree Consistency Proof, for n = `size`. Throws RangeError
 * unless [start, end) is a valid subtree with end <= size (a caller's mistake, not hostile input).
 */
export function subtreeConsistencyProof(src: NodeSource, start: number, end: number, size: number): Buffer[] {
  if (!isValidSubtree(start, end) || !isSize(size) || end > size) {
    throw new RangeError(`[${start}, ${end}) is not a valid subtree of a tree of size ${size}`);
  }
  if (start === end) return []; // SUBTREE_PROOF(start, start, D_n) = {}
  const proof: Buffer[] = [];
  // SUBTREE_SUBPROOF(s, end, D[lo:hi], b), with the subtree's start s, its end and the node's bounds lo and hi kept
  // as indices of the whole tree.
  const sub = (s: number, lo: number, hi: number, b: boolean): void => {
    if (s === lo && end === hi) {
      // The base case: the subtree is this node. Its hash is omitted when the verifier already knows it (b).
      if (!b) proof.push(subtreeHash(src, lo, hi));
      return;
    }
    const k = splitPoint(hi - lo);
    if (end <= lo + k) {
      // On the left of k: prove consistency with the left child, include the right child.
      sub(s, lo, lo + k, b);
      proof.push(subtreeHash(src, lo + k, hi));
    } else if (lo + k <= s) {
      // On the right of k: prove consistency with the right child, include the left child.
      sub(s, lo + k, hi, b);
      proof.push(subtreeHash(src, lo, lo + k));
    } else {
      // start < k < end, which implies start = lo: continue with [k, end) in the right child, whose root the
      // verifier does not know (b = false), and include the left child.
      sub(lo + k, lo + k, hi, false);
      proof.push(subtreeHash(src, lo, lo + k));
    }
  };
  sub(start, 0, size, true);
  return proof;
}

const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_SIZE;

/**
 * §Verifying a Subtree Consistency Proof, step by step, on BigInt indices (0 <= values < 2^64). Untrusted input:
 * returns false on anything malformed.
 */
export function verifySubtreeConsistencyBig(
  start: bigint,
  end: bigint,
  size: bigint,
  proof: readonly Uint8Array[],
  nodeHash: Uint8Array,
  root: Uint8Array,
): boolean {
  if (typeof start !== 'bigint' || typeof end !== 'bigint' || typeof size !== 'bigint') return false;
  if (!Array.isArray(proof) || !proof.every(isHash) || !isHash(nodeHash) || !isHash(root)) return false;
  // 1. [start, end) is a valid subtree and end <= n.
  if (!isValidSubtreeBig(start, end) || size > U64_MAX || end > size) return false;
  // 2. An empty subtree: the proof is empty and node_hash is HASH() (root_hash is not constrained).
  if (start === end) return proof.length === 0 && EMPTY_ROOT.equals(nodeHash);
  // 3. fn, sn, tn follow the paths to start, end - 1 and n - 1.
  let fn = start;
  let sn = end - 1n;
  let tn = size - 1n;
  // 4. Skip to the starting node: the whole subtree when end = n, or when it is full (fn reaches sn); else the
  // highest full subtree on its right edge (LSB(sn) unset).
  if (sn === tn) {
    while (fn !== sn) {
      fn >>= 1n;
      sn >>= 1n;
      tn >>= 1n;
    }
  } else {
    while (fn !== sn && (sn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
      tn >>= 1n;
    }
  }
  // 5-6. Start from node_hash when the starting node is the subtree itself, else from the proof's first hash.
  let fr: Buffer;
  let sr: Buffer;
  let rest: readonly Uint8Array[] = proof;
  if (fn === sn) {
    fr = Buffer.from(nodeHash);
    sr = fr;
  } else {
    if (proof.length === 0) return false;
    fr = Buffer.from(proof[0]!);
    sr = fr;
    rest = proof.slice(1);
  }
  // 7. Fold in the rest: every hash into sr, and into fr those on the left until fn and sn meet.
  for (const c of rest) {
    if (tn === 0n) return false; // 7.1
    if ((sn & 1n) === 1n || sn === tn) {
      if (fn < sn) fr = hashChildren(c, fr); // 7.2.1
      sr = hashChildren(c, sr); // 7.2.2
      // 7.2.3: until LSB(sn) is set. sn is not 0 here (sn = 0 < tn takes the other branch), so this ends; the
      // guard only makes that plain.
      while ((sn & 1n) === 0n && sn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
        tn >>= 1n;
      }
    } else {
      sr = hashChildren(sr, c); // 7.3
    }
    fn >>= 1n; // 7.4
    sn >>= 1n;
    tn >>= 1n;
  }
  // 8. tn = 0, fr = node_hash, sr = root_hash.
  return tn === 0n && fr.equals(nodeHash) && sr.equals(root);
}

/** §Verifying a Subtree Consistency Proof for safe-integer indices; false for anything else. */
export function verifySubtreeConsistency(
  start: number,
  end: number,
  size: number,
  proof: readonly Uint8Array[],
  nodeHash: Uint8Array,
  root: Uint8Array,
): boolean {
  if (!isSize(start) || !isSize(end) || !isSize(size)) return false;
  return verifySubtreeConsistencyBig(BigInt(start), BigInt(end), BigInt(size), proof, nodeHash, root);
}

/** MTH(D[start:end]) of a valid subtree. */
export function subtreeRoot(src: NodeSource, start: number, end: number): Buffer {
  if (!isValidSubtree(start, end)) throw new RangeError(`[${start}, ${end}) is not a valid subtree`);
  return subtreeHash(src, start, end);
}

/**
 * §Subtree Inclusion Proofs: the RFC 9162 §2.1.3.1 inclusion proof of entry `index` in the tree D[start:end].
 * Throws RangeError unless [start, end) is valid and start <= index < end.
 */
export function subtreeInclusionProof(src: NodeSource, index: number, start: number, end: number): Buffer[] {
  if (!isValidSubtree(start, end) || !isSize(index) || index < start || index >= end) {
    throw new RangeError(`${index} is not in the valid subtree [${start}, ${end})`);
  }
  return inclusionProof(shifted(src, start), index - start, end - start);
}

/**
 * §Evaluating a Subtree Inclusion Proof: the subtree hash the proof leads to from `entryHash`, or undefined when
 * evaluation fails. Untrusted input.
 */
export function evaluateSubtreeInclusion(
  index: number,
  start: number,
  end: number,
  entryHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | undefined {
  // 1. [start, end) is valid and start <= index < end.
  if (!isSize(index) || !isValidSubtree(start, end) || index < start || index >= end) return undefined;
  // 2.–6. "the same as the procedure in Section 2.1.3.2 of RFC 9162, where leaf_index is index - start, tree_size
  // is end - start, and r is returned instead of compared with root_hash".
  return rootFromInclusion(entryHash, index - start, end - start, proof);
}

/** A half-open interval of leaf indices. */
export interface Interval {
  start: number;
  end: number;
}

/**
 * §Selecting Two Subtrees: two adjacent valid subtrees [left.start, mid) and [mid, end) that together cover
 * [start, end), with fewer extra entries before start than half of the left one.
 */
export function coveringSubtrees(start: number, end: number): [Interval, Interval] {
  if (!isSize(start) || !isSize(end) || start > end) throw new RangeError(`[${start}, ${end}) is not an interval`);
  // 1. At most one entry: [start, end) and [end, end).
  if (end - start <= 1) return [{ start, end }, { start: end, end }];
  const s = BigInt(start);
  // 2.1. last = end - 1; 2.2. split = the highest bit where start and last differ.
  const last = BigInt(end - 1);
  const split = BigInt((s ^ last).toString(2).length - 1);
  const mask = (1n << split) - 1n;
  // 2.3. mid = last with its low `split` bits cleared.
  const mid = last & ~mask;
  // 2.4. left_split = 1 + the highest zero bit of start below `split`, or 0 when there is none.
  const zeros = ~s & mask;
  const leftSplit = zeros === 0n ? 0n : BigInt(zeros.toString(2).length);
  // 2.5. left_start = start with its low left_split bits cleared. 2.6. [left_start, mid) and [mid, end).
  const leftStart = s & ~((1n << leftSplit) - 1n);
  return [
    { start: Number(leftStart), end: Number(mid) },
    { start: Number(mid), end },
  ];
}
