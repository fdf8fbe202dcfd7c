/**
 * A whole deployment history, as `bkv fleet deploy` writes it (spec ch. 7, "Rotation"): the
 * parties (vendor, witness, operator), an initial fleet published at epoch 1, and then each
 * rotation in two epochs: the new fleet with the old one's keys as `retiring-*` (records move),
 * then the new fleet alone (the old one is retired).
 *
 *   epoch 1   fleet-1                                 deployed, published
 *   epoch 2   fleet-2 + retiring keys of fleet-1       after `rotationAfterMs`
 *   epoch 3   fleet-2                                 after `migrationWindowMs`
 *
 * The result is plain data (`DeploymentRecord`: what an auditor reads, see files.ts) plus the live
 * parties and replica HSMs, so that tests and the demo can run vaults on the deployed replicas.
 * `deployFleets` is the operator's half alone (ceremonies and artifacts, each handed to a
 * publisher as it is made): `runDeployment` publishes through a witness log in this process,
 * `bkv fleet deploy --witness URL` through a witness service (witness-client.ts).
 * @module
 */
import { type Rng, toHex } from '../crypto/bytes.ts';
import { NOISE_NK_25519_AESGCM_SHA256 } from '../crypto/noise.ts';
import type { Suite } from '../crypto/suite.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { type FleetArtifact, computeArtifactDigest, createArtifact, encodeArtifact } from './artifact.ts';
import { type Vendor, createVendor } from './attestation.ts';
import type { Bundle } from './bundle.ts';
import { type DeployedFleet, deployFleet } from './ceremony.ts';
import type { DeploymentEvidence, KeyTransport } from './evidence.ts';
import { type FleetInfo, serveFleetInfo } from './fleet-info.ts';
import { type SignedTreeHead, WitnessLog } from './log.ts';
import { publishArtifact } from './operator.ts';
import { type Signer, hsmSigner } from './signing.ts';
import { type Ciphersuite, encodeStatement, formatRoot } from './statement.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The keys every auditor and app pins (roots.json). */
export interface PinnedRoots {
  readonly namespace: string;
  readonly witnessKey: string;
  readonly operatorKey: string;
  readonly vendorRoot: string;
}

/**
 * The witness log as published (log.json): its namespace, ciphersuite and root, its entries (the
 * statements' bytes, hex) and every tree head with its consistency proof from the previous one.
 */
export interface PublishedLog {
  readonly namespace: string;
  readonly ciphersuite: Ciphersuite;
  readonly root: string;
  readonly entries: readonly string[];
  readonly heads: readonly { readonly treeHead: SignedTreeHead; readonly consistencyProof: readonly string[] }[];
}

/** Everything an auditor reads. */
export interface DeploymentRecord {
  readonly roots: PinnedRoots;
  readonly log: PublishedLog;
  /** Per epoch, the fleet info as served at that epoch (its tree head has size = epoch). */
  readonly bundles: readonly FleetInfo[];
  readonly evidence: readonly DeploymentEvidence[];
}

/** The live parties of a deployment (for tests and the demo). */
export interface Deployment {
  readonly record: DeploymentRecord;
  readonly fleets: readonly DeployedFleet[];
  readonly artifacts: readonly FleetArtifact[];
  readonly bundles: readonly Bundle[];
  readonly log: WitnessLog;
  readonly vendor: Vendor;
  /** The witness's log-signing key (the log's signer), e.g. to sign what a misbehaving witness would. */
  readonly witness: Signer;
  readonly operator: Signer;
}

export interface FleetDeploymentOptions {
  readonly namespace: string;
  readonly suite: Suite;
  /** Replicas per fleet. */
  readonly replicas: number;
  /** Fleets to deploy: 1 (no rotation) or more (each after the first is a rotation). */
  readonly fleets?: number;
  /**
   * The HSM of replica `index` of fleet `fleetId`, and the prefix of its key labels there (so that
   * several replicas can share a token, each under its own prefix).
   */
  readonly openReplica: (fleetId: string, index: number) => { hsm: Hsm; prefix: string };
  /** The operator's HSM and the label of its counter-signing key. */
  readonly operator: { readonly hsm: Hsm; readonly label: string };
  /** The vendor's HSM (an independent party). */
  readonly vendorHsm: Hsm;
  readonly rng: Rng;
  /** The simulated clock's start, in ms since the Unix epoch; it advances as the story goes. */
  readonly startTime: number;
  readonly rotationAfterMs?: number;
  readonly migrationWindowMs?: number;
  readonly transport?: KeyTransport;
  /** Called after each step, for the CLI's narration. */
  readonly onStep?: (line: string) => void;
}

export interface DeploymentOptions extends FleetDeploymentOptions {
  /** The witness's HSM (an independent party). */
  readonly witnessHsm: Hsm;
  /** The namespace's ciphersuite (default 0x0001, protobuf Ed25519). */
  readonly ciphersuite?: Ciphersuite;
}

/** The operator's side of a deployment: the parties it needs, its fleets and their artifacts. */
export interface DeployedFleets {
  readonly vendor: Vendor;
  readonly operator: Signer;
  readonly fleets: readonly DeployedFleet[];
  readonly artifacts: readonly FleetArtifact[];
}

