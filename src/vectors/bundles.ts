/**
 * Bundle vectors (spec ch. 7 §7.11, ch. 9): what a client's validation of the fleet's public
 * description must accept, and what it must refuse with which code, for every rule of
 * src/client/bundle.ts. Everything derives from one deployment on memory HSMs driven by a seeded
 * rng and a fixed clock (`runDeployment`: two fleets, three epochs through the witness log).
 * Tampered variants are built the way a misbehaving party would build them, with bkv's own code:
 * a second witness log signed by the witness key is a split view, another key is a substitution,
 * the vendor re-attesting a key with other attributes is an extractable key.
 *
 * The witness signature is the Key Transparency Auditor's report; statements.ts adds the vectors
 * of its wire format itself (statement bytes, signatures, reports, the strict decoders).
 *
 * A vector's verdict is what bkv's validation returns for its inputs; the same function
 * generates and verifies. Each case also names the verdict it was written to show (`want`), and
 * generation fails if bkv disagrees, so a vector never silently changes meaning.
 * @module
 */
import { fromHex, toHex } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import type { ErrorCode } from '../errors.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import {
  DAY_MS,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_SKEW_MS,
  type BundleTrust,
  type ClientFleetState,
  INITIAL_CLIENT_FLEET_STATE,
  type ValidatedFleet,
  computePins,
  validateBundle,
  validateFleetInfo,
  validatePinned,
} from '../client/bundle.ts';
import type { ClientContext } from '../client/session.ts';
import {
  type FleetArtifact,
  FLEET_ROLES,
  computeArtifactDigest,
  decodeArtifact,
  encodeArtifact,
} from '../fleet/artifact.ts';
import { decodeBundle } from '../fleet/bundle.ts';
import { type Deployment, runDeployment } from '../fleet/deployment.ts';
import { type FleetInfo, decodeFleetInfo, serveFleetInfo } from '../fleet/fleet-info.ts';
import { readChoice } from '../fleet/json.ts';
import {
  type LogRules,
  type WitnessLogOptions,
  WitnessLog,
  checkLogStatements,
  computeStatementLeafHash,
  decodeTreeHead,
} from '../fleet/log.ts';
import { computeRoot } from '../fleet/merkle.ts';
import { publishArtifact } from '../fleet/operator.ts';
import { type AuditorReport, signStatement, statementOf } from '../fleet/report.ts';
import { type Signer, encodeSigningInput, hsmSigner, signDocument } from '../fleet/signing.ts';
import { type WitnessStatement, decodeStatement, encodeStatement } from '../fleet/statement.ts';
import { type StatementCase, type StatementVector, runStatementVector, statementCases } from './statements.ts';
import { type Verdict, flipLastHexDigit, verdictOf } from './verdict.ts';

/** What a Messenger-style app pins (`BundleTrust`), keys in hex. */
export interface TrustJson {
  readonly namespace: string;
  readonly witnessKey: string;
  readonly operatorKey: string;
  readonly vendorRoot?: string;
  readonly requiredRoles?: readonly string[];
  readonly maxAgeMs?: number;
  readonly maxSkewMs?: number;
}

/** What a WhatsApp-style app pins (`PinnedFleet`), keys in hex. */
export interface PinsJson {
  readonly suite: string;
  readonly channelProtocol: string;
  readonly channelKey: string;
  readonly opaqueServerKey: string;
}

interface Named {
  readonly name: string;
  readonly description: string;
}

export type BundleVector =
  | (Named &
      Verdict &
      (
        | {
            readonly kind: 'fleet-info';
            readonly trust: TrustJson;
            readonly state: unknown;
            readonly now: number;
            readonly fleetInfo: unknown;
            readonly intermediates?: Record<string, string>;
          }
        | {
            readonly kind: 'bundle';
            readonly trust: TrustJson;
            readonly state: unknown;
            readonly now: number;
            readonly bundle: unknown;
          }
        | { readonly kind: 'pinned'; readonly pins: PinsJson; readonly servedArtifact?: string }
        | { readonly kind: 'log'; readonly rules: LogRules; readonly entries: readonly string[] }
      ))
  | StatementVector;

/** A vector without its verdict: the inputs (Omit over each member of the union). */
type Inputs = BundleVector extends infer V ? (V extends unknown ? Omit<V, keyof Verdict> : never) : never;

// ---------------------------------------------------------------------------------------------
// Running a vector through bkv
// ---------------------------------------------------------------------------------------------

