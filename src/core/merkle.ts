/**
 * RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree hashing, proofs and their verification.
 *
 * Hashes are 32-byte Buffers. Proof verifiers take attacker-controlled values: they check every length and
 * bound themselves and return false rather than throw.
 */
import * as crypto from 'node:crypto';

const { createHash } = crypto;

export const HASH_SIZE = 32;

/** MTH({}) = SHA-256() (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

// crypto.hash (Node ≥ 20.12) hashes in one call, without a Hash object per message: verify hashes millions of
// small messages, so it matters. The prefixed message is assembled in a reused scratch buffer.
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
const scratch = Buffer.alloc(1 << 17);

/** SHA-256 of a message assembled by the caller (e.g. 0x00 ‖ d read as one value from the store). */
export function hashMessage(message: Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', message, 'buffer') : createHash('sha256').update(message).digest();
}

/** MTH({d}) = SHA-256(0x00 ‖ d). */
export function hashLeaf(data: Uint8Array): Buffer {
  if (oneShot && data.length < scratch.length) {
    scratch[0] = 0x00;
    scratch.set(data, 1);
    return oneShot('sha256', scratch.subarray(0, data.length + 1), 'buffer');
  }
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

// Interior nodes hash a message of one fixed size, assembled in a buffer of exactly that size: no view to make per
// call, which is a sizeable part of a node hash, and verify makes one per entry.
const nodeMessage = Buffer.alloc(1 + 2 * HASH_SIZE, 0x01);

/** SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  if (oneShot && left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeMessage.set(left, 1);
    nodeMessage.set(right, 1 + HASH_SIZE);
    return oneShot('sha256', nodeMessage, 'buffer');
  }
  if (oneShot && left.length + right.length < scratch.length) {
    scratch[0] = 0x01;
    scratch.set(left, 1);
    scratch.set(right, 1 + left.length);
    return oneShot('sha256', scratch.subarray(0, 1 + left.length + right.length), 'buffer');
  }
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The split point k for n > 1 leaves: the largest power of two smaller than n (RFC 9162 §2.1.1). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  if (n <= 0) return false;
  // JS bit operators work on 32 bits; larger sizes take the BigInt path.
  if (n < 2 ** 31) return (n & (n - 1)) === 0;
  const b = BigInt(n);
  return (b & (b - 1n)) === 0n;
}

/**
 * A source of subtree hashes: `perfect(level, index)` returns the hash of the perfect subtree of 2^level leaves
 * starting at leaf index·2^level. Stores keep these nodes so that roots and proofs cost O(log n) reads.
 */
export interface NodeSource {
  perfect(level: number, index: number): Buffer;
}

/** MTH(D[start:end]) from perfect subtrees: at most 2·log2(n) node reads. */
export function subtreeHash(src: NodeSource, start: number, end: number): Buffer {
  const n = end - start;
  if (n <= 0) return EMPTY_ROOT;
  if (isPowerOfTwo(n) && start % n === 0) return src.perfect(Math.log2(n), start / n);
  const k = splitPoint(n);
  return hashChildren(subtreeHash(src, start, start + k), subtreeHash(src, start + k, end));
}

/** The root of the tree of the first `size` leaves. */
export function rootAt(src: NodeSource, size: number): Buffer {
  return subtreeHash(src, 0, size);
}

/** PATH(m, D[start:end]) of RFC 9162 §2.1.3.1: the inclusion proof of leaf m, the leaf's sibling first. */
export function inclusionProof(src: NodeSource, index: number, size: number): Buffer[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`index ${index} is not below size ${size}`);
  const path: Buffer[] = [];
  const walk = (m: number, start: number, end: number): void => {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, start, start + k);
      path.push(subtreeHash(src, start + k, end));
    } else {
      walk(m - k, start + k, end);
      path.push(subtreeHash(src, start, start + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** PROOF(m, D[n]) of RFC 9162 §2.1.4.1: the consistency proof between sizes `size1` and `size2`. */
export function consistencyProof(src: NodeSource, size1: number, size2: number): Buffer[] {
  if (!(size1 >= 0 && size1 <= size2)) throw new RangeError(`sizes ${size1} and ${size2} are not in order`);
  if (size1 === 0 || size1 === size2) return [];
  const path: Buffer[] = [];
  const sub = (m: number, start: number, end: number, b: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!b) path.push(subtreeHash(src, start, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, start, start + k, b);
      path.push(subtreeHash(src, start + k, end));
    } else {
      sub(m - k, start + k, end, false);
      path.push(subtreeHash(src, start, start + k));
    }
  };
  sub(size1, 0, size2, true);
  return path;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function validSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Inclusion proof verification, RFC 9162 §2.1.3.2, step by step. Untrusted input: returns false on anything
 * malformed.
 */
export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isHash(root)) return false;
  // 5. … and r must equal the root.
  return rootFromInclusion(leafHash, index, size, proof)?.equals(root) ?? false;
}

/**
 * RFC 9162 §2.1.3.2 steps 1–5 without the final comparison: the root the inclusion path leads to from `leafHash`,
 * or undefined when the path is malformed. draft-ietf-plants-merkle-tree-certs evaluates subtree inclusion proofs
 * with the same procedure (core/subtree.ts).
 */
export function rootFromInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Buffer | undefined {
  if (!isHash(leafHash) || !validSize(index) || !validSize(size)) return undefined;
  if (!Array.isArray(proof) || !proof.every(isHash)) return undefined;
  // 1. leaf_index must be below tree_size.
  if (index >= size) return undefined;
  // 2. fn = leaf_index, sn = tree_size - 1 (BigInt: sizes may exceed 2^31, where JS bit operators break).
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  // 3. r = hash.
  let r: Buffer = Buffer.from(leafHash);
  // 4. for each p in inclusion_path:
  for (const p of proof) {
    if (sn === 0n) return undefined; // 4a
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r); // 4b
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = hashChildren(r, p); // 4b, otherwise
    }
    fn >>= 1n; // 4c
    sn >>= 1n;
  }
  // 5. sn must be 0.
  return sn === 0n ? r : undefined;
}

