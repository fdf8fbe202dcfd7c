/**
 * Deployment evidence (spec ch. 7, "Deployment ceremony"; spec ch. 8, step 4): the record a fleet's
 * deployment ceremony publishes, and its verifier. The record is a list of vendor-signed
 * attestations (attestation.ts) in ceremony order, plus each replica's final key statements; the
 * verifier replays the ceremony over them and accepts only if it adds up:
 *
 *   1. every replica attests its transport key (X25519, generated inside, never extractable)
 *   2. the genesis replica attests the fleet secrets it generated, wrappable
 *   3. each secret is wrapped to every replica's attested transport key, and each replica attests
 *      the unwrap of that very blob (same SHA-256) into the same key (same fingerprint)
 *   4. wrap-seed only: each replica derives its channel and OPAQUE server keys from the unwrapped
 *      key seed (HKDF-Expand with fixed info strings) and destroys the seed
 *   5. the genesis replica destroys its wrappable copies
 *   6. finally every replica attests six keys: identity, transport, seal (generated inside,
 *      sensitive, never extractable) and channel, opaque-server, oprf-seed (sensitive, not
 *      extractable), the last three the same on every replica.
 *
 * Refusals: a bad chain or signature, a statement of another fleet or out of sequence is
 * `AttestationInvalid`; an extractable or non-sensitive key in a final statement is
 * `KeyExtractable`; anything that does not add up is `EvidenceInvalid`; a malformed document is
 * `MalformedMessage`.
 * @module
 */
import type { Bytes } from '../crypto/bytes.ts';
import { getSuite, SUITE_IDS, type SuiteId } from '../crypto/suite.ts';
import { VaultError } from '../errors.ts';
import type { KeyKind } from '../hsm/hsm.ts';
import { opaqueServerKeyKind, oprfSeedKind } from '../vault/keys.ts';
import {
  type Attestation,
  type AttestationBody,
  type KeyFingerprint,
  type VendorCertificate,
  decodeAttestation,
  decodeCertificate,
  describeFingerprint,
  isSameKey,
  verifyAttestation,
  verifyCertificates,
} from './attestation.ts';
import { NAME, readArray, readChoice, readConstant, readObject, readString } from './json.ts';

export const EVIDENCE_TYPE = 'bkv/deployment-evidence/v1';

/** How the fleet secrets reach the replicas (spec ch. 7, "Key transport"). */
export type KeyTransport = 'wrap-keys' | 'wrap-seed';
export const KEY_TRANSPORTS: readonly KeyTransport[] = ['wrap-keys', 'wrap-seed'];

/** The keys of a replica, by name; the label of each is `<replica prefix>/<name>`. */
export const DEVICE_KEY_NAMES = ['identity', 'transport', 'seal'] as const;
export const FLEET_KEY_NAMES = ['channel', 'opaque-server', 'oprf-seed'] as const;
export type DeviceKeyName = (typeof DEVICE_KEY_NAMES)[number];
export type FleetKeyName = (typeof FLEET_KEY_NAMES)[number];
export type ReplicaKeyName = DeviceKeyName | FleetKeyName;
export const REPLICA_KEY_NAMES: readonly ReplicaKeyName[] = [...DEVICE_KEY_NAMES, ...FLEET_KEY_NAMES];

/** The secrets the genesis replica generates and wraps, per transport. */
export type SecretName = 'channel' | 'opaque-server' | 'oprf-seed' | 'key-seed';
export const TRANSPORTED_SECRETS: Readonly<Record<KeyTransport, readonly SecretName[]>> = {
  'wrap-keys': ['oprf-seed', 'opaque-server', 'channel'],
  'wrap-seed': ['oprf-seed', 'key-seed'],
};

/** wrap-seed: HKDF-Expand info of each derived key (the seed is `hkdfExpand(key-seed, info, 32)`). */
export const DERIVE_INFO: Readonly<Record<'channel' | 'opaque-server', string>> = {
  channel: 'bkv/fleet/v1/derive/channel',
  'opaque-server': 'bkv/fleet/v1/derive/opaque-server',
};
export const KEY_SEED_KIND: KeyKind = 'hmac-sha256';
/** The label name of the genesis replica's wrappable copy of a secret. */
export const genesisName = (secret: SecretName): string => `genesis-${secret}`;

export interface ReplicaRecord {
  readonly id: string;
  /** The final `key` statements: one for each of REPLICA_KEY_NAMES. */
  readonly attestations: readonly Attestation[];
}