function decodeTrust(t: TrustJson): BundleTrust {
  return {
    namespace: t.namespace,
    witnessKey: fromHex(t.witnessKey),
    operatorKey: fromHex(t.operatorKey),
    ...(t.vendorRoot !== undefined && { vendorRoot: fromHex(t.vendorRoot) }),
    ...(t.requiredRoles !== undefined && {
      requiredRoles: t.requiredRoles.map((r, i) => readChoice(r, `trust.requiredRoles[${i}]`, FLEET_ROLES)),
    }),
    ...(t.maxAgeMs !== undefined && { maxAgeMs: t.maxAgeMs }),
    ...(t.maxSkewMs !== undefined && { maxSkewMs: t.maxSkewMs }),
  };
}

function decodeState(x: unknown): ClientFleetState {
  const s = x as ClientFleetState;
  return {
    highestEpoch: s.highestEpoch,
    highestDigest: s.highestDigest,
    treeHead: s.treeHead === null ? null : decodeTreeHead(s.treeHead, 'state.treeHead'),
  };
}

function describeContext(c: ClientContext) {
  return {
    suite: c.params.suite.id,
    channelProtocol: c.noise.protocolName,
    channelKey: toHex(c.channelKey),
    opaqueServerKey: toHex(c.opaqueServerKey),
  };
}

function describeValidated(v: ValidatedFleet) {
  return {
    epoch: v.epoch,
    fleetId: v.artifact.fleetId,
    context: describeContext(v.context),
    ...(v.retiring !== undefined && { retiring: describeContext(v.retiring) }),
    state: v.state,
  };
}

/** The bytes a client computes on the way (for an implementer to compare step by step). */
export function computeBundleIntermediates(fleetInfo: unknown): Record<string, string> {
  const info = decodeFleetInfo(fleetInfo);
  if (info.bundle.report === undefined) throw new Error('intermediates need a signed bundle');
  const statement = statementOf(info.bundle.report);
  return {
    artifact_digest: toHex(computeArtifactDigest(info.bundle.artifact)),
    witness_statement: toHex(encodeStatement(statement)),
    leaf_hash: toHex(computeStatementLeafHash(statement)),
    tree_head_signing_input: toHex(encodeSigningInput(info.treeHead.body)),
  };
}

/** The verdict of bkv's validation on a vector's inputs. */
export function runBundleVector(v: Inputs): Verdict {
  switch (v.kind) {
    case 'fleet-info':
      return verdictOf(() =>
        describeValidated(
          validateFleetInfo(decodeFleetInfo(v.fleetInfo), decodeTrust(v.trust), decodeState(v.state), v.now),
        ),
      );
    case 'bundle':
      return verdictOf(() =>
        describeValidated(validateBundle(decodeBundle(v.bundle), decodeTrust(v.trust), decodeState(v.state), v.now)),
      );
    case 'pinned':
      return verdictOf(() => {
        const p = v.pins;
        const pins = {
          suite: p.suite as SuiteId,
          channelProtocol: p.channelProtocol,
          channelKey: fromHex(p.channelKey),
          opaqueServerKey: fromHex(p.opaqueServerKey),
        };
        return describeContext(validatePinned(pins, v.servedArtifact));
      });
    case 'log':
      return verdictOf(() => {
        const statements = v.entries.map((e, i) => decodeStatement(fromHex(e), v.rules.ciphersuite, `entries[${i}]`));
        checkLogStatements(v.rules, statements);
        return { treeSize: statements.length, rootHash: toHex(computeRoot(statements.map(computeStatementLeafHash))) };
      });
    default:
      return runStatementVector(v);
  }
}

/** Problems found re-running the vectors (empty when all verify). */
export function verifyBundleVectors(vs: readonly BundleVector[]): string[] {
  return vs.flatMap((v) => {
    const problems: string[] = [];
    const want = canonicalJson({ valid: v.valid, code: v.code, result: v.result });
    const got = runBundleVector(v);
    if (canonicalJson(got) !== want)
      problems.push(
        `${v.kind} "${v.name}": expected ${v.valid ? 'valid' : v.code} ${want.slice(0, 80)}…, ` +
          `got ${got.valid ? 'valid' : got.code} ${canonicalJson(got).slice(0, 80)}…`,
      );
    if (v.kind === 'fleet-info' && v.intermediates !== undefined) {
      const ours = verdictOf(() => computeBundleIntermediates(v.fleetInfo));
      for (const [k, x] of Object.entries(v.intermediates))
        if (!ours.valid || (ours.result as Record<string, string>)[k] !== x)
          problems.push(
            `${v.kind} "${v.name}": intermediate ${k} ${ours.valid ? 'differs' : `cannot be computed (${ours.code})`}`,
          );
    }
    return problems;
  });
}

