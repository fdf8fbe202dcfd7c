/**
 * RFC 9162 §2.1 Merkle trees (src/fleet/merkle.ts): the RFC's worked example (§2.1.5), the edge
 * cases of the verification algorithms, the Certificate Transparency reference roots and proofs,
 * known answers from an oracle, then properties over every tree size and index, each also run
 * against deliberately broken verifiers to show it can fail.
 *
 * The oracle below is the RFC's recursive definitions of MTH, PATH, PROOF and SUBPROOF copied
 * over lists of entries (array slices, no caching) with node:crypto's SHA-256, so it shares no code
 * with the implementation, not even the hash function.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { type Bytes, concat, fromHex, toHex, utf8 } from '../src/crypto/bytes.ts';
import { type ErrorCode, isVaultError } from '../src/errors.ts';
import {
  computeConsistencyProof,
  computeEmptyRoot,
  computeInclusionProof,
  computeLeafHash,
  computeNodeHash,
  computeRoot,
  HASH_SIZE,
  MerkleLog,
  verifyConsistency,
  verifyInclusion,
} from '../src/fleet/merkle.ts';

// =============================================================================================
// The oracle: RFC 9162 §2.1, written down from the text.
// =============================================================================================

/** HASH(a || b || ...) with node:crypto's SHA-256. */
function HASH(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
const ZERO = Uint8Array.of(0x00);
const ONE = Uint8Array.of(0x01);

/** "k is the largest power of two smaller than n (i.e., k < n <= 2k)" (§2.1.1) */
function kFor(n: number): number {
  let k = 1;
  while (2 * k < n) k *= 2;
  return k;
}

const oracle = {
  /**
   * §2.1.1: MTH({}) = HASH(); MTH({d(0)}) = HASH(0x00 || d(0));
   * MTH(D_n) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
   */
  MTH(D: readonly Uint8Array[]): Uint8Array {
    const n = D.length;
    if (n === 0) return HASH();
    if (n === 1) return HASH(ZERO, D[0]!);
    const k = kFor(n);
    return HASH(ONE, oracle.MTH(D.slice(0, k)), oracle.MTH(D.slice(k, n)));
  },
  /**
   * §2.1.3.1: PATH(0, {d(0)}) = {}; m < k: PATH(m, D[0:k]) : MTH(D[k:n]);
   * m >= k: PATH(m - k, D[k:n]) : MTH(D[0:k]).
   */
  PATH(m: number, D: readonly Uint8Array[]): Uint8Array[] {
    const n = D.length;
    if (n === 1 && m === 0) return [];
    const k = kFor(n);
    if (m < k) return [...oracle.PATH(m, D.slice(0, k)), oracle.MTH(D.slice(k, n))];
    return [...oracle.PATH(m - k, D.slice(k, n)), oracle.MTH(D.slice(0, k))];
  },
  /** §2.1.4.1: PROOF(m, D_n) = SUBPROOF(m, D_n, true). */
  PROOF(m: number, D: readonly Uint8Array[]): Uint8Array[] {
    return oracle.SUBPROOF(m, D, true);
  },
  /**
   * §2.1.4.1: SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}; for m < n:
   * m <= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n]); m > k: SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
   */
  SUBPROOF(m: number, D: readonly Uint8Array[], b: boolean): Uint8Array[] {
    const n = D.length;
    if (m === n) return b ? [] : [oracle.MTH(D)];
    const k = kFor(n);
    if (m <= k) return [...oracle.SUBPROOF(m, D.slice(0, k), b), oracle.MTH(D.slice(k, n))];
    return [...oracle.SUBPROOF(m - k, D.slice(k, n), false), oracle.MTH(D.slice(0, k))];
  },
};

/**
 * §2.1.3.2 and §2.1.4.2 transcribed again, returning a boolean, with optional mutations: the
 * unmutated copy passes the same properties as the implementation, each mutant must not.
 */
type InclusionMutation = 'none' | 'ignoresLastElement' | 'emptyProofShortcut';
type ConsistencyMutation = 'none' | 'ignoresLastElement' | 'skipsFirstRootCheck';
const LSB = (x: number) => x % 2 === 1;
const SHR = (x: number) => Math.floor(x / 2);
const same = (a: Uint8Array, b: Uint8Array) => toHex(a) === toHex(b);

function oracleVerifyInclusion(mutation: InclusionMutation): InclusionVerifier {
  return (hash, leafIndex, treeSize, inclusionPath, rootHash) => {
    if (mutation === 'emptyProofShortcut' && inclusionPath.length === 0) return true; // BUG: no leaf == root check
    const path = mutation === 'ignoresLastElement' ? inclusionPath.slice(0, -1) : inclusionPath; // BUG
    if (leafIndex >= treeSize) return false;
    let fn = leafIndex;
    let sn = treeSize - 1;
    let r = hash;
    for (const p of path) {
      if (sn === 0) return false;
      if (LSB(fn) || fn === sn) {
        r = HASH(ONE, p, r);
        while (!LSB(fn) && fn !== 0) [fn, sn] = [SHR(fn), SHR(sn)];
      } else {
        r = HASH(ONE, r, p);
      }
      [fn, sn] = [SHR(fn), SHR(sn)];
    }
    return sn === 0 && same(r, rootHash);
  };
}

function oracleVerifyConsistency(mutation: ConsistencyMutation): ConsistencyVerifier {
  return (first, second, consistencyPath, firstHash, secondHash) => {
    if (first === second) return consistencyPath.length === 0 && same(firstHash, secondHash);
    let path = mutation === 'ignoresLastElement' ? consistencyPath.slice(0, -1) : consistencyPath; // BUG
    if (path.length === 0) return false;
    if (Number.isInteger(Math.log2(first))) path = [firstHash, ...path];
    let fn = first - 1;
    let sn = second - 1;
    while (LSB(fn)) [fn, sn] = [SHR(fn), SHR(sn)];
    let fr = path[0]!;
    let sr = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (LSB(fn) || fn === sn) {
        fr = HASH(ONE, c, fr);
        sr = HASH(ONE, c, sr);
        while (!LSB(fn) && fn !== 0) [fn, sn] = [SHR(fn), SHR(sn)];
      } else {
        sr = HASH(ONE, sr, c);
      }
      [fn, sn] = [SHR(fn), SHR(sn)];
    }
    const firstOk = mutation === 'skipsFirstRootCheck' || same(fr, firstHash); // BUG when skipped
    return firstOk && same(sr, secondHash) && sn === 0;
  };
}