/**
 * Deploys `fleets` fleets (default 2) and makes their artifacts (see the module header), handing
 * each artifact to `publish` as soon as it is made, in epoch order.
 */
export function deployFleets(
  o: FleetDeploymentOptions,
  publish: (artifact: FleetArtifact, operator: Signer) => void = () => {},
): DeployedFleets {
  const fleetCount = o.fleets ?? 2;
  if (!Number.isInteger(fleetCount) || fleetCount < 1)
    throw new VaultError('InvalidParameter', `"fleets" expected an integer >= 1, got ${fleetCount}`);
  if (!Number.isInteger(o.replicas) || o.replicas < 1)
    throw new VaultError('InvalidParameter', `"replicas" expected an integer >= 1, got ${o.replicas}`);
  const say = o.onStep ?? (() => {});
  let now = o.startTime;
  const vendor = createVendor(o.vendorHsm);
  const operator = hsmSigner(o.operator.hsm, o.operator.label);
  const fleets: DeployedFleet[] = [];
  const artifacts: FleetArtifact[] = [];
  const make = (artifact: FleetArtifact) => {
    artifacts.push(artifact);
    publish(artifact, operator);
  };
  for (let f = 1; f <= fleetCount; f++) {
    const fleetId = `fleet-${f}`;
    if (f > 1) now += o.rotationAfterMs ?? 2 * 365 * DAY_MS;
    const replicas = Array.from({ length: o.replicas }, (_, i) => ({ id: `r${i}`, ...o.openReplica(fleetId, i) }));
    const fleet = deployFleet({
      namespace: o.namespace,
      fleetId,
      suite: o.suite,
      replicas,
      vendor,
      rng: o.rng,
      ...(o.transport !== undefined && { transport: o.transport }),
    });
    fleets.push(fleet);
    say(
      `${fleetId}: ${o.replicas} replicas deployed (${fleet.evidence.transport}), ` +
        `${fleet.evidence.events.length + o.replicas * 6} attested statements`,
    );
    const previous = artifacts.at(-1);
    const channelProtocol = NOISE_NK_25519_AESGCM_SHA256.protocolName;
    const retiring = previous !== undefined && { retiring: previous };
    make(createArtifact(fleet.evidence, { issuedAt: now, channelProtocol, ...retiring }));
    if (previous !== undefined) {
      now += o.migrationWindowMs ?? 90 * DAY_MS;
      make(createArtifact(fleet.evidence, { issuedAt: now, channelProtocol }));
    }
  }
  return { vendor, operator, fleets, artifacts };
}

/** One line of narration per published epoch. */
export function describePublication(artifact: FleetArtifact, b: Bundle): string {
  const rotating = artifact.keys.some((k) => k.role.startsWith('retiring-'));
  const retiring = rotating ? ' (+ retiring keys of the previous fleet)' : '';
  const r = b.report;
  const signed = `signed by the auditor (key id ${r?.key_id}) and counter-signed`;
  return `epoch ${r?.epoch}: ${artifact.fleetId}${retiring}, digest ${r?.digest.slice(0, 16)}…, ${signed}`;
}

/**
 * Deploys the fleets and publishes their epochs through a witness log in this process; the
 * witness signs at the artifact's `issuedAt`.
 */
export function runDeployment(o: DeploymentOptions): Deployment {
  const witness = hsmSigner(o.witnessHsm, 'witness/log-signing');
  const bundles: Bundle[] = [];
  const served: FleetInfo[] = [];
  let log: WitnessLog | undefined;
  let now = o.startTime;
  const parties = deployFleets(o, (artifact, operator) => {
    const text = encodeArtifact(artifact);
    now = artifact.issuedAt;
    const root = formatRoot(1, toHex(computeArtifactDigest(text)));
    const suite = o.ciphersuite !== undefined && { ciphersuite: o.ciphersuite };
    log ??= new WitnessLog(o.namespace, witness, () => now, { root, ...suite });
    const bundle = publishArtifact(text, log, operator);
    bundles.push(bundle);
    served.push(serveFleetInfo(log, bundle));
    o.onStep?.(describePublication(artifact, bundle));
  });
  const { vendor, fleets, artifacts } = parties;
  const published = log!;
  const heads = published.getHeads();
  const record: DeploymentRecord = {
    roots: {
      namespace: o.namespace,
      witnessKey: toHex(witness.publicKey),
      operatorKey: toHex(parties.operator.publicKey),
      vendorRoot: toHex(vendor.rootKey),
    },
    log: {
      namespace: o.namespace,
      ciphersuite: published.rules.ciphersuite,
      root: published.rules.root!,
      entries: published.getStatements().map((s) => toHex(encodeStatement(s))),
      heads: heads.map((treeHead, i) => ({
        treeHead,
        consistencyProof: i === 0 ? [] : published.getConsistencyProof(i, treeHead.body.treeSize),
      })),
    },
    bundles: served,
    evidence: fleets.map((f) => f.evidence),
  };
  return { record, fleets, artifacts, bundles, log: published, vendor, witness, operator: parties.operator };
}
