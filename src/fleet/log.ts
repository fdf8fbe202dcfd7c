/**
 * The witness log (spec ch. 7, "The witness log"): every statement the witness (the auditor)
 * signs is a log entry, and the log is an RFC 9162 Merkle tree (merkle.ts) whose signed tree heads
 * let anyone check inclusion and append-only growth. This is what bkv adds to the auditor, whose
 * own log is a list of reports.
 *
 *   entry i (epoch i + 1) = the statement's bytes in the namespace's ciphersuite (statement.ts),
 *                           the leaf; the auditor's report (report.ts) carries its signature
 *   tree head            = { type: "bkv/tree-head/v1", namespace, treeSize, rootHash, timestamp },
 *                          signed by the witness key (canonical JSON: never a valid statement)
 *
 * Log rules (`checkNextStatement`), the auditor's publication constraints, enforced by the
 * witness when it signs and by every auditor when it reads the log: one namespace
 * (`NamespaceMismatch`) and its ciphersuite (`LogInconsistent`); epochs 1, 2, 3, ... increasing by
 * exactly one (`StaleEpoch` for a repeated or lower epoch, `LogInconsistent` for a gap); the first
 * epoch is the namespace root `"1/<digest>"` when the namespace has one (`LogInconsistent`);
 * every digest new, so nothing is republished (`LogInconsistent`); timestamps never decrease
 * (`LogInconsistent`, this reference's rule).
 *
 * Equivocation: two tree heads signed by the witness with the same size and different roots
 * cannot both be honest. `checkTreeHeadAgainst` and `LogMonitor` keep such a pair as evidence
 * (`EquivocationError`, code `LogEquivocation`), checkable by anyone with `isEquivocation`. Two
 * heads of different sizes must be linked by a consistency proof (`ConsistencyProofInvalid`).
 * @module
 */
import { type Bytes, fromHex, toHex } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import { HASH_SIZE, MerkleLog, computeLeafHash, verifyConsistency, verifyInclusion } from './merkle.ts';
import { NAME, readArray, readConstant, readHex, readInt, readObject, readString } from './json.ts';
import { type AuditorReport, signStatement, statementOf, verifyReport } from './report.ts';
import { type Signed, type Signer, decodeSigned, isSignedBy, signDocument } from './signing.ts';
import {
  type Ciphersuite,
  CIPHERSUITE_PROTOBUF_ED25519,
  type WitnessStatement,
  encodeStatement,
  formatRoot,
  parseRoot,
} from './statement.ts';

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

/** What a namespace fixes: its name, its ciphersuite, and its root (the first epoch), if any. */
export interface LogRules {
  readonly namespace: string;
  readonly ciphersuite: Ciphersuite;
  /** `"<epoch>/<digest hex>"`; this reference's logs start at epoch 1. */
  readonly root?: string;
}

/** A root this reference accepts: at epoch 1 (`InvalidParameter` otherwise). */
export function checkRoot(root: string, path = 'root'): { readonly epoch: number; readonly digest: string } {
  const r = parseRoot(root, path);
  if (r.epoch !== 1) {
    const why = `${path}: epoch ${r.epoch}; a bkv log starts at epoch 1 (its leaf e - 1 is epoch e)`;
    throw new VaultError('InvalidParameter', why);
  }
  return r;
}

/** The rules for appending `next` after `prev` (undefined: the first entry) to the log of `rules`. */
export function checkNextStatement(
  rules: LogRules,
  prev: WitnessStatement | undefined,
  next: WitnessStatement,
  seenDigests: ReadonlySet<string>,
): void {
  const want = (prev?.epoch ?? 0) + 1;
  const at = `epoch ${next.epoch}`;
  if (next.namespace !== rules.namespace) {
    throw new VaultError('NamespaceMismatch', `${at}: namespace "${next.namespace}", the log's "${rules.namespace}"`);
  }
  if (next.ciphersuite !== rules.ciphersuite) {
    throw new VaultError('LogInconsistent', `${at}: ciphersuite ${next.ciphersuite}, the log's ${rules.ciphersuite}`);
  }
  if (next.epoch < want) throw new VaultError('StaleEpoch', `${at} is not above the log's last epoch ${want - 1}`);
  if (next.epoch > want) throw new VaultError('LogInconsistent', `${at} skips epoch ${want}`);
  const root = formatRoot(next.epoch, next.digest);
  if (prev === undefined && rules.root !== undefined && root !== rules.root) {
    throw new VaultError(
      'LogInconsistent',
      `${at}: ${root.slice(0, 20)}… is not the root ${rules.root.slice(0, 20)}…`,
    );
  }
  if (seenDigests.has(next.digest)) {
    throw new VaultError('LogInconsistent', `${at}: digest ${next.digest.slice(0, 16)}… was published before`);
  }
  if (prev !== undefined && next.timestamp < prev.timestamp) {
    throw new VaultError('LogInconsistent', `${at}: timestamp ${next.timestamp} is before epoch ${prev.epoch}'s`);
  }
}