export interface DeploymentEvidence {
  readonly type: typeof EVIDENCE_TYPE;
  readonly namespace: string;
  readonly fleetId: string;
  readonly suite: SuiteId;
  readonly transport: KeyTransport;
  /** The replica that generated the fleet secrets. */
  readonly genesis: string;
  readonly certificates: readonly VendorCertificate[];
  /** The ceremony's statements, seq 0, 1, 2, ... */
  readonly events: readonly Attestation[];
  /** Then each replica's final statements, seq continuing. */
  readonly replicas: readonly ReplicaRecord[];
}

/** The kind each key must have in a fleet of `suite`. */
export function expectedKinds(suite: SuiteId): Record<ReplicaKeyName, KeyKind> & Record<SecretName, KeyKind> {
  const s = getSuite(suite);
  return {
    identity: 'ed25519',
    transport: 'x25519',
    seal: 'aes256gcm',
    channel: 'x25519',
    'opaque-server': opaqueServerKeyKind(s),
    'oprf-seed': oprfSeedKind(s),
    'key-seed': KEY_SEED_KIND,
  };
}

// ---------------------------------------------------------------------------------------------
// The final statements (shared with the client's optional check of an artifact)
// ---------------------------------------------------------------------------------------------

export interface VerifiedReplica {
  readonly id: string;
  readonly token: string;
  /** The label prefix of this replica's keys. */
  readonly prefix: string;
  readonly keys: Readonly<Record<ReplicaKeyName, KeyFingerprint>>;
}

export interface VerifiedFleet {
  readonly fleetId: string;
  readonly suite: SuiteId;
  readonly replicas: readonly VerifiedReplica[];
  /** The fleet keys, identical on every replica. */
  readonly keys: Readonly<Record<FleetKeyName, KeyFingerprint>>;
}

const invalid = (message: string) => new VaultError('EvidenceInvalid', message);

/** Splits `<prefix>/<name>`. */
function splitLabel(label: string): { prefix: string; name: string } {
  const i = label.lastIndexOf('/');
  return i < 0 ? { prefix: '', name: label } : { prefix: label.slice(0, i), name: label.slice(i + 1) };
}

/**
 * Verifies each replica's final key statements (spec ch. 7, rule 6) and returns the replicas and
 * the fleet keys. `firstSeq` is the seq of the first statement (the evidence knows it; a client
 * checking an artifact only needs the statements to be in increasing order).
 */
