/**
 * The audit (spec ch. 8): everything `bkv audit <dir>` checks, as one pure function over the
 * files of a deployment directory (files.ts). It stops at the first failure with the file it is
 * in and a `VaultError` code; on success it reports, per epoch, the keys and roles added and
 * removed, and per fleet, how its keys reached its replicas.
 *
 *   1. roots.json: the witness, operator and vendor-root keys and the namespace; when the auditor
 *      pinned roots of their own (spec 8.1), roots.json must equal them, and the pins are trusted
 *   2. log.json: the namespace's ciphersuite and root; every entry a statement of that
 *      ciphersuite (statement.ts); the log rules over every entry (log.ts), the root included;
 *      every tree head signed by the witness,
 *      its root recomputed from the entries, consistent with the previous head (RFC 9162
 *      §2.1.4.2) and never equivocating; the last head covers every entry
 *   3. bundles/: exactly one per epoch; each passes `verifyBundle` (the auditor's report and the
 *      counter-signature, digest), its statement is the log entry, its tree head is the log's,
 *      its inclusion proof holds
 *   4. evidence/: each fleet's deployment evidence verifies (evidence.ts)
 *   5. each epoch's artifact is its fleet's evidence: same suite, replicas, attestations and
 *      keys; retiring keys are those of a fleet active before; every fleet was published
 * @module
 */
import { type Bytes, toHex } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { type ErrorCode, VaultError, isVaultError } from '../errors.ts';
import {
  type FleetArtifact,
  type FleetKey,
  RETIRING_ROLES,
  diffArtifactKeys,
  describeFleetKey,
  verifyArtifactAttestations,
} from './artifact.ts';
import { describeFingerprint, isSameKey } from './attestation.ts';
import { verifyBundle } from './bundle.ts';
import {
  type DeploymentEvidence,
  type KeyTransport,
  type Transcript,
  type VerifiedFleet,
  decodeEvidence,
  verifyDeploymentEvidence,
} from './evidence.ts';
import { decodeFleetInfo } from './fleet-info.ts';
import { bundleFileName, evidenceFileName, LOG_FILE, ROOTS_FILE } from './files.ts';
import { NAME, readArray, readHexBytes, readObject, readString } from './json.ts';
import {
  type LogRules,
  type SignedTreeHead,
  LogMonitor,
  type TreeHeadBody,
  checkLogStatements,
  checkRoot,
  computeStatementLeafHash,
  decodeProof,
  decodeTreeHead,
  verifyStatementInclusion,
  verifyTreeHead,
} from './log.ts';
import { type WitnessStatement, decodeStatement, encodeStatement, readCiphersuite } from './statement.ts';
import { computeRoot } from './merkle.ts';

/** A failure of the audit: the code, and the file it was found in. */
export class AuditError extends VaultError {
  readonly file: string;
  readonly reason: string;
  constructor(code: ErrorCode, file: string, reason: string) {
    super(code, `${file}: ${reason}`);
    this.file = file;
    this.reason = reason;
  }
}

export interface EpochReport {
  readonly epoch: number;
  readonly timestamp: number;
  readonly fleetId: string;
  readonly digest: string;
  readonly added: readonly FleetKey[];
  readonly removed: readonly FleetKey[];
}

export interface FleetReport {
  readonly fleetId: string;
  readonly suite: string;
  readonly transport: KeyTransport;
  readonly genesis: string;
  readonly replicas: readonly { readonly id: string; readonly token: string }[];
  readonly transcript: Transcript;
  readonly epochs: readonly number[];
}

/** The keys the audit trusted (hex), and whether the auditor pinned them or took the directory's roots.json. */
export interface TrustedRoots {
  readonly namespace: string;
  readonly witnessKey: string;
  readonly operatorKey: string;
  readonly vendorRoot: string;
  readonly pinned: boolean;
}

export interface AuditReport {
  readonly roots: TrustedRoots;
  readonly namespace: string;
  /** The witness head the audit was anchored to (`--head`); absent: the directory's own last head only. */
  readonly anchor?: { readonly treeSize: number; readonly rootHash: string };
  readonly treeSize: number;
  readonly rootHash: string;
  readonly epochs: readonly EpochReport[];
  readonly fleets: readonly FleetReport[];
}

/** Runs `f` on behalf of `file`: any VaultError becomes an AuditError naming it. */
function inFile<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AuditError) throw e;
    if (isVaultError(e)) throw new AuditError(e.code, file, e.message.slice(e.code.length + 2));
    throw e;
  }
}