/** All log rules over a whole list of entries. */
export function checkLogStatements(rules: LogRules, statements: readonly WitnessStatement[]): void {
  const seen = new Set<string>();
  statements.forEach((s, i) => {
    checkNextStatement(rules, statements[i - 1], s, seen);
    seen.add(s.digest);
  });
}

export function computeStatementLeafHash(s: WitnessStatement): Bytes {
  return computeLeafHash(encodeStatement(s));
}

// ---------------------------------------------------------------------------------------------
// The witness
// ---------------------------------------------------------------------------------------------

export interface WitnessLogOptions {
  /** Default 0x0001 (protobuf Ed25519). */
  readonly ciphersuite?: Ciphersuite;
  /** The namespace root `"1/<digest>"`: the first epoch must be it. */
  readonly root?: string;
}

/** The witness's log: it signs statements that follow the rules, appends them, and signs tree heads. */
export class WitnessLog {
  readonly namespace: string;
  readonly rules: LogRules;
  readonly #signer: Signer;
  readonly #clock: () => number;
  readonly #tree = new MerkleLog();
  readonly #reports: AuditorReport[] = [];
  readonly #digests = new Set<string>();
  readonly #heads: SignedTreeHead[] = [];

  constructor(namespace: string, signer: Signer, clock: () => number, o: WitnessLogOptions = {}) {
    if (o.root !== undefined) checkRoot(o.root);
    this.namespace = namespace;
    const ciphersuite = o.ciphersuite ?? CIPHERSUITE_PROTOBUF_ED25519;
    this.rules = { namespace, ciphersuite, ...(o.root !== undefined && { root: o.root }) };
    this.#signer = signer;
    this.#clock = clock;
  }

  get publicKey(): Bytes {
    return this.#signer.publicKey;
  }

  /** The last epoch (0 when empty). */
  get size(): number {
    return this.#reports.length;
  }