export function verifyReplicaStatements(
  namespace: string,
  fleetId: string,
  suite: SuiteId,
  replicas: readonly ReplicaRecord[],
  attestationKeys: readonly Bytes[],
  firstSeq?: number,
): VerifiedFleet {
  if (replicas.length === 0) throw invalid('no replica');
  const kinds = expectedKinds(suite);
  const verified: VerifiedReplica[] = [];
  let nextSeq = firstSeq;
  let lastSeq = -1;
  for (const r of replicas) {
    if (verified.some((v) => v.id === r.id)) throw invalid(`replica "${r.id}" is listed twice`);
    const keys: Partial<Record<ReplicaKeyName, KeyFingerprint>> = {};
    let token: string | undefined;
    let prefix: string | undefined;
    for (const st of r.attestations) {
      const b = verifyAttestation(st, attestationKeys, `replica ${r.id}`);
      if (b.fleetId !== fleetId)
        throw new VaultError(
          'AttestationInvalid',
          `replica ${r.id}: statement #${b.seq} belongs to fleet "${b.fleetId}", not "${fleetId}"`,
        );
      if (b.namespace !== namespace) {
        const where = `replica ${r.id}: statement #${b.seq}`;
        const ns = `namespace "${b.namespace}", not "${namespace}"`;
        throw new VaultError('NamespaceMismatch', `${where} was attested for ${ns}`);
      }
      if (b.replica !== r.id)
        throw new VaultError(
          'AttestationInvalid',
          `replica ${r.id}: statement #${b.seq} is about replica "${b.replica}"`,
        );
      if ((nextSeq !== undefined && b.seq !== nextSeq) || b.seq <= lastSeq)
        throw new VaultError('AttestationInvalid', `replica ${r.id}: statement #${b.seq} is out of sequence`);
      lastSeq = b.seq;
      if (nextSeq !== undefined) nextSeq += 1;
      if (b.event !== 'key')
        throw invalid(`replica ${r.id}: a final statement must be a key statement, got ${b.event}`);
      const { prefix: p, name } = splitLabel(b.label);
      if (!(REPLICA_KEY_NAMES as readonly string[]).includes(name))
        throw invalid(`replica ${r.id}: unexpected key "${b.label}"`);
      const n = name as ReplicaKeyName;
      if (keys[n] !== undefined) throw invalid(`replica ${r.id}: key "${n}" attested twice`);
      if (token !== undefined && b.token !== token)
        throw invalid(`replica ${r.id}: statements name tokens "${token}" and "${b.token}"`);
      if (prefix !== undefined && p !== prefix)
        throw invalid(`replica ${r.id}: key labels under "${prefix}" and "${p}"`);
      token = b.token;
      prefix = p;
      if (b.key.kind !== kinds[n]) throw invalid(`replica ${r.id}: key "${n}" is ${b.key.kind}, expected ${kinds[n]}`);
      checkFinalAttributes(r.id, n, b);
      keys[n] = b.key;
    }
    for (const n of REPLICA_KEY_NAMES)
      if (keys[n] === undefined) throw invalid(`replica ${r.id}: no statement for its ${n} key`);
    verified.push({ id: r.id, token: token!, prefix: prefix!, keys: keys as Record<ReplicaKeyName, KeyFingerprint> });
  }
  const first = verified[0]!;
  for (const v of verified.slice(1)) {
    for (const n of FLEET_KEY_NAMES) {
      if (!isSameKey(v.keys[n], first.keys[n]))
        throw invalid(
          `replica ${v.id}'s ${n} key (${describeFingerprint(v.keys[n])}) ` +
            `differs from replica ${first.id}'s (${describeFingerprint(first.keys[n])})`,
        );
    }
    for (const u of verified) {
      if (u !== v && (isSameKey(u.keys.identity, v.keys.identity) || isSameKey(u.keys.transport, v.keys.transport)))
        throw invalid(`replicas ${u.id} and ${v.id} share a device key`);
    }
  }
  return {
    fleetId,
    suite,
    replicas: verified,
    keys: {
      channel: first.keys.channel,
      'opaque-server': first.keys['opaque-server'],
      'oprf-seed': first.keys['oprf-seed'],
    },
  };
}

/**
 * The attribute rules of a final statement. Every key: sensitive and not extractable, else
 * `KeyExtractable`; not imported from host bytes, else `EvidenceInvalid` (its private key has been
 * in host memory). Device keys also: generated inside (CKA_LOCAL, else `EvidenceInvalid`) and
 * never extractable (CKA_NEVER_EXTRACTABLE, else `KeyExtractable`). Fleet keys arrived wrapped,
 * so they are neither local nor never-extractable on any replica.
 */
function checkFinalAttributes(replica: string, name: ReplicaKeyName, b: AttestationBody & { event: 'key' }): void {
  const a = b.attributes;
  const where = `replica ${replica}: ${name} key "${b.label}"`;
  if (a.extractable) throw new VaultError('KeyExtractable', `${where} is extractable (CKA_EXTRACTABLE)`);
  if (!a.sensitive)
    throw new VaultError('KeyExtractable', `${where} is not sensitive (CKA_SENSITIVE): it may leave in plaintext`);
  if (a.imported) throw invalid(`${where} was imported from bytes the host supplied: the key has been in host memory`);
  if ((DEVICE_KEY_NAMES as readonly string[]).includes(name)) {
    if (!a.neverExtractable)
      throw new VaultError('KeyExtractable', `${where} has been extractable (CKA_NEVER_EXTRACTABLE false)`);
    if (!a.local) throw invalid(`${where} was not generated inside the HSM (CKA_LOCAL false)`);
  }
}

// ---------------------------------------------------------------------------------------------
// The ceremony replay
// ---------------------------------------------------------------------------------------------

interface Replay {
  readonly transport: Map<string, { label: string; publicKey: string }>;
  readonly secrets: Map<SecretName, { label: string; key: KeyFingerprint; wrappedTo: Set<string>; destroyed: boolean }>;
  readonly wraps: Map<string, { secret: SecretName; recipient: string; unwrapped: boolean }>;
  /** `${replica} ${name}` -> what it received (unwrap) or derived. */
  readonly received: Map<string, KeyFingerprint>;
  readonly destroyedSeeds: Set<string>;
}

/** One line per step, for the audit report. */
export type Transcript = string[];