// =============================================================================================
// Helpers.
// =============================================================================================

type InclusionVerifier = (
  leafHash: Bytes,
  index: number,
  size: number,
  proof: readonly Bytes[],
  root: Bytes,
) => boolean;
type ConsistencyVerifier = (
  first: number,
  second: number,
  proof: readonly Bytes[],
  firstRoot: Bytes,
  secondRoot: Bytes,
) => boolean;

/** Runs `f`; true if it returns, false if it throws VaultError(code); anything else is rethrown. */
function accepts(code: ErrorCode, f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (isVaultError(e, code)) return false;
    throw e;
  }
}
const implVerifyInclusion: InclusionVerifier = (...a) => accepts('InclusionProofInvalid', () => verifyInclusion(...a));
const implVerifyConsistency: ConsistencyVerifier = (...a) =>
  accepts('ConsistencyProofInvalid', () => verifyConsistency(...a));

function expectCode(code: ErrorCode, f: () => unknown): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(isVaultError(caught, code), `expected VaultError ${code}, got ${String(caught)}`).toBe(true);
}

const hexes = (hs: readonly Uint8Array[]) => hs.map((h) => toHex(h));
const without = <T>(xs: readonly T[], j: number): T[] => xs.filter((_, x) => x !== j);

function flipBit(h: Uint8Array, bit: number): Uint8Array {
  const out = h.slice();
  out[(bit >> 3) % out.length]! ^= 1 << (bit & 7);
  return out;
}

/** Distinct entries, so distinct leaf hashes: entry i is the 4 bytes of i followed by "entry". */
function entry(i: number): Uint8Array {
  return concat(Uint8Array.of(i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255), utf8('entry'));
}

function logOf(entries: readonly Uint8Array[]): MerkleLog {
  const log = new MerkleLog();
  for (const e of entries) log.append(e);
  return log;
}

// The tree every property runs over, and the oracle's roots at each of its sizes.
const N = 64;
const ENTRIES = Array.from({ length: N }, (_, i) => entry(i));
const LOG = logOf(ENTRIES);
const ORACLE_ROOTS = Array.from({ length: N + 1 }, (_, n) => oracle.MTH(ENTRIES.slice(0, n)));
const LEAF_HASHES = ENTRIES.map((e) => oracle.MTH([e]));

// =============================================================================================
// The worked example of RFC 9162 §2.1.5.
// =============================================================================================

describe('RFC 9162 §2.1.5 worked example: seven entries d0..d6', () => {
  //             hash
  //            /    \
  //           k      l
  //          / \    / \
  //         g   h  i   j
  //        / \ / \/ \  |
  //        a b c d e f d6
  //        | | | | | |
  //       d0 d1 d2 d3 d4 d5
  const d = Array.from({ length: 7 }, (_, i) => utf8(`d${i}`));
  const [a, b, c, dd, e, f, j] = d.map((x) => HASH(ZERO, x)) as [Bytes, Bytes, Bytes, Bytes, Bytes, Bytes, Bytes];
  const g = HASH(ONE, a, b);
  const h = HASH(ONE, c, dd);
  const i = HASH(ONE, e, f);
  const k = HASH(ONE, g, h);
  const l = HASH(ONE, i, j);
  const hash = HASH(ONE, k, l);
  const hash0 = HASH(ONE, g, c); // the tree of d0..d2
  const hash1 = k; // the tree of d0..d3
  const hash2 = HASH(ONE, k, i); // the tree of d0..d5
  const log = logOf(d);

  test('the roots at sizes 3, 4, 6 and 7', () => {
    expect(toHex(log.getRoot())).toBe(toHex(hash));
    expect(toHex(log.getRoot(3))).toBe(toHex(hash0));
    expect(toHex(log.getRoot(4))).toBe(toHex(hash1));
    expect(toHex(log.getRoot(6))).toBe(toHex(hash2));
    expect(log.size).toBe(7);
  });

  test('inclusion proofs: d0 [b, h, l], d3 [c, g, l], d4 [f, j, k], d6 [i, k]', () => {
    const cases: [number, Bytes[]][] = [
      [0, [b, h, l]],
      [3, [c, g, l]],
      [4, [f, j, k]],
      [6, [i, k]],
    ];
    for (const [index, path] of cases) {
      expect(hexes(log.getInclusionProof(index))).toEqual(hexes(path));
      verifyInclusion(log.getLeafHash(index), index, 7, path, hash);
    }
  });

  test('consistency proofs: PROOF(3, D[7]) = [c, d, g, l], PROOF(4, D[7]) = [l], PROOF(6, D[7]) = [i, j, k]', () => {
    const cases: [number, Bytes, Bytes[]][] = [
      [3, hash0, [c, dd, g, l]],
      [4, hash1, [l]], // 4 is a power of two: hash1 = k itself is not sent (§2.1.4.2 step 2 prepends it)
      [6, hash2, [i, j, k]],
    ];
    for (const [m, root, proof] of cases) {
      expect(hexes(log.getConsistencyProof(m, 7))).toEqual(hexes(proof));
      verifyConsistency(m, 7, proof, root, hash);
    }
  });
});

