/**
 * Witness-log vectors: RFC 9162 Merkle tree roots, inclusion proofs and consistency proofs over a
 * log of deterministic entries, for every size up to 12 (spec ch. 7). Each proof is given with
 * the root(s) it must verify against; an implementer's verifier must accept every one.
 * @module
 */
import { fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { MerkleLog, computeLeafHash, verifyConsistency, verifyInclusion } from '../fleet/merkle.ts';

export type MerkleVector =
  | {
      readonly kind: 'inclusion';
      readonly size: number;
      readonly index: number;
      readonly entry: string;
      readonly path: readonly string[];
      readonly root: string;
    }
  | {
      readonly kind: 'consistency';
      readonly first: number;
      readonly second: number;
      readonly first_root: string;
      readonly second_root: string;
      readonly proof: readonly string[];
    };

const MAX_SIZE = 12;
const entry = (i: number) => utf8(`bkv witness log entry ${i}`);

export function generateMerkleVectors(): MerkleVector[] {
  const log = new MerkleLog();
  for (let i = 0; i < MAX_SIZE; i++) log.append(entry(i));
  const out: MerkleVector[] = [];
  for (let size = 1; size <= MAX_SIZE; size++) {
    for (let index = 0; index < size; index++) {
      out.push({
        kind: 'inclusion',
        size,
        index,
        entry: toHex(entry(index)),
        path: log.getInclusionProof(index, size).map(toHex),
        root: toHex(log.getRoot(size)),
      });
    }
    for (let first = 1; first <= size; first++) {
      out.push({
        kind: 'consistency',
        first,
        second: size,
        first_root: toHex(log.getRoot(first)),
        second_root: toHex(log.getRoot(size)),
        proof: log.getConsistencyProof(first, size).map(toHex),
      });
    }
  }
  return out;
}

/** A problem for each vector that does not verify (empty when all do). */
export function verifyMerkleVectors(vs: readonly MerkleVector[]): string[] {
  return vs.flatMap((v) => {
    try {
      if (v.kind === 'inclusion')
        verifyInclusion(computeLeafHash(fromHex(v.entry)), v.index, v.size, v.path.map(fromHex), fromHex(v.root));
      else verifyConsistency(v.first, v.second, v.proof.map(fromHex), fromHex(v.first_root), fromHex(v.second_root));
      return [];
    } catch (e) {
      const at =
        v.kind === 'inclusion' ? `inclusion of ${v.index} in ${v.size}` : `consistency ${v.first} -> ${v.second}`;
      return [`merkle ${at}: ${(e as Error).message}`];
    }
  });
}