/**
 * Verifies a deployment evidence record against the pinned vendor root; returns the verified fleet
 * and a readable transcript of the ceremony.
 */
export function verifyDeploymentEvidence(
  e: DeploymentEvidence,
  vendorRoot: Bytes,
): { fleet: VerifiedFleet; transcript: Transcript } {
  const attestationKeys = verifyCertificates(e.certificates, vendorRoot);
  e.events.forEach((st, i) => {
    const b = verifyAttestation(st, attestationKeys, `event ${i}`);
    if (b.fleetId !== e.fleetId)
      throw new VaultError('AttestationInvalid', `event ${i} belongs to fleet "${b.fleetId}", not "${e.fleetId}"`);
    if (b.seq !== i) throw new VaultError('AttestationInvalid', `event ${i} carries seq ${b.seq}: out of sequence`);
    if (b.namespace !== e.namespace) {
      const ns = `namespace "${b.namespace}", not "${e.namespace}"`;
      throw new VaultError('NamespaceMismatch', `event ${i} was attested for ${ns}`);
    }
  });
  const fleet = verifyReplicaStatements(e.namespace, e.fleetId, e.suite, e.replicas, attestationKeys, e.events.length);
  const transportKeys = new Set(fleet.replicas.map((r) => r.keys.transport.publicKey!));
  const byId = new Map(fleet.replicas.map((r) => [r.id, r]));
  const genesis = byId.get(e.genesis);
  if (genesis === undefined) throw invalid(`genesis replica "${e.genesis}" is not a replica of the fleet`);
  const kinds = expectedKinds(e.suite);
  const secretNames = TRANSPORTED_SECRETS[e.transport];
  const state: Replay = {
    transport: new Map(),
    secrets: new Map(),
    wraps: new Map(),
    received: new Map(),
    destroyedSeeds: new Set(),
  };
  const transcript: Transcript = [];

  for (const st of e.events) {
    const b = st.body;
    const at = `event ${b.seq} (${b.event} ${b.label} on ${b.replica})`;
    const r = byId.get(b.replica);
    if (r === undefined) throw invalid(`${at}: not a replica of the fleet`);
    if (b.token !== r.token) throw invalid(`${at}: token "${b.token}", but the replica's statements name "${r.token}"`);
    const { prefix, name } = splitLabel(b.label);
    if (prefix !== r.prefix) throw invalid(`${at}: label outside the replica's prefix "${r.prefix}"`);
    switch (b.event) {
      case 'key': {
        if (name === 'transport') {
          if (state.transport.has(r.id)) throw invalid(`${at}: transport key attested twice`);
          if (!isSameKey(b.key, r.keys.transport))
            throw invalid(`${at}: differs from the replica's final transport key`);
          if (
            !b.attributes.local ||
            !b.attributes.neverExtractable ||
            b.attributes.extractable ||
            !b.attributes.sensitive
          )
            throw new VaultError(
              'KeyExtractable',
              `${at}: a transport key must be generated inside and never extractable`,
            );
          state.transport.set(r.id, { label: b.label, publicKey: b.key.publicKey! });
          transcript.push(`${r.id}: transport key ${describeFingerprint(b.key)} attested (local, never extractable)`);
          break;
        }
        const secret = secretNames.find((s) => genesisName(s) === name);
        if (secret === undefined || r.id !== e.genesis) throw invalid(`${at}: unexpected key statement`);
        if (state.secrets.has(secret)) throw invalid(`${at}: secret generated twice`);
        if (b.key.kind !== kinds[secret]) throw invalid(`${at}: ${secret} is ${b.key.kind}, expected ${kinds[secret]}`);
        if (!b.attributes.local || !b.attributes.sensitive)
          throw invalid(`${at}: a fleet secret must be generated inside the genesis HSM and sensitive`);
        checkExportPolicy(at, secret, b.attributes.wrapTo, transportKeys);
        state.secrets.set(secret, { label: b.label, key: b.key, wrappedTo: new Set(), destroyed: false });
        transcript.push(`${r.id}: generated ${secret} ${describeFingerprint(b.key)} inside, wrappable`);
        break;
      }
      case 'wrap': {
        const entry = [...state.secrets.entries()].find(([, s]) => s.label === b.label);
        if (entry === undefined || r.id !== e.genesis)
          throw invalid(`${at}: wraps a key that is not a generated fleet secret`);
        const [secret, s] = entry;
        if (s.destroyed) throw invalid(`${at}: wraps a destroyed secret`);
        if (!isSameKey(b.key, s.key)) throw invalid(`${at}: the wrapped key differs from the generated ${secret}`);
        const recipient = [...state.transport.entries()].find(([, t]) => t.publicKey === b.recipientKey)?.[0];
        if (recipient === undefined)
          throw invalid(`${at}: wrapped to ${b.recipientKey.slice(0, 16)}…, which is no attested transport key`);
        if (s.wrappedTo.has(recipient)) throw invalid(`${at}: ${secret} wrapped to ${recipient} twice`);
        if (state.wraps.has(b.wrappedDigest)) throw invalid(`${at}: a wrapped blob digest appears twice`);
        s.wrappedTo.add(recipient);
        state.wraps.set(b.wrappedDigest, { secret, recipient, unwrapped: false });
        transcript.push(
          `${r.id}: wrapped ${secret} to ${recipient}'s transport key, blob sha256 ${b.wrappedDigest.slice(0, 16)}…`,
        );
        break;
      }
      case 'unwrap': {
        const w = state.wraps.get(b.wrappedDigest);
        if (w === undefined || w.recipient !== r.id)
          throw invalid(`${at}: unwraps a blob that was not wrapped to this replica`);
        if (w.unwrapped) throw invalid(`${at}: blob unwrapped twice`);
        const t = state.transport.get(r.id)!;
        if (b.transportKey !== t.publicKey || b.unwrapWith !== t.label)
          throw invalid(`${at}: not unwrapped with the replica's attested transport key`);
        if (name !== w.secret) throw invalid(`${at}: a ${w.secret} blob unwrapped as "${name}"`);
        const s = state.secrets.get(w.secret)!;
        if (!isSameKey(b.key, s.key))
          throw invalid(
            `${at}: unwrapped ${describeFingerprint(b.key)}, but ${describeFingerprint(s.key)} was wrapped`,
          );
        w.unwrapped = true;
        state.received.set(`${r.id} ${name}`, b.key);
        transcript.push(
          `${r.id}: unwrapped ${name} with its transport key, blob sha256 ${b.wrappedDigest.slice(0, 16)}…`,
        );
        break;
      }
      case 'derive': {
        if (e.transport !== 'wrap-seed' || (name !== 'channel' && name !== 'opaque-server'))
          throw invalid(`${at}: unexpected derivation`);
        if (
          b.from !== `${r.prefix}/key-seed` ||
          !state.received.has(`${r.id} key-seed`) ||
          state.destroyedSeeds.has(r.id)
        )
          throw invalid(`${at}: not derived from the replica's unwrapped key seed`);
        if (b.info !== DERIVE_INFO[name]) throw invalid(`${at}: info "${b.info}", expected "${DERIVE_INFO[name]}"`);
        if (state.received.has(`${r.id} ${name}`)) throw invalid(`${at}: derived twice`);
        if (b.key.kind !== kinds[name]) throw invalid(`${at}: ${name} is ${b.key.kind}, expected ${kinds[name]}`);
        state.received.set(`${r.id} ${name}`, b.key);
        transcript.push(`${r.id}: derived ${name} ${describeFingerprint(b.key)} from the key seed`);
        break;
      }
      case 'destroy': {
        const entry = [...state.secrets.entries()].find(([, s]) => s.label === b.label);
        if (entry !== undefined && r.id === e.genesis) {
          const [secret, s] = entry;
          if (s.destroyed) throw invalid(`${at}: destroyed twice`);
          if (s.wrappedTo.size !== fleet.replicas.length)
            throw invalid(`${at}: ${secret} destroyed before it was wrapped to every replica`);
          if (b.wrapCount !== s.wrappedTo.size) {
            const n = `${b.wrapCount} time${b.wrapCount === 1 ? '' : 's'}`;
            const shows = `the evidence shows ${s.wrappedTo.size} wraps`;
            throw invalid(`${at}: the genesis HSM wrapped ${secret} ${n}, ${shows}`);
          }
          s.destroyed = true;
          transcript.push(`${r.id}: destroyed its wrappable copy of ${secret}`);
          break;
        }
        if (name === 'key-seed' && e.transport === 'wrap-seed' && state.received.has(`${r.id} key-seed`)) {
          if (state.destroyedSeeds.has(r.id)) throw invalid(`${at}: destroyed twice`);
          if (b.wrapCount !== 0) throw invalid(`${at}: the key seed was wrapped ${b.wrapCount} times`);
          if (!state.received.has(`${r.id} channel`) || !state.received.has(`${r.id} opaque-server`))
            throw invalid(`${at}: key seed destroyed before both keys were derived`);
          state.destroyedSeeds.add(r.id);
          transcript.push(`${r.id}: destroyed the key seed`);
          break;
        }
        throw invalid(`${at}: destroys an unexpected key`);
      }
    }
  }

  // Completeness: every secret generated, wrapped to everyone, unwrapped by everyone, destroyed.
  for (const secret of secretNames) {
    const s = state.secrets.get(secret);
    if (s === undefined) throw invalid(`the genesis replica never attested generating ${secret}`);
    if (!s.destroyed) throw invalid(`the genesis replica's wrappable ${secret} was never destroyed`);
  }
  for (const [digest, w] of state.wraps)
    if (!w.unwrapped)
      throw invalid(`${w.secret} wrapped to ${w.recipient} (blob ${digest.slice(0, 16)}…) was never unwrapped`);
  for (const r of fleet.replicas) {
    for (const n of FLEET_KEY_NAMES) {
      const got = state.received.get(`${r.id} ${n}`);
      if (got === undefined) throw invalid(`replica ${r.id}'s ${n} key did not arrive by the ceremony`);
      if (!isSameKey(got, r.keys[n]))
        throw invalid(`replica ${r.id}'s final ${n} key differs from the one it received`);
    }
    if (e.transport === 'wrap-seed' && !state.destroyedSeeds.has(r.id))
      throw invalid(`replica ${r.id} never destroyed its key seed`);
  }
  return { fleet, transcript };
}

