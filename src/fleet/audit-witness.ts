/**
 * The audit against a live witness (spec ch. 8 §8.8): what facebook/mbt `eb-verify-namespace`
 * does for the namespace `meta.encrypted_backups.fleet_keys.v1`, against bkv's witness service,
 * plus the checks bkv's Merkle log makes possible. `bkv audit --witness URL --namespace NS` runs
 * it.
 *
 *   keys       the auditor key (pinned, or the one /info lists) and the operator key (pinned, or
 *              the namespace owner's); the namespace's ciphersuite and root (`"1/<digest>"`)
 *   head       the latest signed tree head (`WitnessSignatureInvalid`, `NamespaceMismatch`); every
 *              head seen before (`knownHeads`: a previous audit, another auditor) is consistent
 *              with it (`LogEquivocation` at the same size, `ConsistencyProofInvalid` otherwise):
 *              a witness that shows two auditors two logs is caught here
 *   per epoch  the `limit` epochs before `beforeEpoch` (default: the 50 latest), each:
 *              the auditor's report (strict decoding, the epoch and namespace asked for, the
 *              listing at /audits agrees), the bundle (its report is the auditor's), the digest,
 *              the auditor signature, the counter-signature (`verifyBundle`), the inclusion proof
 *              in the head, the artifact issued before it was signed, the log rules with the
 *              epoch before (the root at epoch 1, unique digests, time not going back)
 *   conflicts  evidence the witness kept of the owner asking to republish an epoch with
 *              another digest: verified, it fails the audit (`LogEquivocation`)
 *   changes    from the oldest verified epoch (the baseline) forward, the keys and roles added
 *              and removed epoch by epoch
 *
 * A failing epoch is reported with its code and reason and the audit goes on; the verdict passes
 * only when every check of every epoch did. A failure before the epochs (keys, head) ends it
 * (`VaultError`).
 * @module
 */
import { type Bytes, fromHex, toHex } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { type ErrorCode, VaultError, isVaultError } from '../errors.ts';
import { type FleetArtifact, type FleetKey, describeFleetKey, diffArtifactKeys } from './artifact.ts';
import { decodeBundle, verifyBundle } from './bundle.ts';
import { HASH_SIZE } from './merkle.ts';
import { readArray, readHex, readObject } from './json.ts';
import {
  type LogRules,
  type SignedTreeHead,
  checkNextStatement,
  checkRoot,
  checkTreeHeadAgainst,
  verifyStatementInclusion,
  verifyTreeHead,
} from './log.ts';
import { type AuditorReport, decodeReport, verifyReport } from './report.ts';
import { ED25519_PUBLIC_KEY_BYTES, isValidSignature } from './signing.ts';
import { type WitnessStatement, computeKeyId } from './statement.ts';
import { type WitnessClient, soleAuditorKey } from './witness-client.ts';
import { encodePublishRequest } from './witness-api.ts';

export const DEFAULT_AUDIT_LIMIT = 50;

export interface WitnessAuditOptions {
  readonly namespace: string;
  /** How many epochs (default 50). */
  readonly limit?: number;
  /** Only epochs below this one (default: up to the latest). */
  readonly beforeEpoch?: number;
  readonly witnessKey?: Bytes;
  readonly operatorKey?: Bytes;
  /** Tree heads accepted before, by this auditor or another: each must be consistent with the witness's head. */
  readonly knownHeads?: readonly SignedTreeHead[];
}

export interface EpochVerdict {
  readonly epoch: number;
  readonly ok: boolean;
  readonly code?: ErrorCode;
  readonly reason?: string;
  readonly timestamp?: number;
  readonly fleetId?: string;
  readonly digest?: string;
}

export interface KeyChanges {
  readonly epoch: number;
  /** The oldest verified epoch: its keys are the baseline. */
  readonly baseline: boolean;
  readonly added: readonly FleetKey[];
  readonly removed: readonly FleetKey[];
}