function parse(files: ReadonlyMap<string, string>, file: string): unknown {
  const text = files.get(file);
  if (text === undefined) throw new AuditError('MalformedMessage', file, 'missing');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AuditError('MalformedMessage', file, `not JSON (${(e as Error).message})`);
  }
}

/** The keys an auditor and an over-the-air client pin (roots.json, spec ch. 8). */
export interface Roots {
  readonly namespace: string;
  readonly witnessKey: Bytes;
  readonly operatorKey: Bytes;
  readonly vendorRoot: Bytes;
}

/** Decodes roots.json strictly (`MalformedMessage`). */
export function decodeRoots(x: unknown): Roots {
  const o = readObject(x, 'roots', ['namespace', 'witnessKey', 'operatorKey', 'vendorRoot']);
  return {
    namespace: readString(o.namespace, 'roots.namespace', NAME),
    witnessKey: readHexBytes(o.witnessKey, 'roots.witnessKey', 32),
    operatorKey: readHexBytes(o.operatorKey, 'roots.operatorKey', 32),
    vendorRoot: readHexBytes(o.vendorRoot, 'roots.vendorRoot', 32),
  };
}

interface Log {
  readonly statements: readonly WitnessStatement[];
  readonly heads: readonly SignedTreeHead[];
}

/** Step 2. */
function auditLog(x: unknown, roots: Roots): Log {
  const o = readObject(x, 'log', ['namespace', 'ciphersuite', 'root', 'entries', 'heads']);
  const namespace = readString(o.namespace, 'log.namespace', NAME);
  if (namespace !== roots.namespace)
    throw new VaultError(
      'NamespaceMismatch',
      `the log's namespace is "${namespace}", the pinned one "${roots.namespace}"`,
    );
  const ciphersuite = readCiphersuite(o.ciphersuite, 'log.ciphersuite');
  const root = readString(o.root, 'log.root');
  checkRoot(root, 'log.root');
  const rules: LogRules = { namespace, ciphersuite, root };
  const entries = readArray(o.entries, 'log.entries', 1).map((e, i) => readHexBytes(e, `log.entries[${i}]`));
  const statements = entries.map((e, i) => decodeStatement(e, ciphersuite, `log.entries[${i}]`));
  checkLogStatements(rules, statements);
  const leafHashes = statements.map(computeStatementLeafHash);
  const monitor = new LogMonitor(namespace, roots.witnessKey);
  const heads = readArray(o.heads, 'log.heads', 1).map((h, i) => {
    const path = `log.heads[${i}]`;
    const p = readObject(h, path, ['treeHead', 'consistencyProof']);
    const head = decodeTreeHead(p.treeHead, `${path}.treeHead`);
    const proof = decodeProof(p.consistencyProof, `${path}.consistencyProof`);
    const { treeSize, rootHash } = head.body;
    if (i === 0 && proof.length !== 0)
      throw new VaultError(
        'ConsistencyProofInvalid',
        `${path}: the first head has no previous head to be consistent with`,
      );
    if (treeSize > leafHashes.length)
      throw new VaultError(
        'LogInconsistent',
        `${path}: size ${treeSize}, but the log has ${leafHashes.length} entries`,
      );
    monitor.observe(head, proof);
    if (toHex(computeRoot(leafHashes, treeSize)) !== rootHash)
      throw new VaultError(
        'LogInconsistent',
        `${path}: root ${rootHash.slice(0, 16)}… is not the root of the first ${treeSize} entries`,
      );
    if (treeSize !== i + 1)
      throw new VaultError('LogInconsistent', `${path}: size ${treeSize}, expected one head per epoch (${i + 1})`);
    return head;
  });
  for (let i = 1; i < heads.length; i++) {
    if (heads[i]!.body.timestamp < heads[i - 1]!.body.timestamp)
      throw new VaultError('LogInconsistent', `log.heads[${i}]: timestamp goes backwards`);
  }
  if (heads.length !== statements.length)
    throw new VaultError('LogInconsistent', `${statements.length} entries, but ${heads.length} tree heads`);
  return { statements, heads };
}

/**
 * Step 2b (`--head FILE`): the directory against the witness's latest signed tree head (from the
 * witness, or a head a client exported). A head beyond the directory's last entry means the
 * directory is a strict prefix of the log: epochs were withheld from the auditor.
 */
