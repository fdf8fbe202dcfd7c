/**
 * The fleet-key artifact (spec ch. 7, "The fleet-key artifact"): the JSON document a bundle
 * carries, and its digest SHA-256(bytes). It is canonical JSON (src/crypto/canonical.ts) with its
 * `keys` sorted, so one artifact has exactly one encoding and one digest:
 *
 *   { "certificates": [vendor certificates],
 *     "channelProtocol": "Noise_NK_25519_AESGCM_SHA256",
 *     "fleetId": "fleet-2",
 *     "issuedAt": 1767225600000,
 *     "keys": [ { "fleetId", "key": { "kind", "publicKey" | "kcv" }, "role", "replica"? }, ... ],
 *     "namespace": "bkv.messenger",
 *     "replicas": [ { "id", "attestations": [final key statements] }, ... ],
 *     "suite": "ristretto255-SHA512" }
 *
 * Roles: `channel` (Noise NK responder static key), `opaque-server` (RFC 9807 server AKE key),
 * `oprf-seed` (by its KCV: lets an auditor see the seed is the same on every replica and across
 * epochs), `replica-identity` (one per replica), and, during a rotation, `retiring-channel` and
 * `retiring-opaque-server`: the keys of the previous fleet, which still holds the records that
 * have not moved yet (spec ch. 7, "Rotation"); a rotation keeps the suite, so retiring keys have
 * the kinds of the artifact's suite. `issuedAt` makes every publication a new artifact (the log
 * refuses a digest twice).
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Bytes, utf8 } from '../crypto/bytes.ts';
import { canonicalJson, parseCanonicalJson } from '../crypto/canonical.ts';
import { SUITE_IDS, type SuiteId } from '../crypto/suite.ts';
import { VaultError } from '../errors.ts';
import {
  type KeyFingerprint,
  type VendorCertificate,
  decodeFingerprint,
  describeFingerprint,
  verifyCertificates,
} from './attestation.ts';
import {
  type DeploymentEvidence,
  type ReplicaRecord,
  type VerifiedFleet,
  decodeCertificates,
  decodeReplicaRecords,
  expectedKinds,
  verifyReplicaStatements,
} from './evidence.ts';
import { NAME, malformed, readArray, readChoice, readInt, readObject, readString } from './json.ts';

export const FLEET_ROLES = [
  'channel',
  'opaque-server',
  'oprf-seed',
  'replica-identity',
  'retiring-channel',
  'retiring-opaque-server',
] as const;
export type FleetRole = (typeof FLEET_ROLES)[number];
/** Roles that name a key of another (the previous) fleet. */
export const RETIRING_ROLES: readonly FleetRole[] = ['retiring-channel', 'retiring-opaque-server'];
/** What a client needs to open a session: the default required roles. */
export const SESSION_ROLES: readonly FleetRole[] = ['channel', 'opaque-server'];

export interface FleetKey {
  readonly role: FleetRole;
  /** The fleet the key belongs to. */
  readonly fleetId: string;
  readonly key: KeyFingerprint;
  /** `replica-identity` only. */
  readonly replica?: string;
}

export interface FleetArtifact {
  readonly namespace: string;
  readonly fleetId: string;
  readonly suite: SuiteId;
  readonly channelProtocol: string;
  /** Milliseconds since the Unix epoch. */
  readonly issuedAt: number;
  readonly keys: readonly FleetKey[];
  readonly replicas: readonly ReplicaRecord[];
  readonly certificates: readonly VendorCertificate[];
}

function sortKeys(keys: readonly FleetKey[]): FleetKey[] {
  return [...keys].sort((a, b) => (canonicalJson(a) < canonicalJson(b) ? -1 : 1));
}

