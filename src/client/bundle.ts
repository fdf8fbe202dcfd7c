/**
 * How a client comes to trust a fleet (spec ch. 7, "Client validation"): the two modes of the
 * public description, each a pure function that returns the `ClientContext` a session needs, or
 * throws a `VaultError` with one closed code per refusal and leaves the caller's state as it was.
 *
 * Pinned (WhatsApp): the app carries the fleet's channel and OPAQUE server keys. If the vault
 * serves a bundle anyway, its keys must be the pinned ones (`KeyNotPinned`).
 *
 * Over the air (Messenger): the app pins the witness key, the operator key and its namespace, and
 * keeps the highest epoch it has accepted. A bundle is accepted when, in this order:
 *   1. both signatures are there (the auditor's report, the counter-signature)
 *                                                    BundleUnsigned / WitnessSignatureInvalid /
 *                                                    OperatorSignatureInvalid
 *   2. SHA-256(artifact) is the report's digest       DigestMismatch
 *   3. the artifact is well formed                    MalformedMessage
 *   4. the auditor signed {namespace, timestamp, epoch, digest} (its wire format, its key id,
 *      strict Ed25519), for the artifact's namespace  WitnessSignatureInvalid / NamespaceMismatch
 *   5. the operator counter-signed the auditor's signature        OperatorSignatureInvalid
 *   6. the namespace is the app's                     NamespaceMismatch
 *   7. now - maxAge <= timestamp <= now + maxSkew     TimestampOutOfWindow
 *   8. epoch >= the highest accepted; at the same epoch, the same digest
 *                                                    StaleEpoch / LogEquivocation
 *   9. the required roles are there                   MissingRole
 *  10. with a tree head (`validateFleetInfo`): the head is the witness's, the bundle is its last
 *      leaf (a newer epoch supersedes it), the inclusion proof holds, and the head is consistent
 *      with the last head accepted               WitnessSignatureInvalid / StaleEpoch /
 *                                                InclusionProofInvalid / ConsistencyProofInvalid /
 *                                                LogEquivocation (with the two heads as evidence)
 *  11. optionally, the replicas' attestations chain to the pinned vendor root
 *                                                AttestationInvalid / KeyExtractable / EvidenceInvalid
 * Steps 1-5 are `verifyBundle` (src/fleet/bundle.ts), shared with the auditor. A bundle in any
 * other format than the auditor's report with a counter-signature is `MalformedMessage` at decoding.
 * @module
 */
import { type Bytes, ctEqual, fromHex } from '../crypto/bytes.ts';
import type { Ksf } from '../crypto/ksf.ts';
import { getNoiseSuite } from '../crypto/noise.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { VaultError } from '../errors.ts';
import {
  type FleetArtifact,
  type FleetRole,
  SESSION_ROLES,
  decodeArtifact,
  getRoleKey,
  verifyArtifactAttestations,
} from '../fleet/artifact.ts';
import { type Bundle, verifyBundle } from '../fleet/bundle.ts';
import type { FleetInfo } from '../fleet/fleet-info.ts';
import { type SignedTreeHead, checkTreeHeadAgainst, verifyStatementInclusion, verifyTreeHead } from '../fleet/log.ts';
import type { WitnessStatement } from '../fleet/statement.ts';
import { PROLOGUE } from '../vault/node.ts';
import type { BkvClient } from './client.ts';
import type { ClientContext, Outcome } from './session.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;
/** Default window: a bundle older than this is refused; the operator publishes a fresh epoch well before. */
export const DEFAULT_MAX_AGE_MS = 30 * DAY_MS;
/** Default tolerance for a witness clock ahead of the client's. */
export const DEFAULT_MAX_SKEW_MS = 10 * 60 * 1000;

/** What a Messenger-style app pins. */
export interface BundleTrust {
  readonly namespace: string;
  readonly witnessKey: Bytes;
  readonly operatorKey: Bytes;
  /** When given, the artifact's replica attestations are checked against this vendor root. */
  readonly vendorRoot?: Bytes;
  /** Default: channel and opaque-server. */
  readonly requiredRoles?: readonly FleetRole[];
  readonly maxAgeMs?: number;
  readonly maxSkewMs?: number;
}

/** What the client keeps between validations (persisted with the app's data). */
export interface ClientFleetState {
  readonly highestEpoch: number;
  /** The digest of the bundle accepted at `highestEpoch`. */
  readonly highestDigest: string | null;
  /** The largest witness tree head accepted. */
  readonly treeHead: SignedTreeHead | null;
}

export const INITIAL_CLIENT_FLEET_STATE: ClientFleetState = { highestEpoch: 0, highestDigest: null, treeHead: null };