// ---------------------------------------------------------------------------------------------
// The deployment and the tampering
// ---------------------------------------------------------------------------------------------

const SEED = 'bkv vectors: bundles';
const NAMESPACE = 'bkv.vectors';
const OTHER_NAMESPACE = 'bkv.other';
/** 2026-01-01T00:00:00Z: the deployment's clock starts here. */
const START = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

interface World {
  readonly d: Deployment;
  /** A key nobody pins (an impostor's signing key). */
  readonly stranger: Signer;
  /** An X25519 public key nobody attested. */
  readonly strangerChannelKey: string;
}

function deployWorld(): World {
  const rng = seededRng(SEED);
  const memory = (label: string) => MemoryHsm.create(label, rng);
  const d = runDeployment({
    namespace: NAMESPACE,
    suite: getSuite('ristretto255-SHA512'),
    replicas: 1,
    fleets: 2,
    openReplica: (fleetId, i) => ({ hsm: memory(`${fleetId}-r${i}`), prefix: `bkv/${fleetId}/r${i}` }),
    operator: { hsm: memory('operator'), label: 'operator/counter-signing' },
    vendorHsm: memory('vendor'),
    witnessHsm: memory('witness'),
    rng,
    startTime: START,
  });
  const strangerHsm = memory('stranger');
  return {
    d,
    stranger: hsmSigner(strangerHsm, 'stranger/signing'),
    strangerChannelKey: toHex(strangerHsm.generateKey('stranger/channel', 'x25519').publicKey!),
  };
}

/** `artifact` published as epoch 1 of a log of its own: what a witness showing a split view (or an impostor) signs. */
function publishElsewhere(
  artifact: string,
  witness: Signer,
  operator: Signer,
  timestamp: number,
  o: WitnessLogOptions = {},
): FleetInfo {
  const log = new WitnessLog(NAMESPACE, witness, () => timestamp, o);
  return serveFleetInfo(log, publishArtifact(artifact, log, operator));
}

/** A deep copy of a JSON value, edited by `f` (tampering works on the wire form). */
function edited<T>(x: T, f: (copy: any) => void): T {
  const copy = structuredClone(x);
  f(copy);
  return copy;
}

function editArtifact(text: string, f: (a: FleetArtifact) => FleetArtifact): string {
  return encodeArtifact(f(decodeArtifact(text)));
}

/** The vendor re-attests the final statement of the channel key with CKA_EXTRACTABLE set. */
function withExtractableChannelKey(text: string, d: Deployment): string {
  return editArtifact(text, (a) => ({
    ...a,
    replicas: a.replicas.map((r) => ({
      ...r,
      attestations: r.attestations.map((st) =>
        st.body.event === 'key' && st.body.label.endsWith('/channel')
          ? d.vendor.attest({ ...st.body, attributes: { ...st.body.attributes, extractable: true } })
          : st,
      ),
    })),
  }));
}

type Case = (Inputs & { readonly want: 'valid' | ErrorCode }) | StatementCase;