/** The keys a fleet's own final statements give it (its genesis replica's are the fleet's, ch. 7 rule 6). */
function ownKeys(fleetId: string, replicas: readonly ReplicaRecord[]): FleetKey[] {
  const keys: FleetKey[] = [];
  replicas.forEach((r, i) => {
    for (const st of r.attestations) {
      const b = st.body;
      if (b.event !== 'key') continue;
      const name = b.label.slice(b.label.lastIndexOf('/') + 1);
      if (name === 'identity') keys.push({ role: 'replica-identity', fleetId, key: b.key, replica: r.id });
      if (i === 0 && (name === 'channel' || name === 'opaque-server' || name === 'oprf-seed'))
        keys.push({ role: name, fleetId, key: b.key });
    }
  });
  return keys;
}

export interface ArtifactOptions {
  readonly issuedAt: number;
  readonly channelProtocol: string;
  /** The artifact of the fleet being retired: its channel and OPAQUE server keys stay, as retiring-*. */
  readonly retiring?: FleetArtifact;
}

/** The artifact of a deployed fleet (from its evidence). */
export function createArtifact(evidence: DeploymentEvidence, o: ArtifactOptions): FleetArtifact {
  const retiring = (o.retiring?.keys ?? [])
    .filter((k) => k.role === 'channel' || k.role === 'opaque-server')
    .map(
      (k): FleetKey => ({
        role: k.role === 'channel' ? 'retiring-channel' : 'retiring-opaque-server',
        fleetId: k.fleetId,
        key: k.key,
      }),
    );
  return {
    namespace: evidence.namespace,
    fleetId: evidence.fleetId,
    suite: evidence.suite,
    channelProtocol: o.channelProtocol,
    issuedAt: o.issuedAt,
    keys: sortKeys([...ownKeys(evidence.fleetId, evidence.replicas), ...retiring]),
    replicas: evidence.replicas,
    certificates: evidence.certificates,
  };
}

/** The artifact's bytes (as a string): canonical JSON, keys sorted. */
export function encodeArtifact(a: FleetArtifact): string {
  return canonicalJson({ ...a, keys: sortKeys(a.keys) });
}

/** SHA-256 of the artifact's UTF-8 bytes. */
export function computeArtifactDigest(text: string): Bytes {
  return sha256(utf8(text));
}

const SINGLE_ROLES: readonly FleetRole[] = [
  'channel',
  'opaque-server',
  'oprf-seed',
  'retiring-channel',
  'retiring-opaque-server',
];

function decodeFleetKey(x: unknown, path: string): FleetKey {
  const o = readObject(x, path, ['role', 'fleetId', 'key'], ['replica']);
  const role = readChoice(o.role, `${path}.role`, FLEET_ROLES);
  const key: FleetKey = {
    role,
    fleetId: readString(o.fleetId, `${path}.fleetId`, NAME),
    key: decodeFingerprint(o.key, `${path}.key`),
  };
  if (role === 'replica-identity') return { ...key, replica: readString(o.replica, `${path}.replica`, NAME) };
  if (o.replica !== undefined) throw malformed(path, `a ${role} key names no replica`);
  return key;
}

/**
 * Decodes an artifact, refusing ('MalformedMessage') any text that is not the canonical encoding
 * of a well-formed artifact: unknown members, unsorted keys, a role twice, a key of the wrong kind
 * for its role, a retiring key of this fleet.
 */
