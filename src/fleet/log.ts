/**
 * The witness log (spec ch. 7, "The witness log"): every bundle the witness signs is a log entry,
 * and the log is an RFC 9162 Merkle tree (merkle.ts) whose signed tree heads let anyone check
 * inclusion and append-only growth.
 *
 *   entry i (epoch i + 1) = the witness statement of the bundle (bundle.ts), its UTF-8 bytes the leaf
 *   tree head            = { type: "bkv/tree-head/v1", namespace, treeSize, rootHash, timestamp },
 *                          signed by the witness key
 *
 * Log rules (`checkNextStatement`), enforced by the witness when it signs and by every auditor
 * when it reads the log: one namespace (`NamespaceMismatch`); epochs 1, 2, 3, ... strictly
 * increasing by one (`StaleEpoch` for a repeated or lower epoch, `LogInconsistent` for a gap);
 * every digest new, so nothing is republished (`LogInconsistent`); timestamps never decrease
 * (`LogInconsistent`).
 *
 * Equivocation: two tree heads signed by the witness with the same size and different roots
 * cannot both be honest. `checkTreeHeadAgainst` and `LogMonitor` keep such a pair as evidence
 * (`EquivocationError`, code `LogEquivocation`), checkable by anyone with `isEquivocation`. Two
 * heads of different sizes must be linked by a consistency proof (`ConsistencyProofInvalid`).
 * @module
 */