  /**
   * Signs and logs the statement of `digest` at `epoch` (timestamp from the witness's clock), then
   * signs the new tree head. Refuses anything the log rules refuse, and changes nothing then.
   */
  submit(epoch: number, digest: string): AuditorReport {
    readHex(digest, 'digest', HASH_SIZE);
    const { ciphersuite } = this.rules;
    const timestamp = this.#clock();
    const statement: WitnessStatement = { ciphersuite, namespace: this.namespace, timestamp, epoch, digest };
    checkNextStatement(this.rules, this.#last(), statement, this.#digests);
    const report = signStatement(this.#signer, statement);
    this.#append(report, this.#signHead(statement.timestamp, this.#tree.size + 1, computeStatementLeafHash(statement)));
    return report;
  }

  /**
   * Reloads a log this witness signed before (its reports and heads, as `getReports` and
   * `getHeads` gave them): every report verifies under the witness key and follows the rules,
   * every head is the witness's and its root is the tree's (`LogInconsistent` otherwise).
   */
  restore(reports: readonly AuditorReport[], heads: readonly SignedTreeHead[]): void {
    if (this.size !== 0) throw new VaultError('InvalidParameter', 'restore needs an empty log');
    if (reports.length !== heads.length) {
      throw new VaultError('LogInconsistent', `${reports.length} reports, ${heads.length} tree heads`);
    }
    reports.forEach((r, i) => {
      const statement = verifyReport(r, this.publicKey);
      checkNextStatement(this.rules, this.#last(), statement, this.#digests);
      const head = heads[i]!;
      verifyTreeHead(head, this.publicKey, this.namespace);
      const leaf = computeStatementLeafHash(statement);
      if (head.body.treeSize !== i + 1 || head.body.rootHash !== toHex(this.#rootWith(leaf))) {
        throw new VaultError('LogInconsistent', `tree head ${i + 1} is not the head of the first ${i + 1} entries`);
      }
      this.#append(r, head);
    });
  }

  #last(): WitnessStatement | undefined {
    const r = this.#reports.at(-1);
    return r && statementOf(r);
  }

  #rootWith(leaf: Bytes): Bytes {
    const tree = new MerkleLog();
    for (let i = 0; i < this.#tree.size; i++) tree.appendLeafHash(this.#tree.getLeafHash(i));
    tree.appendLeafHash(leaf);
    return tree.getRoot();
  }

  #append(report: AuditorReport, head: SignedTreeHead): void {
    this.#tree.appendLeafHash(computeStatementLeafHash(statementOf(report)));
    this.#reports.push(report);
    this.#digests.add(report.digest);
    this.#heads.push(head);
  }

  #signHead(timestamp: number, treeSize: number, leaf: Bytes): SignedTreeHead {
    const rootHash = toHex(this.#rootWith(leaf));
    const body: TreeHeadBody = { type: TREE_HEAD_TYPE, namespace: this.namespace, treeSize, rootHash, timestamp };
    return signDocument(this.#signer, body);
  }

  getReports(): AuditorReport[] {
    return [...this.#reports];
  }

  getStatements(): WitnessStatement[] {
    return this.#reports.map(statementOf);
  }

  /** The report of `epoch`, if published. */
  getReport(epoch: number): AuditorReport | undefined {
    return Number.isSafeInteger(epoch) && epoch >= 1 ? this.#reports[epoch - 1] : undefined;
  }

  /** Every tree head signed so far, in order (one per append). */
  getHeads(): SignedTreeHead[] {
    return [...this.#heads];
  }

  getHead(treeSize: number = this.size): SignedTreeHead {
    const head = Number.isSafeInteger(treeSize) ? this.#heads[treeSize - 1] : undefined;
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
  if (!isSignedBy(head, witnessKey))
    throw new VaultError(
      'WitnessSignatureInvalid',
      `tree head of size ${head.body.treeSize}: not signed by the pinned witness key`,
    );
  if (head.body.namespace !== namespace)
    throw new VaultError(
      'NamespaceMismatch',
      `tree head of size ${head.body.treeSize}: namespace "${head.body.namespace}", expected "${namespace}"`,
    );
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
    super(
      'LogEquivocation',
      `the witness signed two tree heads of size ${evidence.first.body.treeSize} with different roots ` +
        `(${evidence.first.body.rootHash.slice(0, 16)}… and ${evidence.second.body.rootHash.slice(0, 16)}…)`,
    );
    this.evidence = evidence;
  }
}

/** Anyone can check a piece of equivocation evidence against the witness key. */
export function isEquivocation(e: EquivocationEvidence, witnessKey: Bytes): boolean {
  const [a, b] = [e.first.body, e.second.body];
  return (
    a.namespace === b.namespace &&
    a.treeSize === b.treeSize &&
    a.rootHash !== b.rootHash &&
    isSignedBy(e.first, witnessKey) &&
    isSignedBy(e.second, witnessKey)
  );
}

/**
 * Checks a new (already verified) head against one held before: equal sizes need equal roots
 * (else `EquivocationError`), different sizes a consistency proof from the smaller to the larger
 * (RFC 9162 §2.1.4.2, else `ConsistencyProofInvalid`).
 */
export function checkTreeHeadAgainst(
  known: SignedTreeHead,
  head: SignedTreeHead,
  proof: readonly string[] | undefined,
): void {
  const [a, b] = [known.body, head.body];
  if (a.treeSize === b.treeSize) {
    if (a.rootHash !== b.rootHash) throw new EquivocationError({ first: known, second: head });
    return;
  }
  if (proof === undefined)
    throw new VaultError(
      'ConsistencyProofInvalid',
      `tree heads of sizes ${a.treeSize} and ${b.treeSize} need a consistency proof`,
    );
  const [small, large] = a.treeSize < b.treeSize ? [a, b] : [b, a];
  verifyConsistency(
    small.treeSize,
    large.treeSize,
    proof.map(fromHex),
    fromHex(small.rootHash),
    fromHex(large.rootHash),
  );
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
