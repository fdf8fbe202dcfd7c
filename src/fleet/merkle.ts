/**
 * Merkle trees of RFC 9162 (Certificate Transparency v2) §2.1 with SHA-256, for the witness log.
 *
 * - §2.1.1 Merkle Tree Hash: leaf hash SHA-256(0x00 || d), node hash SHA-256(0x01 || l || r);
 *   the empty tree hashes to SHA-256(""); a list of n > 1 entries splits at k, the largest power
 *   of two smaller than n.
 * - §2.1.3.1 inclusion proof PATH(m, D[n]), §2.1.3.2 its verification (the iterative fn/sn form).
 * - §2.1.4.1 consistency proof PROOF(m, D[n]) = SUBPROOF(m, D[n], true), §2.1.4.2 its verification.
 *
 * The flow: the log appends entries (`MerkleLog.append`) and publishes signed tree heads (size,
 * root); a client holding an entry asks for `getInclusionProof(index, size)` and runs
 * `verifyInclusion` against the root of a tree head it trusts; a client or witness holding an older
 * tree head asks for `getConsistencyProof(first, second)` and runs `verifyConsistency`, which shows
 * the newer tree extends the older one (append-only). Verifiers return nothing and throw
 * `VaultError` ('InclusionProofInvalid' / 'ConsistencyProofInvalid' for a proof that does not
 * prove, 'MalformedMessage' for a hash of the wrong length, 'InvalidParameter' for a size or index
 * that is not a non-negative safe integer).
 *
 * Generation follows the recursive definitions of the RFC over index ranges [lo, hi) of the leaf
 * list. The plain functions recompute subtree hashes from the leaf hashes; `MerkleLog` caches every
 * complete (power-of-two, aligned) subtree as it grows, so a root costs O(log n) hashes and a proof
 * O(log² n), at any earlier size. Sizes and indices are JavaScript numbers: safe integers only, and
 * the verifiers shift with arithmetic, not 32-bit bit operators.
 *
 * Note for callers: the proofs bind hashes and positions, not tree sizes on their own (the proof
 * of leaf 0 in a tree of 3 also passes for size 4 with the same root; PROOF(4, D[6]) also passes as
 * a proof from 4 to 7 with the root of 6). Each size must come from the signed tree head that
 * carries its root.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Bytes, concat, ctEqual, expectBytes } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';

/** Output size of SHA-256: every leaf hash, node hash, root and proof element has this length. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00); // RFC 9162 §2.1.1
const NODE_PREFIX = Uint8Array.of(0x01); // RFC 9162 §2.1.1

/** MTH({d}) = SHA-256(0x00 || d): the leaf hash of one entry (RFC 9162 §2.1.1). */
export function computeLeafHash(entry: Bytes): Bytes {
  expectBytes(entry, undefined, 'entry');
  return sha256(concat(LEAF_PREFIX, entry));
}

/** SHA-256(0x01 || left || right): an interior node (RFC 9162 §2.1.1). */
export function computeNodeHash(left: Bytes, right: Bytes): Bytes {
  return sha256(concat(NODE_PREFIX, left, right));
}

/** MTH({}) = SHA-256() (RFC 9162 §2.1.1). A fresh copy each call. */
export function computeEmptyRoot(): Bytes {
  return sha256(new Uint8Array(0));
}

// ---------------------------------------------------------------------------------------------
// Generation, generic over how the hash of a range of leaves is obtained.
// ---------------------------------------------------------------------------------------------

/** MTH(D[lo:hi]) for 0 < hi - lo; `subtreeHash` is the naive recursion or a cached lookup. */
type SubtreeHash = (lo: number, hi: number) => Bytes;

/** k: the largest power of two smaller than n, for n > 1 (RFC 9162 §2.1.1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[lo:hi]) by the recursion of RFC 9162 §2.1.1, from leaf hashes only. O(hi - lo). */
function computeSubtreeHash(leafHashes: readonly Bytes[], lo: number, hi: number): Bytes {
  if (hi - lo === 1) return leafHashes[lo]!;
  const k = splitPoint(hi - lo);
  return computeNodeHash(computeSubtreeHash(leafHashes, lo, lo + k), computeSubtreeHash(leafHashes, lo + k, hi));
}