export interface WitnessAuditReport {
  readonly namespace: string;
  readonly ciphersuite: number;
  readonly root: string;
  readonly head: SignedTreeHead;
  readonly auditorKey: string;
  readonly operatorKey: string;
  readonly pinned: { readonly auditor: boolean; readonly operator: boolean };
  readonly knownHeads: number;
  readonly epochs: readonly EpochVerdict[];
  readonly conflicts: readonly EpochVerdict[];
  readonly changes: readonly KeyChanges[];
  readonly failures: number;
}

/** Runs `f`, prefixing the message of a `VaultError` with `what`. */
async function step<T>(what: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (isVaultError(e)) throw new VaultError(e.code, `${what}: ${e.message.slice(e.code.length + 2)}`);
    throw e;
  }
}

/** The same report, whatever the presence of its optional serialized message. */
const sameReport = (a: AuditorReport, b: AuditorReport) =>
  canonicalJson({ ...a, serialized_message: undefined }) === canonicalJson({ ...b, serialized_message: undefined });

export async function auditWitness(client: WitnessClient, o: WitnessAuditOptions): Promise<WitnessAuditReport> {
  const ns = o.namespace;
  const limit = o.limit ?? DEFAULT_AUDIT_LIMIT;
  // keys, namespace, head
  const auditorKey = o.witnessKey ?? (await step('/info', async () => soleAuditorKey(await client.info())));
  const info = await step(`namespace ${ns}`, () => client.namespace(ns));
  if (info.name !== ns) throw new VaultError('NamespaceMismatch', `the witness answered for namespace "${info.name}"`);
  const root = await step(`namespace ${ns} root`, () => (checkRoot(info.root), info.root));
  const rules: LogRules = { namespace: ns, ciphersuite: info.ciphersuite, root };
  const operatorKey =
    o.operatorKey ??
    (await step(`namespace ${ns} owner`, async () =>
      fromHex(
        readHex(
          readObject(await client.owner(ns), 'owner', ['owner_key']).owner_key,
          'owner.owner_key',
          ED25519_PUBLIC_KEY_BYTES,
        ),
      ),
    ));
  const head = await step('tree head', async () => {
    const h = await client.treeHead(ns);
    verifyTreeHead(h, auditorKey, ns);
    return h;
  });
  const n = head.body.treeSize;
  for (const known of o.knownHeads ?? []) {
    await step(`the tree head of size ${known.body.treeSize} seen before`, async () => {
      verifyTreeHead(known, auditorKey, ns);
      const k = known.body.treeSize;
      if (k > n) throw new VaultError('LogInconsistent', `the witness now serves ${n} epochs (a log cut back)`);
      checkTreeHeadAgainst(known, head, k === n ? undefined : await client.consistencyProof(ns, k, n));
    });
  }

  // epochs
  const last = Math.min(n, (o.beforeEpoch ?? n + 1) - 1);
  const first = Math.max(1, last - limit + 1);
  if (last < 1) throw new VaultError('InvalidParameter', `no epoch below ${o.beforeEpoch} (the log holds ${n})`);
  const listed = await step('/audits', async () =>
    readArray(
      readObject(await client.audits(ns, { limit: last - first + 1, beforeEpoch: last + 1 }), 'audits', ['audits'])
        .audits,
      'audits.audits',
    ),
  );
  const signed = new Map<number, WitnessStatement>(); // every statement whose auditor signature verified
  if (first > 1) {
    try {
      signed.set(first - 1, verifyReport(decodeReport(await client.report(ns, first - 1)), auditorKey));
    } catch (e) {
      if (!isVaultError(e)) throw e; // the epoch before the window stays unchecked; its own audit reports it
    }
  }
  const seen = new Set<string>();
  const epochs: EpochVerdict[] = [];
  const artifacts: [number, FleetArtifact][] = [];
  for (let e = first; e <= last; e++) {
    let digest: string | undefined;
    try {
      const report = decodeReport(await client.report(ns, e), `report of epoch ${e}`);
      digest = report.digest;
      if (report.epoch !== e)
        throw new VaultError('LogInconsistent', `asked for epoch ${e}, the witness served epoch ${report.epoch}`);
      if (report.namespace !== ns)
        throw new VaultError('NamespaceMismatch', `a report of namespace "${report.namespace}"`);
      const fromList =
        listed[e - first] === undefined ? undefined : decodeReport(listed[e - first], `/audits[${e - first}]`);
      if (fromList === undefined || !sameReport(fromList, report))
        throw new VaultError('LogInconsistent', '/audits lists another report for this epoch');
      const bundle = decodeBundle(await client.bundle(ns, e), `bundle of epoch ${e}`);
      if (bundle.report !== undefined && !sameReport(bundle.report, report))
        throw new VaultError('LogInconsistent', "the bundle's report is not the auditor's report of this epoch");
      const { artifact, statement } = verifyBundle(
        { ...bundle, report },
        { witness: auditorKey, operator: operatorKey },
      );
      signed.set(e, statement);
      verifyStatementInclusion(statement, await client.inclusionProof(ns, e, n), head.body);
      if (artifact.issuedAt > statement.timestamp)
        throw new VaultError(
          'TimestampOutOfWindow',
          `artifact issued at ${artifact.issuedAt}, after the auditor signed it at ${statement.timestamp}`,
        );
      // the rules against the epoch before; when its signature did not verify, only what does not need it
      const before =
        e === 1 ? undefined : (signed.get(e - 1) ?? { ...statement, epoch: e - 1, timestamp: 0, digest: '' });
      checkNextStatement(rules, before, statement, seen);
      seen.add(statement.digest);
      artifacts.push([e, artifact]);
      epochs.push({
        epoch: e,
        ok: true,
        timestamp: statement.timestamp,
        fleetId: artifact.fleetId,
        digest: statement.digest,
      });
    } catch (err) {
      if (!isVaultError(err)) throw err;
      if (digest !== undefined) seen.add(digest);
      epochs.push({
        epoch: e,
        ok: false,
        code: err.code,
        reason: err.message.slice(err.code.length + 2),
        ...(digest !== undefined && { digest }),
      });
    }
  }

  const conflicts = await step('conflicts', async () =>
    checkConflicts(await client.conflicts(ns), ns, auditorKey, operatorKey),
  );
  const changes: KeyChanges[] = artifacts.map(([epoch, a], i) => ({
    epoch,
    baseline: i === 0,
    ...diffArtifactKeys(i === 0 ? null : artifacts[i - 1]![1], a),
  }));
  return {
    namespace: ns,
    ciphersuite: info.ciphersuite,
    root,
    head,
    auditorKey: toHex(auditorKey),
    operatorKey: toHex(operatorKey),
    pinned: { auditor: o.witnessKey !== undefined, operator: o.operatorKey !== undefined },
    knownHeads: o.knownHeads?.length ?? 0,
    epochs,
    conflicts,
    changes,
    failures: epochs.filter((e) => !e.ok).length + conflicts.filter((c) => !c.ok).length,
  };
}