function checkAnchor(x: unknown, roots: Roots, log: Log): TreeHeadBody {
  const head = verifyTreeHead(decodeTreeHead(x, 'head'), roots.witnessKey, roots.namespace);
  const size = log.statements.length;
  if (head.treeSize > size) {
    const withheld = `epochs ${size + 1}..${head.treeSize} were withheld`;
    const stops = `the witness's head has ${head.treeSize} entries, the directory stops at ${size}`;
    throw new VaultError('LogInconsistent', `${stops}: ${withheld}`);
  }
  const root = toHex(computeRoot(log.statements.map(computeStatementLeafHash), head.treeSize));
  if (root !== head.rootHash) {
    const theirs = `the witness's head of size ${head.treeSize} has root ${head.rootHash.slice(0, 16)}…`;
    const ours = `the directory's first ${head.treeSize} entries ${root.slice(0, 16)}…`;
    throw new VaultError('LogEquivocation', `${theirs}, ${ours}`);
  }
  return head;
}

/** Step 3, for one epoch. */
function auditBundle(x: unknown, epoch: number, roots: Roots, log: Log): FleetArtifact {
  const info = decodeFleetInfo(x, 'fleetInfo');
  if (info.consistency !== undefined)
    throw new VaultError('MalformedMessage', 'a published bundle carries no consistency proof');
  const held = info.bundle.report?.epoch;
  if (held !== undefined && held !== epoch) {
    throw new VaultError('LogInconsistent', `the file of epoch ${epoch} holds epoch ${held}`);
  }
  const { artifact, statement } = verifyBundle(info.bundle, { witness: roots.witnessKey, operator: roots.operatorKey });
  if (toHex(encodeStatement(statement)) !== toHex(encodeStatement(log.statements[epoch - 1]!))) {
    throw new VaultError('LogInconsistent', `the bundle of epoch ${epoch} is not the log's entry ${epoch - 1}`);
  }
  if (canonicalJson(info.treeHead) !== canonicalJson(log.heads[epoch - 1]))
    throw new VaultError(
      'LogInconsistent',
      `the tree head served with epoch ${epoch} is not the log's head of size ${epoch}`,
    );
  verifyStatementInclusion(statement, info.inclusionProof, info.treeHead.body);
  if (artifact.issuedAt > statement.timestamp)
    throw new VaultError(
      'TimestampOutOfWindow',
      `artifact issued at ${artifact.issuedAt}, after the witness signed it at ${statement.timestamp}`,
    );
  return artifact;
}

/**
 * The fleets' succession, epoch by epoch (step 5): which fleets are live, which were retired (for
 * good), and the fleet published before the current one (the only one whose keys may retire).
 */
interface Succession {
  /** The fleets the previous epoch published (its own and its retiring keys' fleet). */
  live: Set<string>;
  /** fleetId -> the epoch from which it was no longer published. */
  readonly retired: Map<string, number>;
  /** The fleet of the previous epoch, and the fleet before that one. */
  current: string | undefined;
  before: string | undefined;
  suite: string | undefined;
}

const evidenceInvalid = (message: string) => new VaultError('EvidenceInvalid', message);

/** Step 5, for one epoch. */
function checkArtifactAgainstEvidence(
  a: FleetArtifact,
  e: DeploymentEvidence,
  vendorRoot: Bytes,
  fleets: ReadonlyMap<string, { readonly fleet: VerifiedFleet }>,
  s: Succession,
  epoch: number,
): void {
  if (a.suite !== e.suite) throw evidenceInvalid(`artifact suite ${a.suite}, evidence suite ${e.suite}`);
  const file = evidenceFileName(e.fleetId);
  if (canonicalJson(a.replicas) !== canonicalJson(e.replicas)) {
    throw evidenceInvalid(`the artifact's replicas and attestations are not those of ${file}`);
  }
  if (canonicalJson(a.certificates) !== canonicalJson(e.certificates)) {
    throw evidenceInvalid(`the artifact's vendor certificates are not those of ${file}`);
  }
  verifyArtifactAttestations(a, vendorRoot);
  const gone = s.retired.get(a.fleetId);
  if (gone !== undefined) throw evidenceInvalid(`${a.fleetId} was retired at epoch ${gone}: retirement is final`);
  if (s.suite !== undefined && a.suite !== s.suite) {
    throw evidenceInvalid(`the suite changes from ${s.suite} to ${a.suite}: a rotation keeps the suite (spec ch. 7)`);
  }
  const rotating = s.current !== undefined && s.current !== a.fleetId;
  const previousFleet = rotating ? s.current : s.before;
  for (const k of a.keys.filter((k) => RETIRING_ROLES.includes(k.role))) {
    const base = k.role === 'retiring-channel' ? 'channel' : 'opaque-server';
    const retiredAt = s.retired.get(k.fleetId);
    if (retiredAt !== undefined) {
      throw evidenceInvalid(`${k.role} of ${k.fleetId}, which was retired at epoch ${retiredAt}`);
    }
    if (k.fleetId !== previousFleet) {
      const just = `the fleet just before ${a.fleetId} (${previousFleet ?? 'none'})`;
      throw evidenceInvalid(`${k.role} of ${k.fleetId}: retiring keys come only from ${just}`);
    }
    const fleet = fleets.get(k.fleetId)?.fleet;
    if (fleet === undefined || !isSameKey(fleet.keys[base], k.key)) {
      const what = `${k.role} ${describeFingerprint(k.key)}`;
      throw evidenceInvalid(`${what} is not the ${base} key of a fleet published before (${k.fleetId})`);
    }
  }
  const live = new Set([a.fleetId, ...a.keys.filter((k) => RETIRING_ROLES.includes(k.role)).map((k) => k.fleetId)]);
  for (const f of s.live) if (!live.has(f)) s.retired.set(f, epoch);
  s.live = live;
  if (rotating) s.before = s.current;
  s.current = a.fleetId;
  s.suite = a.suite;
}