/** PATH(m, D[lo:hi]), RFC 9162 §2.1.3.1; `m` is relative to `lo`. Leaf-to-root order. */
function computePath(m: number, lo: number, hi: number, subtreeHash: SubtreeHash): Bytes[] {
  const n = hi - lo;
  if (n === 1) return []; // PATH(0, {d(0)}) = {}
  const k = splitPoint(n);
  // m < k:  PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
  if (m < k) return [...computePath(m, lo, lo + k, subtreeHash), subtreeHash(lo + k, hi)];
  // m >= k: PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
  return [...computePath(m - k, lo + k, hi, subtreeHash), subtreeHash(lo, lo + k)];
}

/** SUBPROOF(m, D[lo:hi], b), RFC 9162 §2.1.4.1; `m` is relative to `lo`, 0 < m <= hi - lo. */
function computeSubproof(m: number, lo: number, hi: number, b: boolean, subtreeHash: SubtreeHash): Bytes[] {
  const n = hi - lo;
  if (m === n) return b ? [] : [subtreeHash(lo, hi)]; // SUBPROOF(m, D[m], true) = {}; (…, false) = {MTH(D[m])}
  const k = splitPoint(n);
  // m <= k: SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
  if (m <= k) return [...computeSubproof(m, lo, lo + k, b, subtreeHash), subtreeHash(lo + k, hi)];
  // m > k:  SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
  return [...computeSubproof(m - k, lo + k, hi, false, subtreeHash), subtreeHash(lo, lo + k)];
}

/**
 * PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1) for 0 < m <= n. For m == n it is
 * empty. For m == 0 it is empty too (outside the RFC, which defines 0 < m: every tree extends the
 * empty tree, and `verifyConsistency` accepts that only with the empty tree's root).
 */
function computeProof(m: number, n: number, subtreeHash: SubtreeHash): Bytes[] {
  if (m === 0 || m === n) return [];
  return computeSubproof(m, 0, n, true, subtreeHash);
}

// ---------------------------------------------------------------------------------------------
// Argument checks at the boundary.
// ---------------------------------------------------------------------------------------------

function expectCount(x: unknown, name: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    throw new VaultError('InvalidParameter', `"${name}" expected a non-negative safe integer, got ${String(x)}`);
  }
  return x;
}

function expectHash(x: unknown, name: string): Bytes {
  return expectBytes(x, HASH_SIZE, name);
}

function expectHashList(x: unknown, name: string): readonly Bytes[] {
  if (!Array.isArray(x))
    throw new VaultError('InvalidParameter', `"${name}" expected an array of hashes, got ${typeof x}`);
  x.forEach((h, j) => expectHash(h, `${name}[${j}]`));
  return x as readonly Bytes[];
}

function copyAll(hashes: readonly Bytes[]): Bytes[] {
  return hashes.map((h) => h.slice());
}

// ---------------------------------------------------------------------------------------------
// Plain functions over a list of leaf hashes (each MTH({d(i)})).
// ---------------------------------------------------------------------------------------------

/** MTH(D[0:size]) from the leaf hashes (RFC 9162 §2.1.1). `size` defaults to all of them. */
export function computeRoot(leafHashes: readonly Bytes[], size: number = leafHashes.length): Bytes {
  checkLeafList(leafHashes, size);
  return size === 0 ? computeEmptyRoot() : computeSubtreeHash(leafHashes, 0, size).slice();
}

/** PATH(index, D[0:size]) (RFC 9162 §2.1.3.1); needs index < size <= leafHashes.length. */
export function computeInclusionProof(
  leafHashes: readonly Bytes[],
  index: number,
  size: number = leafHashes.length,
): Bytes[] {
  checkLeafList(leafHashes, size);
  checkIndex(index, size);
  return copyAll(computePath(index, 0, size, (lo, hi) => computeSubtreeHash(leafHashes, lo, hi)));
}

/** PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1); needs first <= second <= leafHashes.length. */
export function computeConsistencyProof(
  leafHashes: readonly Bytes[],
  first: number,
  second: number = leafHashes.length,
): Bytes[] {
  checkLeafList(leafHashes, second);
  checkSizes(first, second);
  return copyAll(computeProof(first, second, (lo, hi) => computeSubtreeHash(leafHashes, lo, hi)));
}

function checkLeafList(leafHashes: readonly Bytes[], size: number): void {
  expectHashList(leafHashes, 'leafHashes');
  expectCount(size, 'size');
  if (size > leafHashes.length)
    throw new VaultError(
      'InvalidParameter',
      `"size" expected at most ${leafHashes.length} (the leaves given), got ${size}`,
    );
}

function checkIndex(index: number, size: number): void {
  expectCount(index, 'index');
  if (index >= size)
    throw new VaultError('InvalidParameter', `"index" expected below the tree size ${size}, got ${index}`);
}