/**
 * The witness tree head this client has seen, as the JSON an auditor passes to `bkv audit --head`
 * (spec ch. 8): an audit directory that stops before it is refused. A client that has accepted no
 * bundle has no head (`InvalidParameter`).
 */
export function exportTreeHead(state: ClientFleetState): string {
  if (state.treeHead === null) {
    throw new VaultError('InvalidParameter', 'this client has accepted no bundle yet: no tree head to export');
  }
  return JSON.stringify(state.treeHead);
}

/** Client-side protocol settings that are not the fleet's to choose. */
export interface ContextOptions {
  /** The KSF (default Identity; the app's Argon2id parameters in production). */
  readonly ksf?: Ksf;
  /** RFC 9807 context string (default empty). */
  readonly context?: Bytes;
}

export interface ValidatedFleet {
  readonly context: ClientContext;
  /** During a rotation: the retiring fleet, which still holds the records not moved yet. */
  readonly retiring?: ClientContext;
  readonly artifact: FleetArtifact;
  readonly epoch: number;
  readonly state: ClientFleetState;
}

function buildContext(
  suiteId: SuiteId,
  channelProtocol: string,
  channelKey: Bytes,
  opaqueServerKey: Bytes,
  o: ContextOptions,
): ClientContext {
  const suite = getSuite(suiteId, o.ksf);
  suite.group.checkPublicKey(opaqueServerKey, 'opaque-server key');
  if (channelKey.length !== 32 || channelKey.every((b) => b === 0))
    throw new VaultError('InvalidPoint', 'channel key is not an X25519 public key');
  return {
    params: { suite, context: o.context ?? new Uint8Array(0) },
    noise: getNoiseSuite(channelProtocol),
    prologue: PROLOGUE,
    channelKey,
    opaqueServerKey,
  };
}

function contextFromArtifact(
  a: FleetArtifact,
  channel: FleetRole,
  opaque: FleetRole,
  o: ContextOptions,
): ClientContext | undefined {
  const c = getRoleKey(a, channel);
  const s = getRoleKey(a, opaque);
  if (c === undefined || s === undefined) return undefined;
  return buildContext(a.suite, a.channelProtocol, fromHex(c.key.publicKey!), fromHex(s.key.publicKey!), o);
}

function checkWindow(timestamp: number, now: number, trust: BundleTrust): void {
  const maxAge = trust.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const maxSkew = trust.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (timestamp < now - maxAge)
    throw new VaultError(
      'TimestampOutOfWindow',
      `bundle timestamp ${new Date(timestamp).toISOString()} is ` +
        `older than ${maxAge} ms before ${new Date(now).toISOString()}`,
    );
  if (timestamp > now + maxSkew)
    throw new VaultError(
      'TimestampOutOfWindow',
      `bundle timestamp ${new Date(timestamp).toISOString()} is more ` +
        `than ${maxSkew} ms ahead of ${new Date(now).toISOString()}`,
    );
}

function checkEpoch(s: WitnessStatement, state: ClientFleetState): void {
  if (s.epoch < state.highestEpoch)
    throw new VaultError(
      'StaleEpoch',
      `epoch ${s.epoch} is below the highest accepted, ${state.highestEpoch} (rollback or replay)`,
    );
  if (
    s.epoch === state.highestEpoch &&
    state.highestDigest !== null &&
    !ctEqual(fromHex(s.digest), fromHex(state.highestDigest))
  ) {
    throw new VaultError('LogEquivocation', `two witness-signed bundles for epoch ${s.epoch} with different digests`);
  }
}

/** Steps 1-9 and 11; returns the verified parts for step 10. */
function validate(bundle: Bundle, trust: BundleTrust, state: ClientFleetState, now: number, o: ContextOptions) {
  const { artifact, statement } = verifyBundle(bundle, { witness: trust.witnessKey, operator: trust.operatorKey });
  if (statement.namespace !== trust.namespace) {
    const why = `bundle of namespace "${statement.namespace}", the app's is "${trust.namespace}"`;
    throw new VaultError('NamespaceMismatch', why);
  }
  checkWindow(statement.timestamp, now, trust);
  checkEpoch(statement, state);
  for (const role of trust.requiredRoles ?? SESSION_ROLES) {
    if (getRoleKey(artifact, role) === undefined)
      throw new VaultError('MissingRole', `artifact of ${artifact.fleetId} has no ${role} key`);
  }
  if (trust.vendorRoot !== undefined) verifyArtifactAttestations(artifact, trust.vendorRoot);
  const context = contextFromArtifact(artifact, 'channel', 'opaque-server', o);
  if (context === undefined)
    throw new VaultError('MissingRole', `artifact of ${artifact.fleetId} lacks the channel or opaque-server key`);
  const retiring = contextFromArtifact(artifact, 'retiring-channel', 'retiring-opaque-server', o);
  return { artifact, statement, context, ...(retiring !== undefined && { retiring }) };
}