/** The whole audit; throws an `AuditError` at the first failure. */
/**
 * `pinned`: the text of a roots file the auditor obtained out of band (`bkv audit --roots FILE`);
 * the directory's roots.json must then be the same keys and namespace, field by field.
 */
export function auditDeployment(
  files: ReadonlyMap<string, string>,
  pinned?: { readonly file: string; readonly text: string },
  anchor?: { readonly file: string; readonly text: string },
): AuditReport {
  const given = inFile(ROOTS_FILE, () => decodeRoots(parse(files, ROOTS_FILE)));
  const pins = pinned && new Map([[pinned.file, pinned.text]]);
  const roots = pinned === undefined ? given : inFile(pinned.file, () => decodeRoots(parse(pins!, pinned.file)));
  inFile(ROOTS_FILE, () => {
    for (const k of ['namespace', 'witnessKey', 'operatorKey', 'vendorRoot'] as const) {
      const [a, b] = [given[k], roots[k]].map((x) => (typeof x === 'string' ? x : toHex(x)));
      if (a !== b) {
        const [x, y] = [a!.slice(0, 16), b!.slice(0, 16)];
        throw new VaultError('KeyNotPinned', `${k} ${x}… is not the pinned ${y}… (${pinned!.file})`);
      }
    }
  });
  const log = inFile(LOG_FILE, () => auditLog(parse(files, LOG_FILE), roots));
  const epochs = log.statements.length;
  const anchorText = anchor && new Map([[anchor.file, anchor.text]]);
  const anchoredTo = anchor && inFile(anchor.file, () => checkAnchor(parse(anchorText!, anchor.file), roots, log));

  const expected = new Set([ROOTS_FILE, LOG_FILE, ...Array.from({ length: epochs }, (_, i) => bundleFileName(i + 1))]);
  for (const name of expected)
    if (!files.has(name))
      throw new AuditError(name.startsWith('bundles/') ? 'LogInconsistent' : 'MalformedMessage', name, 'missing');

  const evidenceFiles = [...files.keys()].filter((f) => f.startsWith('evidence/'));
  for (const name of files.keys()) {
    if (!expected.has(name) && !/^evidence\/[\x21-\x2e\x30-\x7e]+\.json$/.test(name))
      throw new AuditError(
        name.startsWith('bundles/') ? 'LogInconsistent' : 'MalformedMessage',
        name,
        'unexpected file',
      );
  }
  const fleets = new Map<
    string,
    { evidence: DeploymentEvidence; fleet: VerifiedFleet; transcript: Transcript; epochs: number[] }
  >();
  for (const file of evidenceFiles) {
    inFile(file, () => {
      const evidence = decodeEvidence(parse(files, file));
      if (evidenceFileName(evidence.fleetId) !== file)
        throw new VaultError('EvidenceInvalid', `holds the evidence of ${evidence.fleetId}`);
      if (evidence.namespace !== roots.namespace)
        throw new VaultError(
          'NamespaceMismatch',
          `namespace "${evidence.namespace}", the pinned one "${roots.namespace}"`,
        );
      const { fleet, transcript } = verifyDeploymentEvidence(evidence, roots.vendorRoot);
      fleets.set(evidence.fleetId, { evidence, fleet, transcript, epochs: [] });
    });
  }

  const reports: EpochReport[] = [];
  const succession: Succession = {
    live: new Set(),
    retired: new Map(),
    current: undefined,
    before: undefined,
    suite: undefined,
  };
  let previous: FleetArtifact | null = null;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const file = bundleFileName(epoch);
    const artifact = inFile(file, () => {
      const a = auditBundle(parse(files, file), epoch, roots, log);
      const f = fleets.get(a.fleetId);
      if (f === undefined)
        throw new VaultError(
          'EvidenceInvalid',
          `no deployment evidence for ${a.fleetId} (${evidenceFileName(a.fleetId)})`,
        );
      checkArtifactAgainstEvidence(a, f.evidence, roots.vendorRoot, fleets, succession, epoch);
      f.epochs.push(epoch);
      return a;
    });
    const s = log.statements[epoch - 1]!;
    reports.push({
      epoch,
      timestamp: s.timestamp,
      fleetId: artifact.fleetId,
      digest: s.digest,
      ...diffArtifactKeys(previous, artifact),
    });
    previous = artifact;
  }
  for (const [fleetId, f] of fleets) {
    if (f.epochs.length === 0)
      throw new AuditError('EvidenceInvalid', evidenceFileName(fleetId), 'a fleet that no epoch publishes');
  }

  const last = log.heads.at(-1)!.body;
  return {
    roots: {
      namespace: roots.namespace,
      witnessKey: toHex(roots.witnessKey),
      operatorKey: toHex(roots.operatorKey),
      vendorRoot: toHex(roots.vendorRoot),
      pinned: pinned !== undefined,
    },
    namespace: roots.namespace,
    ...(anchoredTo !== undefined && { anchor: { treeSize: anchoredTo.treeSize, rootHash: anchoredTo.rootHash } }),
    treeSize: last.treeSize,
    rootHash: last.rootHash,
    epochs: reports,
    fleets: [...fleets.values()].map((f) => ({
      fleetId: f.evidence.fleetId,
      suite: f.evidence.suite,
      transport: f.evidence.transport,
      genesis: f.evidence.genesis,
      replicas: f.fleet.replicas.map((r) => ({ id: r.id, token: r.token })),
      transcript: f.transcript,
      epochs: f.epochs,
    })),
  };
}