function checkSizes(first: number, second: number): void {
  expectCount(first, 'first');
  if (first > second)
    throw new VaultError('InvalidParameter', `"first" expected at most "second" (${second}), got ${first}`);
}

// ---------------------------------------------------------------------------------------------
// The append-only log.
// ---------------------------------------------------------------------------------------------

/**
 * An append-only list of entries and its Merkle tree at every size it has had.
 *
 * `levels[h][j]` is MTH of the complete subtree of 2^h leaves starting at leaf j·2^h; it exists
 * once the log holds (j + 1)·2^h leaves and never changes after. Every left child in the RFC's
 * recursion is such a subtree, so only the right spine of a tree is hashed on demand.
 */
export class MerkleLog {
  private readonly levels: Bytes[][] = [[]];

  /** The number of entries appended so far. */
  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends an entry (hashed as a leaf, RFC 9162 §2.1.1); returns its index. */
  append(entry: Bytes): number {
    return this.appendLeafHash(computeLeafHash(entry));
  }

  /** Appends an already computed leaf hash MTH({d}); returns its index. */
  appendLeafHash(leafHash: Bytes): number {
    const index = this.size;
    let node: Bytes = expectHash(leafHash, 'leafHash').slice();
    // Push at level 0; whenever a level gets an even count, its last two nodes complete a parent.
    for (let h = 0; ; h++) {
      const level = (this.levels[h] ??= []);
      level.push(node);
      if (level.length % 2 === 1) break;
      node = computeNodeHash(level[level.length - 2]!, node);
    }
    return index;
  }

  /** The leaf hash MTH({d(index)}). */
  getLeafHash(index: number): Bytes {
    checkIndex(index, this.size);
    return this.levels[0]![index]!.slice();
  }

  /** MTH(D[0:size]) (RFC 9162 §2.1.1): the root the log had at `size` (default: now). */
  getRoot(size: number = this.size): Bytes {
    this.checkSize(size);
    return size === 0 ? computeEmptyRoot() : this.getSubtreeHash(0, size).slice();
  }

  /** PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf-to-root order. */
  getInclusionProof(index: number, size: number = this.size): Bytes[] {
    this.checkSize(size);
    checkIndex(index, size);
    return copyAll(computePath(index, 0, size, (lo, hi) => this.getSubtreeHash(lo, hi)));
  }

  /** PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1); empty when first == second or first == 0. */
  getConsistencyProof(first: number, second: number = this.size): Bytes[] {
    this.checkSize(second);
    checkSizes(first, second);
    return copyAll(computeProof(first, second, (lo, hi) => this.getSubtreeHash(lo, hi)));
  }

  private checkSize(size: number): void {
    expectCount(size, 'size');
    if (size > this.size)
      throw new VaultError('InvalidParameter', `"size" expected at most the log size ${this.size}, got ${size}`);
  }

  /** MTH(D[lo:hi]) for 0 < hi - lo, from the cache when [lo, hi) is a complete aligned subtree. */
  private getSubtreeHash(lo: number, hi: number): Bytes {
    const n = hi - lo;
    const k = splitPoint(n);
    if (n === 1 || (k * 2 === n && lo % n === 0)) {
      const h = n === 1 ? 0 : Math.round(Math.log2(n)); // exact for powers of two
      return this.levels[h]![lo / n]!;
    }
    return computeNodeHash(this.getSubtreeHash(lo, lo + k), this.getSubtreeHash(lo + k, hi));
  }
}

// ---------------------------------------------------------------------------------------------
// Verification.
// ---------------------------------------------------------------------------------------------

const isOdd = (x: number): boolean => x % 2 === 1; // LSB(x) set
const half = (x: number): number => Math.floor(x / 2); // x >> 1, for all safe integers

function isPowerOfTwo(x: number): boolean {
  while (x > 1 && x % 2 === 0) x /= 2;
  return x === 1;
}

/**
 * Verifies that `leafHash` is the leaf at `index` of the tree of `size` leaves whose root is
 * `root`, with the inclusion proof `proof` (RFC 9162 §2.1.3.2). Throws 'InclusionProofInvalid'.
 */