// =============================================================================================
// Edge cases.
// =============================================================================================

describe('edge cases', () => {
  test('§2.1.1: the empty tree hashes to SHA-256 of the empty string', () => {
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(toHex(computeEmptyRoot())).toBe(empty);
    expect(toHex(computeRoot([]))).toBe(empty);
    expect(toHex(new MerkleLog().getRoot())).toBe(empty);
    expect(toHex(LOG.getRoot(0))).toBe(empty);
  });

  test('§2.1.1: leaves and nodes are hashed with distinct prefixes (a node is never a leaf)', () => {
    const [x, y] = [LEAF_HASHES[0]!, LEAF_HASHES[1]!];
    expect(toHex(computeLeafHash(ENTRIES[0]!))).toBe(toHex(HASH(ZERO, ENTRIES[0]!)));
    expect(toHex(computeNodeHash(x, y))).toBe(toHex(HASH(ONE, x, y)));
    // the 64-byte entry x || y is a different leaf from the node (x, y)
    expect(toHex(computeLeafHash(concat(x, y)))).not.toBe(toHex(computeNodeHash(x, y)));
    expect(HASH_SIZE).toBe(32);
  });

  test('a tree of one leaf: the root is the leaf hash and the proof is empty', () => {
    const log = logOf([ENTRIES[0]!]);
    expect(log.getInclusionProof(0)).toEqual([]);
    expect(toHex(log.getRoot())).toBe(toHex(LEAF_HASHES[0]!));
    verifyInclusion(LEAF_HASHES[0]!, 0, 1, [], LEAF_HASHES[0]!);
    expectCode('InclusionProofInvalid', () => verifyInclusion(LEAF_HASHES[1]!, 0, 1, [], LEAF_HASHES[0]!));
    // §2.1.3.2 step 4a: sn is already 0, so any proof element fails
    expectCode('InclusionProofInvalid', () =>
      verifyInclusion(LEAF_HASHES[0]!, 0, 1, [LEAF_HASHES[1]!], LEAF_HASHES[0]!),
    );
  });

  test('§2.1.3.2 step 1: leaf_index >= tree_size fails, also for the empty tree', () => {
    const proof = LOG.getInclusionProof(4, 5);
    expectCode('InclusionProofInvalid', () => verifyInclusion(LEAF_HASHES[4]!, 5, 5, proof, ORACLE_ROOTS[5]!));
    expectCode('InclusionProofInvalid', () => verifyInclusion(LEAF_HASHES[4]!, 9, 5, proof, ORACLE_ROOTS[5]!));
    expectCode('InclusionProofInvalid', () => verifyInclusion(LEAF_HASHES[0]!, 0, 0, [], ORACLE_ROOTS[0]!));
  });

  test('§2.1.3.2 step 4b: the last leaf of a short right edge (fn == sn) hashes on the right and skips levels', () => {
    // size 5, leaf 4: PATH = [MTH(D[0:4])]; size 7, leaf 6: PATH = [MTH(D[4:6]), MTH(D[0:4])]
    expect(hexes(LOG.getInclusionProof(4, 5))).toEqual(hexes([ORACLE_ROOTS[4]!]));
    verifyInclusion(LEAF_HASHES[4]!, 4, 5, [ORACLE_ROOTS[4]!], ORACLE_ROOTS[5]!);
    expect(hexes(LOG.getInclusionProof(6, 7))).toEqual(hexes([oracle.MTH(ENTRIES.slice(4, 6)), ORACLE_ROOTS[4]!]));
    verifyInclusion(LEAF_HASHES[6]!, 6, 7, LOG.getInclusionProof(6, 7), ORACLE_ROOTS[7]!);
  });

  test('§2.1.3.2 steps 4a and 5: a proof one element too long or too short fails', () => {
    const proof = LOG.getInclusionProof(3, 13);
    expectCode('InclusionProofInvalid', () =>
      verifyInclusion(LEAF_HASHES[3]!, 3, 13, [...proof, LEAF_HASHES[0]!], ORACLE_ROOTS[13]!),
    );
    expectCode('InclusionProofInvalid', () =>
      verifyInclusion(LEAF_HASHES[3]!, 3, 13, proof.slice(0, -1), ORACLE_ROOTS[13]!),
    );
    // Only step 4a refuses these: leaf 2 of the tree of 4 claimed as leaf 0 of a tree of 2, and
    // leaf 1 of the tree of 2 as leaf 0 of a tree of 1 (without it, the leftover elements would be
    // hashed on as left siblings and reach the right root).
    expectCode('InclusionProofInvalid', () =>
      verifyInclusion(LEAF_HASHES[2]!, 0, 2, LOG.getInclusionProof(2, 4), ORACLE_ROOTS[4]!),
    );
    expectCode('InclusionProofInvalid', () =>
      verifyInclusion(LEAF_HASHES[1]!, 0, 1, [LEAF_HASHES[0]!], ORACLE_ROOTS[2]!),
    );
  });

  test('§2.1.4.2 steps 6a and 7: a proof one element too long or too short fails', () => {
    const proof = LOG.getConsistencyProof(5, 13);
    expectCode('ConsistencyProofInvalid', () =>
      verifyConsistency(5, 13, [...proof, LEAF_HASHES[0]!], ORACLE_ROOTS[5]!, ORACLE_ROOTS[13]!),
    );
    expectCode('ConsistencyProofInvalid', () =>
      verifyConsistency(5, 13, proof.slice(0, -1), ORACLE_ROOTS[5]!, ORACLE_ROOTS[13]!),
    );
    // Only step 6a refuses PROOF(7, D[8]) presented, with the same roots, as a proof from 3 to 4;
    // only the "sn is 0" of step 7 refuses PROOF(1, D[2]) presented as a proof from 1 to 3.
    expectCode('ConsistencyProofInvalid', () =>
      verifyConsistency(3, 4, LOG.getConsistencyProof(7, 8), ORACLE_ROOTS[7]!, ORACLE_ROOTS[8]!),
    );
    expectCode('ConsistencyProofInvalid', () =>
      verifyConsistency(1, 3, LOG.getConsistencyProof(1, 2), ORACLE_ROOTS[1]!, ORACLE_ROOTS[2]!),
    );
  });

  test('tree sizes are not bound by the proofs alone: each must come signed together with its root', () => {
    // The proof of leaf 0 in the tree of 3 has the same shape as in a tree of 4, and PROOF(4, D[6])
    // the same shape as PROOF(4, D[7]). A verifier that takes a size from anywhere but the signed
    // tree head of that root learns nothing from these checks.
    verifyInclusion(LEAF_HASHES[0]!, 0, 4, LOG.getInclusionProof(0, 3), ORACLE_ROOTS[3]!);
    verifyConsistency(4, 7, LOG.getConsistencyProof(4, 6), ORACLE_ROOTS[4]!, ORACLE_ROOTS[6]!);
  });

  test('§2.1.4.2: m == n takes the empty proof and equal roots, nothing else', () => {
    for (const n of [1, 2, 5, 8, N]) {
      expect(LOG.getConsistencyProof(n, n)).toEqual([]);
      verifyConsistency(n, n, [], ORACLE_ROOTS[n]!, ORACLE_ROOTS[n]!);
      expectCode('ConsistencyProofInvalid', () => verifyConsistency(n, n, [], ORACLE_ROOTS[n]!, ORACLE_ROOTS[n - 1]!));
      expectCode('ConsistencyProofInvalid', () =>
        verifyConsistency(n, n, [ORACLE_ROOTS[n]!], ORACLE_ROOTS[n]!, ORACLE_ROOTS[n]!),
      );
    }
  });

  test('§2.1.4.2 step 1: an empty proof between different sizes fails', () => {
    expectCode('ConsistencyProofInvalid', () => verifyConsistency(3, 7, [], ORACLE_ROOTS[3]!, ORACLE_ROOTS[7]!));
    expectCode('ConsistencyProofInvalid', () => verifyConsistency(4, 8, [], ORACLE_ROOTS[4]!, ORACLE_ROOTS[8]!));
  });

  test('§2.1.4.2 step 2: when m is a power of two MTH(D[0:m]) is left out of the proof', () => {
    for (const [m, n] of [
      [1, 2],
      [1, 9],
      [2, 3],
      [4, 7],
      [8, 13],
      [16, 64],
    ] as const) {
      const proof = LOG.getConsistencyProof(m, n);
      expect(hexes(proof)).not.toContain(toHex(ORACLE_ROOTS[m]!));
      verifyConsistency(m, n, proof, ORACLE_ROOTS[m]!, ORACLE_ROOTS[n]!);
      // sending it anyway makes the proof one element too long
      expectCode('ConsistencyProofInvalid', () =>
        verifyConsistency(m, n, [ORACLE_ROOTS[m]!, ...proof], ORACLE_ROOTS[m]!, ORACLE_ROOTS[n]!),
      );
    }
  });

  test('first > second fails; first == 0 takes the empty proof and the empty root (outside the RFC)', () => {
    expectCode('ConsistencyProofInvalid', () =>
      verifyConsistency(7, 3, LOG.getConsistencyProof(3, 7), ORACLE_ROOTS[7]!, ORACLE_ROOTS[3]!),
    );
    expect(LOG.getConsistencyProof(0, 9)).toEqual([]);
    verifyConsistency(0, 9, [], ORACLE_ROOTS[0]!, ORACLE_ROOTS[9]!);
    verifyConsistency(0, 0, [], ORACLE_ROOTS[0]!, ORACLE_ROOTS[0]!);
    expectCode('ConsistencyProofInvalid', () => verifyConsistency(0, 9, [], ORACLE_ROOTS[1]!, ORACLE_ROOTS[9]!));
    expectCode('ConsistencyProofInvalid', () =>
      verifyConsistency(0, 9, [ORACLE_ROOTS[9]!], ORACLE_ROOTS[0]!, ORACLE_ROOTS[9]!),
    );
  });

  test('sizes beyond 32 bits: the shifts are arithmetic (leaf 2^52 of a tree of 2^52 + 1)', () => {
    const left = HASH(utf8('MTH(D[0:2^52])')); // stands for the root of the first 2^52 leaves
    const leaf = LEAF_HASHES[0]!;
    const root = HASH(ONE, left, leaf);
    verifyInclusion(leaf, 2 ** 52, 2 ** 52 + 1, [left], root); // PATH(2^52, D[2^52 + 1]) = [MTH(D[0:2^52])]
    expectCode('InclusionProofInvalid', () => verifyInclusion(leaf, 2 ** 52 - 1, 2 ** 52 + 1, [left], root));
    verifyConsistency(2 ** 52, 2 ** 52 + 1, [leaf], left, root); // PROOF(2^52, D[2^52 + 1]) = [MTH({d(2^52)})]
    expectCode('ConsistencyProofInvalid', () => verifyConsistency(2 ** 52, 2 ** 52 + 1, [leaf], leaf, root));
    expectCode('InclusionProofInvalid', () =>
      verifyInclusion(leaf, 2 ** 53 - 2, 2 ** 53 - 1, Array(53).fill(leaf), root),
    );
  });

  test('malformed inputs: wrong hash lengths are MalformedMessage, bad numbers and non-arrays InvalidParameter', () => {
    const proof = LOG.getInclusionProof(2, 6);
    const [leaf, root] = [LEAF_HASHES[2]!, ORACLE_ROOTS[6]!];
    verifyInclusion(leaf, 2, 6, proof, root);
    expectCode('MalformedMessage', () => verifyInclusion(leaf.subarray(1), 2, 6, proof, root));
    expectCode('MalformedMessage', () => verifyInclusion(leaf, 2, 6, proof, concat(root, ZERO)));
    expectCode('MalformedMessage', () =>
      verifyInclusion(leaf, 2, 6, [proof[0]!.subarray(0, 31), ...proof.slice(1)], root),
    );
    expectCode('InvalidParameter', () => verifyInclusion(leaf, -1, 6, proof, root));
    expectCode('InvalidParameter', () => verifyInclusion(leaf, 2.5, 6, proof, root));
    expectCode('InvalidParameter', () => verifyInclusion(leaf, 2, Number.NaN, proof, root));
    expectCode('InvalidParameter', () => verifyInclusion(leaf, 2, 2 ** 53, proof, root));
    expectCode('InvalidParameter', () => verifyInclusion(leaf, 2, 6, 'proof' as unknown as Bytes[], root));
    const cproof = LOG.getConsistencyProof(3, 6);
    verifyConsistency(3, 6, cproof, ORACLE_ROOTS[3]!, root);
    expectCode('MalformedMessage', () => verifyConsistency(3, 6, cproof, ORACLE_ROOTS[3]!.subarray(0, 16), root));
    expectCode('MalformedMessage', () => verifyConsistency(3, 6, cproof, ORACLE_ROOTS[3]!, new Uint8Array(0)));
    expectCode('MalformedMessage', () =>
      verifyConsistency(3, 6, [...cproof.slice(0, -1), concat(cproof.at(-1)!, ONE)], ORACLE_ROOTS[3]!, root),
    );
    expectCode('InvalidParameter', () => verifyConsistency(-3, 6, cproof, ORACLE_ROOTS[3]!, root));
    expectCode('InvalidParameter', () => verifyConsistency(3, 6.5, cproof, ORACLE_ROOTS[3]!, root));
  });

  test('generation refuses what does not exist: index >= size, size > log size, first > second', () => {
    expectCode('InvalidParameter', () => LOG.getInclusionProof(5, 5));
    expectCode('InvalidParameter', () => LOG.getInclusionProof(0, N + 1));
    expectCode('InvalidParameter', () => LOG.getRoot(N + 1));
    expectCode('InvalidParameter', () => LOG.getConsistencyProof(6, 5));
    expectCode('InvalidParameter', () => LOG.getConsistencyProof(1, N + 1));
    expectCode('InvalidParameter', () => LOG.getLeafHash(N));
    expectCode('InvalidParameter', () => computeInclusionProof(LEAF_HASHES, 0, N + 1));
    expectCode('InvalidParameter', () => computeConsistencyProof(LEAF_HASHES, 3, 2));
    expectCode('MalformedMessage', () => computeRoot([LEAF_HASHES[0]!, new Uint8Array(31)]));
    expectCode('MalformedMessage', () => new MerkleLog().appendLeafHash(new Uint8Array(33)));
  });

  test('the log hands out copies: mutating a returned proof or root changes nothing', () => {
    const log = logOf(ENTRIES.slice(0, 10));
    const proof = log.getInclusionProof(3);
    proof[0]![0]! ^= 1;
    log.getRoot()[0]! ^= 1;
    log.getLeafHash(2)[0]! ^= 1;
    expect(toHex(log.getRoot())).toBe(toHex(ORACLE_ROOTS[10]!));
    verifyInclusion(LEAF_HASHES[3]!, 3, 10, log.getInclusionProof(3), ORACLE_ROOTS[10]!);
  });

  test('append returns the index; earlier roots do not change as the log grows', () => {
    const log = new MerkleLog();
    const seen: string[] = [];
    for (let n = 0; n < 20; n++) {
      seen.push(toHex(log.getRoot()));
      expect(log.append(ENTRIES[n]!)).toBe(n);
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, n) => toHex(log.getRoot(n))));
  });
});