/** The report as the CLI prints it. */
export function formatAuditReport(r: AuditReport, verbose = false): string[] {
  const lines = [
    r.roots.pinned
      ? "trusted keys (pinned by you, and equal to the directory's roots.json):"
      : "trusted keys (the directory's own roots.json, not pinned: compare them with keys obtained out of band, " +
        'or pass --roots):',
    `  witness     ed25519 ${r.roots.witnessKey}`,
    `  operator    ed25519 ${r.roots.operatorKey}`,
    `  vendor root ed25519 ${r.roots.vendorRoot}`,
    `namespace ${r.namespace}: ${r.treeSize} epochs, log root ${r.rootHash.slice(0, 16)}…, ` +
      'every head consistent with the previous one',
    r.anchor === undefined
      ? 'not anchored: without --head, a directory that stops before the log does cannot be told from the whole log'
      : `anchored to the witness's head of size ${r.anchor.treeSize} (root ${r.anchor.rootHash.slice(0, 16)}…)`,
  ];
  for (const e of r.epochs) {
    lines.push(
      `epoch ${e.epoch}  ${new Date(e.timestamp).toISOString()}  ${e.fleetId}  digest ${e.digest.slice(0, 16)}…  ` +
        `both signatures, log entry and inclusion ok`,
    );
    for (const k of e.added) lines.push(`  + ${describeFleetKey(k)}`);
    for (const k of e.removed) lines.push(`  - ${describeFleetKey(k)}`);
    if (e.added.length === 0 && e.removed.length === 0) lines.push('    (no key or role changed)');
  }
  for (const f of r.fleets) {
    lines.push(
      `${f.fleetId}: ${f.replicas.length} replicas (${f.replicas.map((x) => `${x.id}@${x.token}`).join(', ')}), ` +
        `suite ${f.suite}, ${f.transport} from ${f.genesis}; evidence verified; ` +
        `published in epoch ${f.epochs.join(', ')}`,
    );
    if (verbose) for (const t of f.transcript) lines.push(`    ${t}`);
  }
  return lines;
}