/** Over the air, a bare bundle (no log proof): steps 1-9 and 11. */
export function validateBundle(
  bundle: Bundle,
  trust: BundleTrust,
  state: ClientFleetState,
  now: number,
  o: ContextOptions = {},
): ValidatedFleet {
  const v = validate(bundle, trust, state, now, o);
  const { epoch, digest } = v.statement;
  return { ...v, epoch, state: { highestEpoch: epoch, highestDigest: digest, treeHead: state.treeHead } };
}

/** Over the air, the bundle with its tree head and proofs (what the vault serves): steps 1-11. */
export function validateFleetInfo(
  info: FleetInfo,
  trust: BundleTrust,
  state: ClientFleetState,
  now: number,
  o: ContextOptions = {},
): ValidatedFleet {
  const v = validate(info.bundle, trust, state, now, o);
  const head = verifyTreeHead(info.treeHead, trust.witnessKey, trust.namespace);
  if (head.treeSize > v.statement.epoch)
    throw new VaultError(
      'StaleEpoch',
      `epoch ${v.statement.epoch} is superseded: the witness log already holds ${head.treeSize} epochs`,
    );
  verifyStatementInclusion(v.statement, info.inclusionProof, head);
  let treeHead = info.treeHead;
  if (state.treeHead !== null) {
    const known = state.treeHead.body.treeSize;
    if (known !== head.treeSize && info.consistency?.fromSize !== Math.min(known, head.treeSize)) {
      throw new VaultError(
        'ConsistencyProofInvalid',
        `no consistency proof between the accepted tree size ${known} and ${head.treeSize}`,
      );
    }
    checkTreeHeadAgainst(state.treeHead, info.treeHead, info.consistency?.proof);
    if (known > head.treeSize) treeHead = state.treeHead;
  }
  const { epoch, digest } = v.statement;
  return { ...v, epoch, state: { highestEpoch: epoch, highestDigest: digest, treeHead } };
}

/** What a WhatsApp-style app pins. */
export interface PinnedFleet {
  readonly suite: SuiteId;
  readonly channelProtocol: string;
  readonly channelKey: Bytes;
  readonly opaqueServerKey: Bytes;
}

/**
 * Pinned mode: the context from the pins. When the vault serves a bundle's artifact, its channel
 * and OPAQUE server keys must be the pinned ones (`KeyNotPinned`); no signature is needed, since
 * nothing is taken from it.
 */
export function validatePinned(
  pins: PinnedFleet,
  servedArtifact: string | undefined,
  o: ContextOptions = {},
): ClientContext {
  if (servedArtifact !== undefined) {
    const a = decodeArtifact(servedArtifact);
    for (const [role, pinned] of [
      ['channel', pins.channelKey],
      ['opaque-server', pins.opaqueServerKey],
    ] as const) {
      const k = getRoleKey(a, role);
      if (k === undefined || k.key.publicKey === undefined || !ctEqual(fromHex(k.key.publicKey), pinned)) {
        throw new VaultError('KeyNotPinned', `the served ${role} key is not the pinned one`);
      }
    }
  }
  return buildContext(pins.suite, pins.channelProtocol, pins.channelKey, pins.opaqueServerKey, o);
}

/** The pins an app would ship for a fleet, read from its artifact. */
export function computePins(artifactText: string): PinnedFleet {
  const a = decodeArtifact(artifactText);
  const c = getRoleKey(a, 'channel');
  const s = getRoleKey(a, 'opaque-server');
  if (c === undefined || s === undefined)
    throw new VaultError('MissingRole', `artifact of ${a.fleetId} lacks the channel or opaque-server key`);
  return {
    suite: a.suite,
    channelProtocol: a.channelProtocol,
    channelKey: fromHex(c.key.publicKey!),
    opaqueServerKey: fromHex(s.key.publicKey!),
  };
}

/**
 * Rotation (spec ch. 7, "Rotation"): the record moves by re-registration on the next successful
 * recovery. Recover K from the retiring fleet (where the record still is); on success, register K
 * under the same password on the new fleet, which starts a new guess budget there. A failed
 * recovery moves nothing; a failed re-registration leaves the record where it was, to move on the
 * next recovery.
 */
export async function moveRecordOnRecovery(
  retiring: BkvClient,
  current: BkvClient,
  credentialId: Bytes,
  password: Bytes,
): Promise<Outcome<Bytes>> {
  const recovered = await retiring.recover(credentialId, password);
  if (!recovered.ok) return recovered;
  const registered = await current.register(credentialId, password, recovered.value);
  return registered.ok ? recovered : registered;
}