// =============================================================================================
// Certificate Transparency reference data: eight entries, the roots of sizes 0..8, and proofs.
// (The test data shared by the CT log implementations, e.g. transparency-dev/merkle testonly.)
// =============================================================================================

describe('Certificate Transparency reference vectors', () => {
  const entries = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map(fromHex);
  const roots = [
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  const inclusion = [
    {
      index: 0,
      size: 8,
      proof: [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    },
    {
      index: 5,
      size: 8,
      proof: [
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    },
  ];
  const consistency = [
    {
      first: 2,
      second: 8,
      proof: [
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    },
    {
      first: 6,
      second: 8,
      proof: [
        '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    },
    {
      first: 2,
      second: 5,
      proof: [
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    },
  ];
  const log = logOf(entries);
  const leafHashes = entries.map(computeLeafHash);

  test('roots of sizes 0..8 (log, plain functions and oracle agree)', () => {
    for (let n = 0; n <= 8; n++) {
      expect(toHex(log.getRoot(n)), `size ${n}`).toBe(roots[n]);
      expect(toHex(computeRoot(leafHashes, n))).toBe(roots[n]);
      expect(toHex(oracle.MTH(entries.slice(0, n)))).toBe(roots[n]);
    }
  });

  test('inclusion proofs', () => {
    for (const v of inclusion) {
      expect(hexes(log.getInclusionProof(v.index, v.size))).toEqual(v.proof);
      expect(hexes(oracle.PATH(v.index, entries.slice(0, v.size)))).toEqual(v.proof);
      verifyInclusion(leafHashes[v.index]!, v.index, v.size, v.proof.map(fromHex), fromHex(roots[v.size]!));
    }
  });

  test('consistency proofs', () => {
    for (const v of consistency) {
      expect(hexes(log.getConsistencyProof(v.first, v.second))).toEqual(v.proof);
      expect(hexes(oracle.PROOF(v.first, entries.slice(0, v.second)))).toEqual(v.proof);
      verifyConsistency(v.first, v.second, v.proof.map(fromHex), fromHex(roots[v.first]!), fromHex(roots[v.second]!));
    }
  });
});

// =============================================================================================
// Known answers from the oracle, for every size, index and pair of sizes up to N.
// =============================================================================================

describe(`known answers from the oracle, every tree size 0..${N}`, () => {
  test('roots: MerkleLog.getRoot and computeRoot equal MTH', () => {
    for (let n = 0; n <= N; n++) {
      expect(toHex(LOG.getRoot(n)), `size ${n}`).toBe(toHex(ORACLE_ROOTS[n]!));
      expect(toHex(computeRoot(LEAF_HASHES, n))).toBe(toHex(ORACLE_ROOTS[n]!));
    }
  });

  test('inclusion proofs equal PATH and verify, for every size and index', () => {
    for (let n = 1; n <= N; n++) {
      const D = ENTRIES.slice(0, n);
      for (let i = 0; i < n; i++) {
        const want = hexes(oracle.PATH(i, D));
        const proof = LOG.getInclusionProof(i, n);
        expect(hexes(proof), `PATH(${i}, D[${n}])`).toEqual(want);
        expect(hexes(computeInclusionProof(LEAF_HASHES, i, n))).toEqual(want);
        verifyInclusion(LEAF_HASHES[i]!, i, n, proof, ORACLE_ROOTS[n]!);
      }
    }
  });

  test('consistency proofs equal PROOF and verify, for every 1 <= m <= n', () => {
    for (let n = 1; n <= N; n++) {
      const D = ENTRIES.slice(0, n);
      for (let m = 1; m <= n; m++) {
        const want = hexes(oracle.PROOF(m, D));
        const proof = LOG.getConsistencyProof(m, n);
        expect(hexes(proof), `PROOF(${m}, D[${n}])`).toEqual(want);
        expect(hexes(computeConsistencyProof(LEAF_HASHES, m, n))).toEqual(want);
        verifyConsistency(m, n, proof, ORACLE_ROOTS[m]!, ORACLE_ROOTS[n]!);
      }
    }
  });

  test(
    'a log of a few thousand entries agrees with the oracle at random sizes, ' +
      'and every proof of its last tree verifies',
    () => {
      const big = Array.from({ length: 3000 }, (_, i) => entry(i));
      const log = logOf(big);
      fc.assert(
        fc.property(
          fc
            .integer({ min: 1, max: big.length })
            .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: n }))),
          ([n, i, m]) => {
            const D = big.slice(0, n);
            expect(toHex(log.getRoot(n))).toBe(toHex(oracle.MTH(D)));
            expect(hexes(log.getInclusionProof(i, n))).toEqual(hexes(oracle.PATH(i, D)));
            expect(hexes(log.getConsistencyProof(m, n))).toEqual(hexes(oracle.PROOF(m, D)));
          },
        ),
        { numRuns: 25 },
      );
      const root = log.getRoot();
      for (let i = 0; i < big.length; i++)
        verifyInclusion(log.getLeafHash(i), i, big.length, log.getInclusionProof(i), root);
      for (let m = 1; m <= big.length; m += 7)
        verifyConsistency(m, big.length, log.getConsistencyProof(m), log.getRoot(m), root);
    },
  );
});

// =============================================================================================
// Properties: every valid proof verifies; every tampered proof, leaf, root or index fails.
// =============================================================================================

const sizeAndIndex = fc
  .integer({ min: 1, max: N })
  .chain((n) => fc.record({ n: fc.constant(n), i: fc.integer({ min: 0, max: n - 1 }) }));
const twoSizes = fc
  .integer({ min: 1, max: N })
  .chain((n) => fc.record({ n: fc.constant(n), m: fc.integer({ min: 1, max: n }) }));
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

const INCLUSION_TAMPERS = [
  'flipProofBit',
  'dropProofElement',
  'appendProofElement',
  'swapProofElements',
  'otherLeaf',
  'flipLeafBit',
  'flipRootBit',
  'otherIndex',
] as const;
const CONSISTENCY_TAMPERS = [
  'flipProofBit',
  'dropProofElement',
  'appendProofElement',
  'swapProofElements',
  'flipFirstRootBit',
  'flipSecondRootBit',
  'forkedHistory',
] as const;
const tamper = <K extends string>(kinds: readonly K[]) =>
  fc.record({ kind: fc.constantFrom(...kinds), at: fc.nat(), bit: fc.nat(255), extra: hash32 });

/** The proof tampered by `kind`, or undefined when that tampering does not apply to it. */
function tamperList(proof: readonly Bytes[], kind: string, at: number, bit: number, extra: Bytes): Bytes[] | undefined {
  const p = [...proof];
  const j = p.length === 0 ? 0 : at % p.length;
  switch (kind) {
    case 'flipProofBit':
      if (p.length === 0) return undefined;
      p[j] = flipBit(p[j]!, bit);
      return p;
    case 'dropProofElement':
      if (p.length === 0) return undefined;
      p.splice(j, 1);
      return p;
    case 'appendProofElement':
      return [...p, extra];
    case 'swapProofElements': {
      if (p.length < 2) return undefined;
      const s = at % (p.length - 1);
      [p[s], p[s + 1]] = [p[s + 1]!, p[s]!];
      return p;
    }
    default:
      return undefined;
  }
}

function inclusionProperty(verify: InclusionVerifier) {
  return fc.property(sizeAndIndex, tamper(INCLUSION_TAMPERS), ({ n, i }, { kind, at, bit, extra }) => {
    const [leaf, proof, root] = [LEAF_HASHES[i]!, LOG.getInclusionProof(i, n), ORACLE_ROOTS[n]!];
    if (!verify(leaf, i, n, proof, root)) return false;
    let args: [Bytes, number, number, readonly Bytes[], Bytes] | undefined;
    if (kind === 'otherLeaf') args = at % N === i ? undefined : [LEAF_HASHES[at % N]!, i, n, proof, root];
    else if (kind === 'flipLeafBit') args = [flipBit(leaf, bit), i, n, proof, root];
    else if (kind === 'flipRootBit') args = [leaf, i, n, proof, flipBit(root, bit)];
    else if (kind === 'otherIndex')
      args = at % (n + 1) === i ? undefined : [leaf, at % (n + 1), n, proof, root]; // n itself is out of range
    else {
      const p = tamperList(proof, kind, at, bit, extra);
      args = p && [leaf, i, n, p, root];
    }
    fc.pre(args !== undefined);
    return !verify(...args);
  });
}

function consistencyProperty(verify: ConsistencyVerifier) {
  return fc.property(twoSizes, tamper(CONSISTENCY_TAMPERS), ({ n, m }, { kind, at, bit, extra }) => {
    const [proof, firstRoot, secondRoot] = [LOG.getConsistencyProof(m, n), ORACLE_ROOTS[m]!, ORACLE_ROOTS[n]!];
    if (!verify(m, n, proof, firstRoot, secondRoot)) return false;
    let args: [number, number, readonly Bytes[], Bytes, Bytes] | undefined;
    if (kind === 'flipFirstRootBit') args = [m, n, proof, flipBit(firstRoot, bit), secondRoot];
    else if (kind === 'flipSecondRootBit') args = [m, n, proof, firstRoot, flipBit(secondRoot, bit)];
    else if (kind === 'forkedHistory') {
      // a log that rewrote entry `at % m` of the first tree, with its own proof and second root
      const forked = ENTRIES.slice(0, n).map((e, x) => (x === at % m ? concat(e, extra) : e));
      const fork = logOf(forked);
      args = [m, n, fork.getConsistencyProof(m, n), firstRoot, fork.getRoot(n)];
    } else {
      const p = tamperList(proof, kind, at, bit, extra);
      args = p && [m, n, p, firstRoot, secondRoot];
    }
    fc.pre(args !== undefined);
    return !verify(...args);
  });
}

describe('properties', () => {
  const RUNS = 2000;

  test(`inclusion: for tree sizes 1..${N} and every index, the proof verifies and every tampering fails`, () => {
    fc.assert(inclusionProperty(implVerifyInclusion), { numRuns: RUNS });
  });

  test(`consistency: for 1 <= m <= n <= ${N}, the proof verifies and every tampering fails`, () => {
    fc.assert(consistencyProperty(implVerifyConsistency), { numRuns: RUNS });
  });

  test('every tampering of every proof fails, exhaustively for sizes up to 24', () => {
    for (let n = 1; n <= 24; n++) {
      for (let i = 0; i < n; i++) {
        const proof = LOG.getInclusionProof(i, n);
        for (let j = 0; j < proof.length; j++) {
          const flipped = proof.map((p, x) => (x === j ? flipBit(p, 7 * j) : p));
          expect(implVerifyInclusion(LEAF_HASHES[i]!, i, n, flipped, ORACLE_ROOTS[n]!)).toBe(false);
          expect(implVerifyInclusion(LEAF_HASHES[i]!, i, n, without(proof, j), ORACLE_ROOTS[n]!)).toBe(false);
        }
        for (let other = 0; other <= n; other++) {
          if (other !== i)
            expect(
              implVerifyInclusion(LEAF_HASHES[i]!, other, n, proof, ORACLE_ROOTS[n]!),
              `leaf ${i} as ${other} of ${n}`,
            ).toBe(false);
          if (other !== i && other < n)
            expect(implVerifyInclusion(LEAF_HASHES[other]!, i, n, proof, ORACLE_ROOTS[n]!)).toBe(false);
        }
      }
      for (let m = 1; m < n; m++) {
        const proof = LOG.getConsistencyProof(m, n);
        for (let j = 0; j < proof.length; j++) {
          const flipped = proof.map((p, x) => (x === j ? flipBit(p, 5 * j) : p));
          expect(implVerifyConsistency(m, n, flipped, ORACLE_ROOTS[m]!, ORACLE_ROOTS[n]!)).toBe(false);
          expect(implVerifyConsistency(m, n, without(proof, j), ORACLE_ROOTS[m]!, ORACLE_ROOTS[n]!)).toBe(false);
        }
        // the root of any other first size, and any other second size, is refused
        for (let x = 1; x <= n; x++) {
          if (x !== m) expect(implVerifyConsistency(m, n, proof, ORACLE_ROOTS[x]!, ORACLE_ROOTS[n]!)).toBe(false);
          if (x !== n) expect(implVerifyConsistency(m, n, proof, ORACLE_ROOTS[m]!, ORACLE_ROOTS[x]!)).toBe(false);
        }
      }
    }
  });

  test('the oracle verifiers (unmutated) pass the same properties', () => {
    fc.assert(inclusionProperty(oracleVerifyInclusion('none')), { numRuns: 500 });
    fc.assert(consistencyProperty(oracleVerifyConsistency('none')), { numRuns: 500 });
  });
});

describe('the properties can fail: broken verifiers are caught', () => {
  // Fixed seeds: the counterexample search is deterministic; each mutant is found within the runs.
  const options = { seed: 9162, numRuns: 2000 };
  const mustFail = (out: { failed: boolean; counterexample: unknown }) => {
    expect(out.failed, 'fast-check found no counterexample').toBe(true);
    expect(out.counterexample).not.toBeNull();
  };

  test('an inclusion verifier that ignores the last proof element', () => {
    mustFail(fc.check(inclusionProperty(oracleVerifyInclusion('ignoresLastElement')), options));
  });

  test('an inclusion verifier that accepts an empty proof without comparing the leaf to the root', () => {
    mustFail(fc.check(inclusionProperty(oracleVerifyInclusion('emptyProofShortcut')), options));
  });

  test('a consistency verifier that ignores the last proof element', () => {
    mustFail(fc.check(consistencyProperty(oracleVerifyConsistency('ignoresLastElement')), options));
  });

  test('a consistency verifier that never compares fr with the first root', () => {
    mustFail(fc.check(consistencyProperty(oracleVerifyConsistency('skipsFirstRootCheck')), options));
  });
});