import { type Bytes, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import { HASH_SIZE, MerkleLog, computeLeafHash, verifyConsistency, verifyInclusion } from './merkle.ts';
import { type WitnessStatement, encodeWitnessStatement } from './bundle.ts';
import { NAME, readArray, readConstant, readHex, readInt, readObject, readString } from './json.ts';
import { type Signed, type Signer, decodeSigned, isSignedBy, signDocument } from './signing.ts';

export const TREE_HEAD_TYPE = 'bkv/tree-head/v1';

export interface TreeHeadBody {
  readonly type: typeof TREE_HEAD_TYPE;
  readonly namespace: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly timestamp: number;
}

export type SignedTreeHead = Signed<TreeHeadBody>;

// ---------------------------------------------------------------------------------------------
// Log rules
// ---------------------------------------------------------------------------------------------

/** The rules for appending `next` after `prev` (undefined: the first entry) to the log of `namespace`. */
export function checkNextStatement(namespace: string, prev: WitnessStatement | undefined, next: WitnessStatement, seenDigests: ReadonlySet<string>): void {
  const want = (prev?.epoch ?? 0) + 1;
  if (next.namespace !== namespace) throw new VaultError('NamespaceMismatch', `epoch ${next.epoch}: namespace "${next.namespace}", the log's is "${namespace}"`);
  if (next.epoch < want) throw new VaultError('StaleEpoch', `epoch ${next.epoch} is not above the log's last epoch ${want - 1}`);
  if (next.epoch > want) throw new VaultError('LogInconsistent', `epoch ${next.epoch} skips epoch ${want}`);
  if (seenDigests.has(next.digest)) throw new VaultError('LogInconsistent', `epoch ${next.epoch}: digest ${next.digest.slice(0, 16)}… was already published (no republish)`);
  if (prev !== undefined && next.timestamp < prev.timestamp) throw new VaultError('LogInconsistent', `epoch ${next.epoch}: timestamp ${next.timestamp} is before epoch ${prev.epoch}'s ${prev.timestamp}`);
}

/** All log rules over a whole list of entries. */
export function checkLogStatements(namespace: string, statements: readonly WitnessStatement[]): void {
  const seen = new Set<string>();
  statements.forEach((s, i) => {
    checkNextStatement(namespace, statements[i - 1], s, seen);
    seen.add(s.digest);
  });
}

export function computeStatementLeafHash(s: WitnessStatement): Bytes {
  return computeLeafHash(utf8(encodeWitnessStatement(s)));
}

// ---------------------------------------------------------------------------------------------
// The witness
// ---------------------------------------------------------------------------------------------

/** The witness's log: it signs bundles that follow the rules, appends them, and signs tree heads. */
export class WitnessLog {
  readonly namespace: string;
  readonly #signer: Signer;
  readonly #clock: () => number;
  readonly #tree = new MerkleLog();
  readonly #statements: WitnessStatement[] = [];
  readonly #digests = new Set<string>();
  readonly #heads: SignedTreeHead[] = [];

  constructor(namespace: string, signer: Signer, clock: () => number) {
    this.namespace = namespace;
    this.#signer = signer;
    this.#clock = clock;
  }

  get publicKey(): Bytes {
    return this.#signer.publicKey;
  }

  /** The last epoch (0 when empty). */
  get size(): number {
    return this.#statements.length;
  }

  /**
   * Signs and logs the bundle of `digest` at `epoch` (timestamp from the witness's clock), then
   * signs the new tree head. Refuses anything the log rules refuse, and changes nothing then.
   */
  submit(epoch: number, digest: string): { statement: WitnessStatement; witnessSignature: string } {
    const statement: WitnessStatement = { namespace: this.namespace, timestamp: this.#clock(), epoch, digest };
    checkNextStatement(this.namespace, this.#statements.at(-1), statement, this.#digests);
    const witnessSignature = toHex(this.#signer.sign(utf8(encodeWitnessStatement(statement))));
    this.#tree.appendLeafHash(computeStatementLeafHash(statement));
    this.#statements.push(statement);
    this.#digests.add(digest);
    this.#heads.push(this.#signHead(statement.timestamp));
    return { statement, witnessSignature };
  }

  #signHead(timestamp: number): SignedTreeHead {
    return signDocument<TreeHeadBody>(this.#signer, {
      type: TREE_HEAD_TYPE,
      namespace: this.namespace,
      treeSize: this.#tree.size,
      rootHash: toHex(this.#tree.getRoot()),
      timestamp,
    });
  }

  getStatements(): WitnessStatement[] {
    return [...this.#statements];
  }

  /** Every tree head signed so far, in order (one per append). */
  getHeads(): SignedTreeHead[] {
    return [...this.#heads];
  }

  getHead(treeSize: number = this.size): SignedTreeHead {
    const head = this.#heads[treeSize - 1];
    if (head === undefined) throw new VaultError('InvalidParameter', `no tree head of size ${treeSize}`);
    return head;
  }

  getInclusionProof(epoch: number, treeSize: number = this.size): string[] {
    return this.#tree.getInclusionProof(epoch - 1, treeSize).map(toHex);
  }

  getConsistencyProof(first: number, second: number = this.size): string[] {
    return this.#tree.getConsistencyProof(first, second).map(toHex);
  }
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** A tree head signed by the pinned witness key, for `namespace`. */
export function verifyTreeHead(head: SignedTreeHead, witnessKey: Bytes, namespace: string): TreeHeadBody {
  if (!isSignedBy(head, witnessKey)) throw new VaultError('WitnessSignatureInvalid', `tree head of size ${head.body.treeSize}: not signed by the pinned witness key`);
  if (head.body.namespace !== namespace) throw new VaultError('NamespaceMismatch', `tree head of size ${head.body.treeSize}: namespace "${head.body.namespace}", expected "${namespace}"`);
  return head.body;
}

/** The statement of epoch e is leaf e - 1 of the tree `head` describes (RFC 9162 §2.1.3.2). */
export function verifyStatementInclusion(s: WitnessStatement, proof: readonly string[], head: TreeHeadBody): void {
  verifyInclusion(computeStatementLeafHash(s), s.epoch - 1, head.treeSize, proof.map(fromHex), fromHex(head.rootHash));
}

/** Two heads that cannot both be honest: same namespace and size, different roots, both signed. */
export interface EquivocationEvidence {
  readonly first: SignedTreeHead;
  readonly second: SignedTreeHead;
}

export class EquivocationError extends VaultError {
  readonly evidence: EquivocationEvidence;
  constructor(evidence: EquivocationEvidence) {
    super('LogEquivocation', `the witness signed two tree heads of size ${evidence.first.body.treeSize} with different roots (${evidence.first.body.rootHash.slice(0, 16)}… and ${evidence.second.body.rootHash.slice(0, 16)}…)`);
    this.evidence = evidence;
  }
}

/** Anyone can check a piece of equivocation evidence against the witness key. */
export function isEquivocation(e: EquivocationEvidence, witnessKey: Bytes): boolean {
  const [a, b] = [e.first.body, e.second.body];
  return a.namespace === b.namespace && a.treeSize === b.treeSize && a.rootHash !== b.rootHash && isSignedBy(e.first, witnessKey) && isSignedBy(e.second, witnessKey);
}

/**
 * Checks a new (already verified) head against one held before: equal sizes need equal roots
 * (else `EquivocationError`), different sizes a consistency proof from the smaller to the larger
 * (RFC 9162 §2.1.4.2, else `ConsistencyProofInvalid`).
 */
export function checkTreeHeadAgainst(known: SignedTreeHead, head: SignedTreeHead, proof: readonly string[] | undefined): void {
  const [a, b] = [known.body, head.body];
  if (a.treeSize === b.treeSize) {
    if (a.rootHash !== b.rootHash) throw new EquivocationError({ first: known, second: head });
    return;
  }
  if (proof === undefined) throw new VaultError('ConsistencyProofInvalid', `tree heads of sizes ${a.treeSize} and ${b.treeSize} need a consistency proof`);
  const [small, large] = a.treeSize < b.treeSize ? [a, b] : [b, a];
  verifyConsistency(small.treeSize, large.treeSize, proof.map(fromHex), fromHex(small.rootHash), fromHex(large.rootHash));
}

/**
 * A log monitor (an auditor, a client, another witness): it keeps every tree head it has accepted,
 * checks each new one against the largest, and keeps equivocation evidence when it finds any.
 */
export class LogMonitor {
  readonly #heads = new Map<number, SignedTreeHead>();
  readonly evidence: EquivocationEvidence[] = [];
  #latest: SignedTreeHead | undefined;

  constructor(
    readonly namespace: string,
    readonly witnessKey: Bytes,
  ) {}

  get latest(): SignedTreeHead | undefined {
    return this.#latest;
  }

  /** Accepts `head` (with a consistency proof linking it to the latest head when sizes differ), or throws. */
  observe(head: SignedTreeHead, proof?: readonly string[]): void {
    verifyTreeHead(head, this.witnessKey, this.namespace);
    const same = this.#heads.get(head.body.treeSize);
    try {
      if (same !== undefined) {
        checkTreeHeadAgainst(same, head, undefined);
        return; // a head it already holds
      }
      if (this.#latest !== undefined) checkTreeHeadAgainst(this.#latest, head, proof);
    } catch (e) {
      if (e instanceof EquivocationError) this.evidence.push(e.evidence);
      throw e;
    }
    this.#heads.set(head.body.treeSize, head);
    if (this.#latest === undefined || head.body.treeSize > this.#latest.body.treeSize) this.#latest = head;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

export function decodeTreeHead(x: unknown, path: string): SignedTreeHead {
  return decodeSigned(x, path, (b, p) => {
    const o = readObject(b, p, ['type', 'namespace', 'treeSize', 'rootHash', 'timestamp']);
    return {
      type: readConstant(o.type, `${p}.type`, TREE_HEAD_TYPE) as typeof TREE_HEAD_TYPE,
      namespace: readString(o.namespace, `${p}.namespace`, NAME),
      treeSize: readInt(o.treeSize, `${p}.treeSize`, 0),
      rootHash: readHex(o.rootHash, `${p}.rootHash`, HASH_SIZE),
      timestamp: readInt(o.timestamp, `${p}.timestamp`, 0),
    };
  });
}

export function decodeProof(x: unknown, path: string): string[] {
  return readArray(x, path).map((h, i) => readHex(h, `${path}[${i}]`, HASH_SIZE));
}