export function decodeArtifact(text: string, path = 'artifact'): FleetArtifact {
  const o = readObject(parseCanonicalJson(text, path), path, [
    'namespace',
    'fleetId',
    'suite',
    'channelProtocol',
    'issuedAt',
    'keys',
    'replicas',
    'certificates',
  ]);
  const a: FleetArtifact = {
    namespace: readString(o.namespace, `${path}.namespace`, NAME),
    fleetId: readString(o.fleetId, `${path}.fleetId`, NAME),
    suite: readChoice(o.suite, `${path}.suite`, SUITE_IDS),
    channelProtocol: readString(o.channelProtocol, `${path}.channelProtocol`, NAME),
    issuedAt: readInt(o.issuedAt, `${path}.issuedAt`, 0),
    keys: readArray(o.keys, `${path}.keys`).map((k, i) => decodeFleetKey(k, `${path}.keys[${i}]`)),
    replicas: decodeReplicaRecords(o.replicas, `${path}.replicas`),
    certificates: decodeCertificates(o.certificates, `${path}.certificates`),
  };
  if (encodeArtifact(a) !== text) throw malformed(path, 'keys are not in canonical order');
  const kinds = expectedKinds(a.suite);
  for (const k of a.keys) {
    const where = `${path}: ${k.role} key of ${k.fleetId}`;
    const isRetiring = RETIRING_ROLES.includes(k.role);
    if (isRetiring === (k.fleetId === a.fleetId))
      throw malformed(
        path,
        `${where}: ${isRetiring ? 'a retiring key must belong to another fleet' : `expected fleet ${a.fleetId}`}`,
      );
    const base =
      k.role === 'retiring-channel'
        ? 'channel'
        : k.role === 'retiring-opaque-server'
          ? 'opaque-server'
          : k.role === 'replica-identity'
            ? 'identity'
            : k.role;
    if (k.key.kind !== kinds[base]) throw malformed(path, `${where}: kind ${k.key.kind}, expected ${kinds[base]}`);
    if (SINGLE_ROLES.includes(k.role) && a.keys.filter((j) => j.role === k.role).length > 1)
      throw malformed(path, `role ${k.role} appears more than once`);
  }
  return a;
}

export function getRoleKey(a: FleetArtifact, role: FleetRole): FleetKey | undefined {
  return a.keys.find((k) => k.role === role);
}

/**
 * Verifies the artifact's replica attestations under the pinned vendor root, and that its own
 * keys are exactly the attested ones (`AttestationInvalid`, `KeyExtractable`, `EvidenceInvalid`).
 * The client's optional check; the auditor checks the full evidence (evidence.ts) on top.
 */
export function verifyArtifactAttestations(a: FleetArtifact, vendorRoot: Bytes): VerifiedFleet {
  const keys = verifyCertificates(a.certificates, vendorRoot);
  const fleet = verifyReplicaStatements(a.namespace, a.fleetId, a.suite, a.replicas, keys);
  const expected = sortKeys(ownKeys(a.fleetId, a.replicas));
  const own = a.keys.filter((k) => !RETIRING_ROLES.includes(k.role));
  if (canonicalJson(own) !== canonicalJson(expected))
    throw new VaultError('EvidenceInvalid', `artifact ${a.fleetId}: its keys are not the ones its replicas attest`);
  return fleet;
}

/** A key's identity across epochs: role, fleet, replica and fingerprint. */
function keyId(k: FleetKey): string {
  return canonicalJson(k);
}

/** The keys added and removed from one artifact to the next (`prev` null: all added). */
export function diffArtifactKeys(
  prev: FleetArtifact | null,
  next: FleetArtifact,
): { added: FleetKey[]; removed: FleetKey[] } {
  const before = new Map((prev?.keys ?? []).map((k) => [keyId(k), k]));
  const after = new Map(next.keys.map((k) => [keyId(k), k]));
  const order = (ks: FleetKey[]) =>
    ks.sort(
      (a, b) =>
        FLEET_ROLES.indexOf(a.role) - FLEET_ROLES.indexOf(b.role) ||
        a.fleetId.localeCompare(b.fleetId) ||
        (a.replica ?? '').localeCompare(b.replica ?? ''),
    );
  return {
    added: order([...after].filter(([id]) => !before.has(id)).map(([, k]) => k)),
    removed: order([...before].filter(([id]) => !after.has(id)).map(([, k]) => k)),
  };
}

export function describeFleetKey(k: FleetKey): string {
  return `${k.role}${k.replica !== undefined ? ` ${k.replica}` : ''} ${describeFingerprint(k.key)} (${k.fleetId})`;
}