/**
 * The witness's record of refused republications: each verified piece (the auditor's report of
 * the epoch, and the owner's signed request for another digest) is a failure of the owner.
 */
function checkConflicts(x: unknown, ns: string, auditorKey: Bytes, operatorKey: Bytes): EpochVerdict[] {
  const list = readArray(readObject(x, 'conflicts', ['conflicts']).conflicts, 'conflicts.conflicts');
  return list.map((c, i) => {
    const p = readObject(c, `conflicts[${i}]`, ['epoch', 'published', 'requested']);
    const q = readObject(p.requested, `conflicts[${i}].requested`, ['digest', 'owner_signature', 'at']);
    const published = decodeReport(p.published, `conflicts[${i}].published`);
    const digest = readHex(q.digest, `conflicts[${i}].requested.digest`, HASH_SIZE);
    const signature = readHex(q.owner_signature, `conflicts[${i}].requested.owner_signature`, 64);
    const verified =
      published.epoch === p.epoch &&
      published.digest !== digest &&
      (() => {
        try {
          return verifyReport(published, auditorKey).namespace === ns;
        } catch {
          return false;
        }
      })() &&
      isValidSignature(fromHex(signature), encodePublishRequest(ns, published.epoch, digest), operatorKey);
    if (!verified)
      return { epoch: published.epoch, ok: true, reason: 'a conflict record that does not verify (ignored)' };
    return {
      epoch: published.epoch,
      ok: false,
      code: 'LogEquivocation' as const,
      reason:
        `the log owner asked to republish epoch ${published.epoch} with digest ${digest.slice(0, 16)}… ` +
        `(published: ${published.digest.slice(0, 16)}…); its signed request is the evidence`,
    };
  });
}