export function verifyInclusion(
  leafHash: Bytes,
  index: number,
  size: number,
  proof: readonly Bytes[],
  root: Bytes,
): void {
  expectHash(leafHash, 'leafHash');
  expectCount(index, 'index');
  expectCount(size, 'size');
  expectHashList(proof, 'proof');
  expectHash(root, 'root');
  const fail = (why: string) => new VaultError('InclusionProofInvalid', `leaf ${index} of tree size ${size}: ${why}`);
  // 1. If leaf_index >= tree_size, fail.
  if (index >= size) throw fail('index is not below the tree size');
  // 2. Set fn to leaf_index and sn to tree_size - 1.
  let fn = index;
  let sn = size - 1;
  // 3. Set r to hash.
  let r = leafHash;
  // 4. For each value p in inclusion_path:
  for (const p of proof) {
    // a. If sn is 0, stop the iteration and fail.
    if (sn === 0) throw fail(`proof is longer than the path (${proof.length} elements)`);
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (isOdd(fn) || fn === sn) {
      // i. Set r to HASH(0x01 || p || r).
      r = computeNodeHash(p, r);
      // ii. If LSB(fn) is not set, right-shift fn and sn equally until either LSB(fn) is set or fn is 0.
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      // Otherwise: i. Set r to HASH(0x01 || r || p).
      r = computeNodeHash(r, p);
    }
    // c. Right-shift both fn and sn one time.
    fn = half(fn);
    sn = half(sn);
  }
  // 5. If sn is 0 and r equals root_hash, inclusion is proven; otherwise fail.
  if (sn !== 0) throw fail(`proof is shorter than the path (${proof.length} elements)`);
  if (!ctEqual(r, root)) throw fail('recomputed root differs from the given root');
}

/**
 * Verifies that the tree of `second` leaves with root `secondRoot` extends the tree of `first`
 * leaves with root `firstRoot`, with the consistency proof `proof` (RFC 9162 §2.1.4.2). Throws
 * 'ConsistencyProofInvalid', also when first > second.
 *
 * Before the RFC's steps, the two cases it leaves out: first == second holds only with an empty
 * proof and equal roots; first == 0 holds only with an empty proof and the empty tree's root.
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Bytes[],
  firstRoot: Bytes,
  secondRoot: Bytes,
): void {
  expectCount(first, 'first');
  expectCount(second, 'second');
  expectHashList(proof, 'proof');
  expectHash(firstRoot, 'firstRoot');
  expectHash(secondRoot, 'secondRoot');
  const fail = (why: string) => new VaultError('ConsistencyProofInvalid', `tree sizes ${first} to ${second}: ${why}`);
  if (first > second) throw fail('the first tree is larger than the second');
  if (first === second) {
    if (proof.length !== 0) throw fail(`equal sizes take an empty proof, got ${proof.length} elements`);
    if (!ctEqual(firstRoot, secondRoot)) throw fail('equal sizes with different roots');
    return;
  }
  if (first === 0) {
    if (proof.length !== 0) throw fail(`the empty tree takes an empty proof, got ${proof.length} elements`);
    if (!ctEqual(firstRoot, computeEmptyRoot())) throw fail('first root is not the empty tree hash');
    return;
  }
  // 1. If consistency_path is an empty array, stop and fail.
  if (proof.length === 0) throw fail('empty proof');
  // 2. If first is an exact power of 2, prepend first_hash to the consistency_path array.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof;
  // 3. Set fn to first - 1 and sn to second - 1.
  let fn = first - 1;
  let sn = second - 1;
  // 4. If LSB(fn) is set, right-shift both fn and sn equally until LSB(fn) is not set.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. Set both fr and sr to the first value in the consistency_path array.
  let fr = path[0]!;
  let sr = path[0]!;
  // 6. For each subsequent value c in the consistency_path array:
  for (const c of path.slice(1)) {
    // a. If sn is 0, stop the iteration and fail.
    if (sn === 0) throw fail(`proof is longer than the paths (${proof.length} elements)`);
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (isOdd(fn) || fn === sn) {
      // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
      fr = computeNodeHash(c, fr);
      sr = computeNodeHash(c, sr);
      // ii. If LSB(fn) is not set, right-shift fn and sn equally until either LSB(fn) is set or fn is 0.
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      // Otherwise: i. Set sr to HASH(0x01 || sr || c).
      sr = computeNodeHash(sr, c);
    }
    // c. Right-shift both fn and sn one time.
    fn = half(fn);
    sn = half(sn);
  }
  // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
  if (sn !== 0) throw fail(`proof is shorter than the paths (${proof.length} elements)`);
  if (!ctEqual(fr, firstRoot)) throw fail('recomputed first root differs from the given one');
  if (!ctEqual(sr, secondRoot)) throw fail('recomputed second root differs from the given one');
}