/**
 * A fleet secret's export policy, attested when it is generated: it must exist (else the genesis
 * HSM would wrap the secret to any key) and name exactly the fleet's attested transport keys.
 */
function checkExportPolicy(
  at: string,
  secret: SecretName,
  wrapTo: readonly string[] | undefined,
  transport: ReadonlySet<string>,
): void {
  if (wrapTo === undefined) throw invalid(`${at}: ${secret} has no export policy: its HSM would wrap it to any key`);
  for (const k of wrapTo) {
    if (!transport.has(k)) {
      const names = `${secret}'s export policy names ${k.slice(0, 16)}…`;
      throw invalid(`${at}: ${names}, which is no attested transport key of the fleet`);
    }
  }
  if (new Set(wrapTo).size !== transport.size) {
    throw invalid(`${at}: ${secret}'s export policy does not name every replica's transport key`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

function decodeReplicaRecord(x: unknown, path: string): ReplicaRecord {
  const o = readObject(x, path, ['id', 'attestations']);
  return {
    id: readString(o.id, `${path}.id`, NAME),
    attestations: readArray(o.attestations, `${path}.attestations`).map((a, i) =>
      decodeAttestation(a, `${path}.attestations[${i}]`),
    ),
  };
}

export function decodeReplicaRecords(x: unknown, path: string): ReplicaRecord[] {
  return readArray(x, path, 1).map((r, i) => decodeReplicaRecord(r, `${path}[${i}]`));
}

export function decodeCertificates(x: unknown, path: string): VendorCertificate[] {
  return readArray(x, path, 1).map((c, i) => decodeCertificate(c, `${path}[${i}]`));
}

export function decodeEvidence(x: unknown, path = 'evidence'): DeploymentEvidence {
  const o = readObject(x, path, [
    'type',
    'namespace',
    'fleetId',
    'suite',
    'transport',
    'genesis',
    'certificates',
    'events',
    'replicas',
  ]);
  return {
    type: readConstant(o.type, `${path}.type`, EVIDENCE_TYPE) as typeof EVIDENCE_TYPE,
    namespace: readString(o.namespace, `${path}.namespace`, NAME),
    fleetId: readString(o.fleetId, `${path}.fleetId`, NAME),
    suite: readChoice(o.suite, `${path}.suite`, SUITE_IDS),
    transport: readChoice(o.transport, `${path}.transport`, KEY_TRANSPORTS),
    genesis: readString(o.genesis, `${path}.genesis`, NAME),
    certificates: decodeCertificates(o.certificates, `${path}.certificates`),
    events: readArray(o.events, `${path}.events`).map((a, i) => decodeAttestation(a, `${path}.events[${i}]`)),
    replicas: decodeReplicaRecords(o.replicas, `${path}.replicas`),
  };
}