function cases(w: World): Case[] {
  const { d, stranger } = w;
  const ts = d.bundles.map((b) => b.report!.timestamp);
  const now = (epoch: number) => ts[epoch - 1]! + MINUTE;
  const trust: TrustJson = {
    namespace: NAMESPACE,
    witnessKey: toHex(d.witness.publicKey),
    operatorKey: toHex(d.operator.publicKey),
  };
  const vendorTrust: TrustJson = { ...trust, vendorRoot: toHex(d.vendor.rootKey) };
  const serve = (epoch: number, o: { knownTreeSize?: number; treeSize?: number } = {}) =>
    serveFleetInfo(d.log, d.bundles[epoch - 1]!, { treeSize: epoch, ...o });
  const accept = (info: FleetInfo, state: ClientFleetState, t: TrustJson = trust) =>
    validateFleetInfo(info, decodeTrust(t), state, info.bundle.report!.timestamp + MINUTE).state;
  const s0 = INITIAL_CLIENT_FLEET_STATE;
  const s1 = accept(serve(1), s0);
  const s2 = accept(serve(2, { knownTreeSize: 1 }), s1);
  const s3 = accept(serve(3, { knownTreeSize: 2 }), s2);
  const info1 = serve(1);
  const a1 = d.bundles[0]!.artifact;
  const splitTs = ts[0]! + 1000;
  const split = publishElsewhere(a1, d.witness, d.operator, splitTs);
  const substituted = editArtifact(a1, (a) => ({
    ...a,
    keys: a.keys.map((k) => (k.role === 'channel' ? { ...k, key: { ...k.key, publicKey: w.strangerChannelKey } } : k)),
  }));
  const substitutedInfo = publishElsewhere(substituted, d.witness, d.operator, splitTs);
  const noChannel = publishElsewhere(
    editArtifact(a1, (a) => ({ ...a, keys: a.keys.filter((k) => k.role !== 'channel') })),
    d.witness,
    d.operator,
    splitTs,
  );
  const pretty = JSON.stringify(JSON.parse(a1), null, 1);
  const alteredAttestation = canonicalJson(
    edited(
      JSON.parse(a1),
      (a) => (a.replicas[0].attestations[0].signature = flipLastHexDigit(a.replicas[0].attestations[0].signature)),
    ),
  );

  const info = (
    name: string,
    description: string,
    want: Case['want'],
    fleetInfo: FleetInfo,
    o: { state?: ClientFleetState; now?: number; trust?: TrustJson; intermediates?: boolean } = {},
  ): Case => ({
    kind: 'fleet-info',
    name,
    description,
    want,
    trust: o.trust ?? trust,
    state: o.state ?? s0,
    now: o.now ?? fleetInfo.bundle.report!.timestamp + MINUTE,
    fleetInfo,
    ...(o.intermediates === true && { intermediates: computeBundleIntermediates(fleetInfo) }),
  });
  const tampered = (
    name: string,
    description: string,
    want: ErrorCode,
    f: (copy: any) => void,
    o: Parameters<typeof info>[4] = {},
  ) => info(name, description, want, edited(info1, f), { now: now(1), ...o });
  const report1 = info1.bundle.report!;
  const statement1 = encodeStatement(statementOf(report1));
  /** A report edited field by field, its serialized_message re-derived (what a careful forger sends). */
  const reported = (x: { bundle: { report: AuditorReport } }, f: (r: Record<string, unknown>) => void) => {
    const r = x.bundle.report as unknown as Record<string, unknown>;
    f(r);
    r.serialized_message = toHex(encodeStatement(statementOf(r as unknown as AuditorReport)));
  };
  const entries = d.log.getStatements();
  const rules = d.log.rules;
  const log = (
    name: string,
    description: string,
    want: Case['want'],
    statements: readonly WitnessStatement[],
    texts = statements.map((s) => toHex(encodeStatement(s))),
  ): Case => ({ kind: 'log', name, description, want, rules, entries: texts });
  const pins = (() => {
    const p = computePins(a1);
    return {
      suite: p.suite,
      channelProtocol: p.channelProtocol,
      channelKey: toHex(p.channelKey),
      opaqueServerKey: toHex(p.opaqueServerKey),
    };
  })();
  const pinned = (
    name: string,
    description: string,
    want: Case['want'],
    o: { pins?: PinsJson; servedArtifact?: string } = {},
  ): Case => ({
    kind: 'pinned',
    name,
    description,
    want,
    pins: o.pins ?? pins,
    ...(o.servedArtifact !== undefined && { servedArtifact: o.servedArtifact }),
  });
  const bare = (name: string, description: string, want: Case['want'], state: ClientFleetState): Case => ({
    kind: 'bundle',
    name,
    description,
    want,
    trust,
    state,
    now: now(1),
    bundle: d.bundles[0]!,
  });

  return [
    // accepted
    info(
      'epoch 1, fresh client',
      'the first epoch served with the tree head of size 1 (empty ' +
        'inclusion proof) to a client that has accepted nothing',
      'valid',
      info1,
      { intermediates: true },
    ),
    info(
      'epoch 2 after epoch 1 (rotation)',
      'fleet-2 with the retiring keys of fleet-1, with the consistency proof ' +
        'from the accepted head of size 1: the result has a retiring context',
      'valid',
      serve(2, { knownTreeSize: 1 }),
      { state: s1 },
    ),
    info(
      'epoch 3 after epoch 2 (retirement)',
      'fleet-2 alone, consistent with the head of size 2',
      'valid',
      serve(3, { knownTreeSize: 2 }),
      { state: s2 },
    ),
    info(
      'epoch 3 after epoch 1 (an epoch skipped)',
      'the consistency proof goes from size 1 to size 3',
      'valid',
      serve(3, { knownTreeSize: 1 }),
      { state: s1 },
    ),
    info(
      'epoch 1 again',
      'the accepted bundle served again with the same head: accepted, the state unchanged',
      'valid',
      info1,
      { state: s1 },
    ),
    info(
      'epoch 1 with the vendor root pinned',
      "step 11: the artifact's replica attestations chain to the vendor root and its keys are the attested ones",
      'valid',
      info1,
      { trust: vendorTrust },
    ),
    info(
      'epoch 2 with the retiring roles required',
      'requiredRoles names the four session and retiring roles; the vendor root is pinned too',
      'valid',
      serve(2),
      {
        trust: {
          ...vendorTrust,
          requiredRoles: ['channel', 'opaque-server', 'retiring-channel', 'retiring-opaque-server'],
        },
      },
    ),
    info(
      'the oldest timestamp in the window',
      'now = timestamp + maxAge (30 days): the bound is inclusive',
      'valid',
      info1,
      { now: ts[0]! + DEFAULT_MAX_AGE_MS },
    ),
    info(
      'a witness clock at the skew limit',
      'now = timestamp - maxSkew (10 minutes): the bound is inclusive',
      'valid',
      info1,
      { now: ts[0]! - DEFAULT_MAX_SKEW_MS },
    ),
    // decoding the wire form
    tampered(
      'an unknown member',
      'the fleet info carries a member the format does not have',
      'MalformedMessage',
      (x) => (x.note = 'x'),
    ),
    tampered(
      'a signature in uppercase hex',
      'byte strings have one encoding: lowercase hex',
      'MalformedMessage',
      (x) => (x.bundle.report.signature = x.bundle.report.signature.toUpperCase()),
    ),
    tampered('epoch 0', 'epochs start at 1', 'MalformedMessage', (x) => reported(x, (r) => (r.epoch = 0))),
    tampered(
      'the old bundle format',
      "its own digest, epoch and timestamp and a bare witness signature: only the auditor's report is accepted",
      'MalformedMessage',
      (x) => {
        const { digest, epoch, timestamp, signature } = x.bundle.report;
        const { artifact, operatorCounterSignature } = x.bundle;
        x.bundle = { artifact, digest, epoch, timestamp, witnessSignature: signature, operatorCounterSignature };
      },
    ),
    tampered(
      'serialized_message disagrees',
      "the report's serialized_message is not the serialization of its members",
      'MalformedMessage',
      (x) => (x.bundle.report.serialized_message = toHex(encodeStatement({ ...statementOf(report1), epoch: 2 }))),
    ),
    tampered(
      'version and ciphersuite differ',
      'the auditor writes one number twice',
      'MalformedMessage',
      (x) => (x.bundle.report.version = 2),
    ),
    tampered(
      'an unknown ciphersuite',
      'version and ciphersuite 3',
      'UnsupportedCiphersuite',
      (x) => (x.bundle.report.version = x.bundle.report.ciphersuite = 3),
    ),
    // steps 1-3
    tampered(
      'no signatures',
      "step 1: neither the auditor's report nor the counter-signature",
      'BundleUnsigned',
      (x) => {
        delete x.bundle.report;
        delete x.bundle.operatorCounterSignature;
      },
    ),
    tampered(
      'no witness signature',
      'step 1: the counter-signature alone',
      'WitnessSignatureInvalid',
      (x) => delete x.bundle.report,
    ),
    tampered(
      'no counter-signature',
      "step 1: the auditor's report alone",
      'OperatorSignatureInvalid',
      (x) => delete x.bundle.operatorCounterSignature,
    ),
    tampered('digest altered', 'step 2: the digest is not SHA-256 of the artifact', 'DigestMismatch', (x) =>
      reported(x, (r) => (r.digest = flipLastHexDigit(r.digest as string))),
    ),
    tampered(
      'artifact altered',
      'step 2: issuedAt changed by 1 ms (still canonical), digest kept',
      'DigestMismatch',
      (x) => (x.bundle.artifact = editArtifact(a1, (a) => ({ ...a, issuedAt: a.issuedAt + 1 }))),
    ),
    tampered(
      'artifact not canonical',
      'step 3: the artifact pretty-printed, with its own digest (the signatures are not reached)',
      'MalformedMessage',
      (x) => {
        x.bundle.artifact = pretty;
        x.bundle.digest = toHex(computeArtifactDigest(pretty));
      },
    ),
    // step 4: the witness signature
    tampered(
      'witness signature altered',
      'step 4: one bit of the auditor signature',
      'WitnessSignatureInvalid',
      (x) => (x.bundle.report.signature = flipLastHexDigit(x.bundle.report.signature)),
    ),
    info(
      'witness signature by another key',
      'step 4: the bundle published through a log signed by a key ' +
        'the client does not pin, counter-signed by the real operator',
      'WitnessSignatureInvalid',
      publishElsewhere(a1, stranger, d.operator, ts[0]!),
    ),
    tampered(
      'key id of another key',
      "step 4: the report's key_id is not the last byte of the pinned auditor key",
      'WitnessSignatureInvalid',
      (x) => (x.bundle.report.key_id = (x.bundle.report.key_id + 1) % 256),
    ),
    tampered(
      'timestamp altered',
      'step 4: the timestamp is signed (serialized_message re-derived)',
      'WitnessSignatureInvalid',
      (x) => reported(x, (r) => (r.timestamp = (r.timestamp as number) + 1)),
    ),
    tampered(
      'epoch altered',
      'step 4: the epoch is signed (serialized_message re-derived)',
      'WitnessSignatureInvalid',
      (x) => reported(x, (r) => (r.epoch = 2)),
    ),
    tampered(
      'ciphersuite altered',
      'step 4: the same statement in bincode: other bytes, the signature does not cover them',
      'WitnessSignatureInvalid',
      (x) => reported(x, (r) => (r.version = r.ciphersuite = 2)),
    ),
    tampered(
      'roles swapped in the bundle',
      'step 4: the operator signed the statement and the witness counter-signed',
      'WitnessSignatureInvalid',
      (x) => {
        x.bundle.report.signature = toHex(d.operator.sign(statement1));
        x.bundle.operatorCounterSignature = toHex(d.witness.sign(fromHex(x.bundle.report.signature)));
      },
    ),
    info(
      'a report of another namespace',
      "step 4: the auditor signed the artifact's digest for another namespace",
      'NamespaceMismatch',
      edited(info1, (x) => {
        x.bundle.report = signStatement(d.witness, { ...statementOf(report1), namespace: OTHER_NAMESPACE });
      }),
    ),
    info(
      'pinned keys swapped',
      'step 4: the app pins the operator key as the witness key and the other way round',
      'WitnessSignatureInvalid',
      info1,
      { trust: { ...trust, witnessKey: trust.operatorKey, operatorKey: trust.witnessKey } },
    ),
    // step 5: the counter-signature
    tampered(
      'counter-signature altered',
      'step 5: one bit of the counter-signature',
      'OperatorSignatureInvalid',
      (x) => (x.bundle.operatorCounterSignature = flipLastHexDigit(x.bundle.operatorCounterSignature)),
    ),
    info(
      'counter-signature by another key',
      'step 5: the real witness signature, counter-signed by a key the client does not pin',
      'OperatorSignatureInvalid',
      publishElsewhere(a1, d.witness, stranger, ts[0]!),
    ),
    tampered(
      'counter-signature over the statement',
      'step 5: the operator signed the statement bytes instead of the 64 bytes of the auditor signature',
      'OperatorSignatureInvalid',
      (x) => (x.bundle.operatorCounterSignature = toHex(d.operator.sign(statement1))),
    ),
    tampered(
      'counter-signature of another epoch',
      "step 5: epoch 2's counter-signature on epoch 1",
      'OperatorSignatureInvalid',
      (x) => (x.bundle.operatorCounterSignature = d.bundles[1]!.operatorCounterSignature),
    ),
    // steps 6-9
    info('another namespace pinned', "step 6: a valid bundle of another app's namespace", 'NamespaceMismatch', info1, {
      trust: { ...trust, namespace: OTHER_NAMESPACE },
    }),
    info('older than the window', 'step 7: now = timestamp + maxAge + 1 ms', 'TimestampOutOfWindow', info1, {
      now: ts[0]! + DEFAULT_MAX_AGE_MS + 1,
    }),
    info('ahead of the client clock', 'step 7: now = timestamp - maxSkew - 1 ms', 'TimestampOutOfWindow', info1, {
      now: ts[0]! - DEFAULT_MAX_SKEW_MS - 1,
    }),
    info(
      'a one-day window',
      'step 7: the app sets maxAgeMs to one day; the bundle is one day and 1 ms old',
      'TimestampOutOfWindow',
      info1,
      { now: ts[0]! + DAY_MS + 1, trust: { ...trust, maxAgeMs: DAY_MS } },
    ),
    info(
      'rollback to epoch 1 after epoch 3',
      'step 8: a replayed old bundle, to a client at epoch 3',
      'StaleEpoch',
      info1,
      { state: s3 },
    ),
    info(
      'another digest at the accepted epoch',
      'step 8: the client accepted a split view of epoch 1 (a ' +
        'substituted channel key) and is now served the real epoch 1',
      'LogEquivocation',
      info1,
      {
        state: accept(substitutedInfo, s0),
      },
    ),
    info(
      'a retiring role required at epoch 1',
      'step 9: requiredRoles includes retiring-channel, which epoch 1 does not have',
      'MissingRole',
      info1,
      { trust: { ...trust, requiredRoles: ['channel', 'opaque-server', 'retiring-channel'] } },
    ),
    info('no channel key', 'step 9: a signed artifact without the channel role', 'MissingRole', noChannel),
    info(
      'no channel key, no role required',
      'step 9: requiredRoles is empty, but a session needs the channel and opaque-server keys',
      'MissingRole',
      noChannel,
      { trust: { ...trust, requiredRoles: [] } },
    ),
    // step 10: the tree head and the proofs
    tampered(
      'tree head signed by another key',
      'step 10: the right root, signed by a key the client does not pin',
      'WitnessSignatureInvalid',
      (x) => (x.treeHead = publishElsewhere(a1, stranger, d.operator, ts[0]!).treeHead),
    ),
    tampered(
      'tree head signature altered',
      'step 10: one bit of the tree head signature',
      'WitnessSignatureInvalid',
      (x) => (x.treeHead.signature = flipLastHexDigit(x.treeHead.signature)),
    ),
    tampered(
      'tree head of another namespace',
      'step 10: the witness signed the same root for another namespace',
      'NamespaceMismatch',
      (x) => (x.treeHead = signDocument(d.witness, { ...info1.treeHead.body, namespace: OTHER_NAMESPACE })),
    ),
    info(
      'superseded bundle',
      'step 10: epoch 1 served with the head of size 3: the log already holds newer epochs',
      'StaleEpoch',
      serve(1, { treeSize: 3 }),
    ),
    info(
      'inclusion proof altered',
      'step 10: one bit of the inclusion proof of epoch 3 in the head of size 3',
      'InclusionProofInvalid',
      edited(serve(3), (x) => (x.inclusionProof[0] = flipLastHexDigit(x.inclusionProof[0]))),
    ),
    tampered(
      'inclusion proof with an extra hash',
      'step 10: the proof of leaf 0 in a tree of size 1 is empty',
      'InclusionProofInvalid',
      (x) => x.inclusionProof.push(x.treeHead.body.rootHash),
    ),
    tampered(
      'head of a split view',
      'step 10: a head the witness signed over another log of size 1 ' +
        '(the same artifact at another timestamp): the bundle is not in it',
      'InclusionProofInvalid',
      (x) => (x.treeHead = split.treeHead),
    ),
    info(
      'no consistency proof',
      'step 10: epoch 3 to a client holding the head of size 1, without a consistency proof',
      'ConsistencyProofInvalid',
      serve(3),
      { state: s1 },
    ),
    info(
      'consistency proof altered',
      'step 10: one bit of the consistency proof from size 1 to 3',
      'ConsistencyProofInvalid',
      edited(
        serve(3, { knownTreeSize: 1 }),
        (x) => (x.consistency.proof[0] = flipLastHexDigit(x.consistency.proof[0])),
      ),
      { state: s1 },
    ),
    info(
      'consistency proof from the wrong size',
      'step 10: the proof is from size 2, the client holds size 1',
      'ConsistencyProofInvalid',
      serve(3, { knownTreeSize: 2 }),
      { state: s1 },
    ),
    info(
      'equivocating tree heads',
      'step 10: the witness signed epoch 1 again at another timestamp, ' +
        'in another log of size 1; the client holds the real head of size 1',
      'LogEquivocation',
      split,
      { state: s1, now: now(1) },
    ),
    // step 11: attestations
    info(
      'wrong vendor root',
      'step 11: the pinned vendor root did not certify the attestation key',
      'AttestationInvalid',
      info1,
      { trust: { ...vendorTrust, vendorRoot: trust.witnessKey } },
    ),
    info(
      'attestation signature altered',
      "step 11: one bit of a replica's key statement, in an artifact signed by the witness and the operator",
      'AttestationInvalid',
      publishElsewhere(alteredAttestation, d.witness, d.operator, splitTs),
      { trust: vendorTrust },
    ),
    info(
      'key substitution, no vendor root',
      'a channel key nobody attested, signed by the witness and ' +
        'counter-signed by the operator: without step 11 the client cannot tell',
      'valid',
      substitutedInfo,
    ),
    info(
      'key substitution, vendor root pinned',
      "step 11: the artifact's channel key is not the one its replica attests",
      'EvidenceInvalid',
      substitutedInfo,
      { trust: vendorTrust },
    ),
    info(
      'an extractable key attested',
      'step 11: the vendor attests the channel key with CKA_EXTRACTABLE',
      'KeyExtractable',
      publishElsewhere(withExtractableChannelKey(a1, d), d.witness, d.operator, splitTs),
      { trust: vendorTrust },
    ),
    info(
      'a bincode namespace',
      'epoch 1 published by a witness whose namespace has ciphersuite 0x0002: the client accepts both',
      'valid',
      publishElsewhere(a1, d.witness, d.operator, ts[0]!, { ciphersuite: 2 }),
    ),
    // a bare bundle (no tree head): steps 1-9 and 11
    bare('bare bundle of epoch 1', 'validateBundle: the state keeps its tree head', 'valid', s0),
    bare('bare bundle, rollback', 'step 8 for a client at epoch 3', 'StaleEpoch', s3),
    bare(
      'bare bundle, another digest at the accepted epoch',
      'step 8 for a client that accepted the substituted epoch 1',
      'LogEquivocation',
      accept(substitutedInfo, s0),
    ),
    // pinned mode
    pinned('pins only', 'no artifact served: the context is the pins', 'valid'),
    pinned(
      'the pinned artifact served',
      "the served artifact's channel and OPAQUE server keys are the pinned ones",
      'valid',
      { servedArtifact: a1 },
    ),
    pinned('the next fleet served', "fleet-2's artifact to an app that pins fleet-1", 'KeyNotPinned', {
      servedArtifact: d.bundles[2]!.artifact,
    }),
    pinned(
      'a substituted channel key served',
      'the served artifact carries a channel key nobody pinned',
      'KeyNotPinned',
      { servedArtifact: substituted },
    ),
    pinned('served artifact not canonical', 'the pinned artifact, pretty-printed', 'MalformedMessage', {
      servedArtifact: pretty,
    }),
    pinned('an all-zero channel key pinned', 'the channel key must be an X25519 public key', 'InvalidPoint', {
      pins: { ...pins, channelKey: '00'.repeat(32) },
    }),
    pinned(
      'an OPAQUE server key that is not a point',
      '32 bytes 0xff do not decode as a ristretto255 element',
      'InvalidPoint',
      { pins: { ...pins, opaqueServerKey: 'ff'.repeat(32) } },
    ),
    // the witness log's rules
    log(
      'the witness log',
      'the three entries of the deployment; the result is the RFC 9162 root over them',
      'valid',
      entries,
    ),
    log('an epoch repeated', 'the second entry says epoch 1 again', 'StaleEpoch', [
      entries[0]!,
      { ...entries[1]!, epoch: 1 },
    ]),
    log('an epoch skipped', 'epoch 1, then epoch 3', 'LogInconsistent', [entries[0]!, entries[2]!]),
    log('a digest republished', "epoch 2 carries epoch 1's digest", 'LogInconsistent', [
      entries[0]!,
      { ...entries[1]!, digest: entries[0]!.digest },
    ]),
    log('a timestamp going back', 'epoch 2 is 1 ms before epoch 1', 'LogInconsistent', [
      entries[0]!,
      { ...entries[1]!, timestamp: entries[0]!.timestamp - 1 },
    ]),
    log('an entry of another namespace', 'epoch 2 of another namespace', 'NamespaceMismatch', [
      entries[0]!,
      { ...entries[1]!, namespace: OTHER_NAMESPACE },
    ]),
    log(
      'an entry of another ciphersuite',
      'epoch 2 in bincode in a protobuf namespace: it does not decode as protobuf',
      'MalformedMessage',
      [entries[0]!, entries[1]!],
      [toHex(encodeStatement(entries[0]!)), toHex(encodeStatement({ ...entries[1]!, ciphersuite: 2 }))],
    ),
    log(
      'a first epoch that is not the root',
      "epoch 1 with epoch 2's digest: the namespace root names another",
      'LogInconsistent',
      [{ ...entries[0]!, digest: entries[1]!.digest }],
    ),
    log(
      'an entry not canonical',
      'epoch 1 with a non-minimal varint (version as 81 00)',
      'MalformedMessage',
      [entries[0]!],
      [`088100${toHex(encodeStatement(entries[0]!)).slice(4)}`],
    ),
    ...statementCases(),
  ];
}

export function generateBundleVectors(): BundleVector[] {
  return cases(deployWorld()).map(({ want, ...inputs }) => {
    const v = runBundleVector(inputs);
    const got = v.valid ? 'valid' : v.code;
    if (got !== want) throw new Error(`bundle vector "${inputs.name}" was written to show ${want}, bkv says ${got}`);
    return { ...inputs, ...v } as BundleVector;
  });
}