/**
 * Consistency proof verification, RFC 9162 §2.1.4.2, with the edge cases (equal sizes, size 0) handled as
 * transparency-dev/merkle's vectors require.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!validSize(size1) || !validSize(size2) || !Array.isArray(proof)) return false;
  if (size2 < size1) return false;
  if (size1 === size2) {
    // Equal sizes: consistent exactly when the roots are the same bytes and the proof is empty (transparency-dev
    // compares the bytes as given). The empty tree has one root only, MTH({}) (RFC 9162 §2.1.1).
    if (proof.length !== 0 || !(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) return false;
    if (!Buffer.from(root1).equals(root2)) return false;
    return size1 > 0 || EMPTY_ROOT.equals(root1);
  }
  if (!isHash(root1) || !isHash(root2) || !proof.every(isHash)) return false;
  if (size1 === 0) return proof.length === 0; // every tree extends the empty one
  // 1. an empty path fails.
  if (proof.length === 0) return false;
  // 2. if first_size is a power of two, prepend first_hash.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  // 3. fn = first_size - 1, sn = second_size - 1.
  let fn = BigInt(size1 - 1);
  let sn = BigInt(size2 - 1);
  // 4. while LSB(fn) is set, right-shift both.
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. fr = sr = c[0].
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  // 6. for each subsequent c:
  for (const c of path.slice(1)) {
    if (sn === 0n) return false; // 6a
    if ((fn & 1n) === 1n || fn === sn) {
      fr = hashChildren(c, fr); // 6b
      sr = hashChildren(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = hashChildren(sr, c); // 6b, otherwise
    }
    fn >>= 1n; // 6c
    sn >>= 1n;
  }
  // 7. fr = first_hash, sr = second_hash, sn = 0.
  return sn === 0n && fr.equals(root1) && sr.equals(root2);
}

/**
 * A compact range over leaves [start, size): the roots of the perfect subtrees in the binary decomposition of the
 * range, largest first. Appending is amortised O(1); the root is O(log n). `start` must be a multiple of every
 * subtree width the range will hold (0 for a whole log; a block boundary when a log is scanned in blocks).
 */
export class Frontier {
  private readonly levels: number[] = [];
  private readonly hashes: Buffer[] = [];
  size: number;

  constructor(start = 0) {
    this.size = start;
  }

  /** Adds a leaf hash; calls `onNode(level, index, hash)` for each perfect subtree it completes (level ≥ 1). */
  push(leafHash: Buffer, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    this.pushSubtree(0, leafHash, onNode);
  }

  /** Adds the root of a perfect subtree of 2^level leaves; `size` must be a multiple of 2^level. */
  pushSubtree(level: number, subtreeHash: Buffer, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    const width = 2 ** level;
    if (this.size % width !== 0) throw new RangeError(`a subtree of ${width} leaves cannot start at ${this.size}`);
    const first = this.size;
    let hash = subtreeHash;
    while (this.levels.length > 0 && this.levels[this.levels.length - 1] === level) {
      this.levels.pop();
      hash = hashChildren(this.hashes.pop()!, hash);
      level++;
      onNode?.(level, Math.floor(first / 2 ** level), hash);
    }
    this.levels.push(level);
    this.hashes.push(hash);
    this.size += width;
  }

  /** The perfect subtree roots, largest first. */
  parts(): Buffer[] {
    return [...this.hashes];
  }

  root(): Buffer {
    return foldParts(this.hashes);
  }

  /** Rebuilds a frontier at `size` from a node source (O(log n) reads). */
  static at(src: NodeSource, size: number): Frontier {
    const f = new Frontier();
    let start = 0;
    for (let level = Math.floor(Math.log2(Math.max(size, 1))); level >= 0; level--) {
      const width = 2 ** level;
      if (size - start >= width) {
        f.levels.push(level);
        f.hashes.push(src.perfect(level, start / width));
        start += width;
      }
    }
    f.size = size;
    return f;
  }
}

/** The root over consecutive perfect subtrees, largest (leftmost) first: RFC 9162's MTH folded from the right. */
export function foldParts(parts: readonly Buffer[]): Buffer {
  if (parts.length === 0) return EMPTY_ROOT;
  let r = parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) r = hashChildren(parts[i]!, r);
  return r;
}