/** The audit as the CLI prints it: a summary, one line per epoch, the key changes, the verdict. */
export function formatWitnessAudit(r: WitnessAuditReport, url: string): string[] {
  const suite = r.ciphersuite === 1 ? '0x0001 (protobuf Ed25519)' : '0x0002 (bincode Ed25519)';
  const auditorFrom = r.pinned.auditor ? 'pinned' : 'from /info';
  const operatorFrom = r.pinned.operator ? 'pinned' : 'from the namespace owner';
  const pinHint = r.pinned.auditor && r.pinned.operator ? '' : ' (pin them: --witness-key, --operator-key)';
  const checks = 'report, digest, auditor signature, counter-signature, inclusion, log rules';
  const lines = [
    `witness ${url}, namespace ${r.namespace}: ciphersuite ${suite}, root ${r.root.slice(0, 20)}…, ` +
      `${r.head.body.treeSize} epochs, tree head root ${r.head.body.rootHash.slice(0, 16)}…`,
    `auditor key ${r.auditorKey.slice(0, 16)}… (key id ${computeKeyId(fromHex(r.auditorKey))}) ${auditorFrom}; ` +
      `operator key ${r.operatorKey.slice(0, 16)}… ${operatorFrom}${pinHint}`,
    `${r.knownHeads} tree head${r.knownHeads === 1 ? '' : 's'} seen before, consistent with the witness's`,
  ];
  for (const e of r.epochs) {
    if (e.ok)
      lines.push(
        `epoch ${e.epoch}  ${new Date(e.timestamp!).toISOString()}  ${e.fleetId}  ` +
          `digest ${e.digest!.slice(0, 16)}…  ok: ${checks}`,
      );
    else lines.push(`epoch ${e.epoch}  FAILED  ${e.code}: ${e.reason}`);
  }
  for (const c of r.conflicts)
    lines.push(`conflict at epoch ${c.epoch}: ${c.ok ? c.reason : `FAILED  ${c.code}: ${c.reason}`}`);
  for (const c of r.changes) {
    lines.push(`keys and roles at epoch ${c.epoch}${c.baseline ? ' (baseline)' : ''}`);
    for (const k of c.added) lines.push(`  + ${describeFleetKey(k)}`);
    for (const k of c.removed) lines.push(`  - ${describeFleetKey(k)}`);
    if (!c.baseline && c.added.length === 0 && c.removed.length === 0) lines.push('    (no key or role changed)');
  }
  const checked = r.epochs.length;
  lines.push(
    r.failures === 0
      ? `verdict: verified, epochs ${r.epochs[0]?.epoch}..${r.epochs.at(-1)?.epoch} (${checked})`
      : `verdict: FAILED, ${r.failures} failure${r.failures === 1 ? '' : 's'} in ${checked} epochs`,
  );
  return lines;
}
