/**
 * The deployment ceremony (spec ch. 7, "Deployment ceremony"): N replica HSMs become a fleet, and
 * the ceremony writes the evidence record that `verifyDeploymentEvidence` (evidence.ts) replays.
 *
 *   1. each replica generates inside its HSM, non-extractable: identity (Ed25519), transport
 *      (X25519, the key the fleet secrets are wrapped to), seal (AES-256-GCM, its host state);
 *      the vendor attests the transport key
 *   2. the genesis replica (the first) generates the fleet secrets inside, wrappable, and the
 *      vendor attests them
 *   3. for each secret and each replica (the genesis included): the genesis wraps the secret to
 *      the replica's *attested* transport key (`hsm.wrapKey`), the replica unwraps it into its
 *      final label (`hsm.unwrapKey`, non-extractable); both steps are attested with SHA-256 of
 *      the blob
 *   4. the genesis destroys its wrappable copies, so no extractable fleet secret remains
 *   5. wrap-seed: each replica derives its X25519 channel and OPAQUE server keys from the key seed
 *      and destroys the seed (SoftHSM cannot wrap 25519 private keys, spec ch. 4 §4.3)
 *   6. the vendor attests every replica's six keys in their final state
 *
 * Secrets by transport: wrap-keys moves the OPRF seed, the OPAQUE server key and the channel key
 * themselves (memory HSMs); wrap-seed moves the OPRF seed and a key seed (any HSM). The default
 * is wrap-seed as soon as one replica is a SoftHSM token.
 *
 * Key labels are `keyLabels(prefix)` of src/vault/keys.ts plus `<prefix>/transport`, so a vault
 * node runs on a deployed replica as is.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Rng, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import type { Suite } from '../crypto/suite.ts';
import { VaultError } from '../errors.ts';
import type { Hsm, KeyKind } from '../hsm/hsm.ts';
import { type KeyLabels, keyLabels } from '../vault/keys.ts';
import {
  ATTESTATION_TYPE,
  type Attestation,
  type AttestationEvent,
  type Vendor,
  computeFingerprint,
  readKeyAttributes,
} from './attestation.ts';
import {
  DERIVE_INFO,
  type DeploymentEvidence,
  EVIDENCE_TYPE,
  type KeyTransport,
  REPLICA_KEY_NAMES,
  type ReplicaRecord,
  TRANSPORTED_SECRETS,
  expectedKinds,
  genesisName,
} from './evidence.ts';

/** One replica of the fleet to deploy: its HSM and the prefix of its key labels there. */
export interface ReplicaHsm {
  readonly id: string;
  readonly hsm: Hsm;
  readonly prefix: string;
}

export interface FleetLabels extends KeyLabels {
  readonly transport: string;
}

export function fleetLabels(prefix: string): FleetLabels {
  return { ...keyLabels(prefix), transport: `${prefix}/transport` };
}

export interface CeremonyOptions {
  readonly namespace: string;
  readonly fleetId: string;
  readonly suite: Suite;
  readonly replicas: readonly ReplicaHsm[];
  readonly vendor: Vendor;
  /** Randomness of the key wrapping (ephemeral keys, nonces); key generation uses each HSM's own. */
  readonly rng: Rng;
  readonly transport?: KeyTransport;
}

export interface DeployedReplica extends ReplicaHsm {
  readonly labels: FleetLabels;
}

export interface DeployedFleet {
  readonly evidence: DeploymentEvidence;
  readonly replicas: readonly DeployedReplica[];
}

/** Runs the ceremony; the HSMs end up holding the fleet's keys, and the evidence says how. */
export function deployFleet(o: CeremonyOptions): DeployedFleet {
  const { replicas, vendor, fleetId, suite, rng } = o;
  if (replicas.length === 0) throw new VaultError('InvalidParameter', 'a fleet needs at least one replica');
  if (new Set(replicas.map((r) => r.id)).size !== replicas.length)
    throw new VaultError('InvalidParameter', 'replica ids must be distinct');
  const transport: KeyTransport =
    o.transport ?? (replicas.some((r) => r.hsm.backend === 'softhsm') ? 'wrap-seed' : 'wrap-keys');
  const kinds = expectedKinds(suite.id);
  const label = (r: ReplicaHsm, name: string) => `${r.prefix}/${name}`;
  const events: Attestation[] = [];
  const attest = (r: ReplicaHsm, event: AttestationEvent): Attestation => {
    const type = ATTESTATION_TYPE as typeof ATTESTATION_TYPE;
    const header = { type, namespace: o.namespace, fleetId, replica: r.id, token: r.hsm.label };
    const st = vendor.attest({ ...header, seq: events.length, ...event });
    events.push(st);
    return st;
  };
  const attestKey = (r: ReplicaHsm, l: string) =>
    attest(r, { event: 'key', label: l, key: computeFingerprint(r.hsm, l), attributes: readKeyAttributes(r.hsm, l) });

  // 1. device keys, generated inside each HSM; the transport key attested
  const transportKeys = new Map<string, string>();
  for (const r of replicas) {
    r.hsm.generateKey(label(r, 'identity'), 'ed25519');
    r.hsm.generateKey(label(r, 'transport'), 'x25519');
    r.hsm.generateKey(label(r, 'seal'), 'aes256gcm');
    const st = attestKey(r, label(r, 'transport'));
    if (st.body.event !== 'key' || st.body.key.publicKey === undefined)
      throw new VaultError('HsmError', `replica ${r.id}: transport key has no public key`);
    transportKeys.set(r.id, st.body.key.publicKey); // the genesis wraps only to what was attested
  }

  // 2. the fleet secrets, generated inside the genesis HSM, wrappable to the attested transport keys only
  const genesis = replicas[0]!;
  const secrets = TRANSPORTED_SECRETS[transport];
  const wrapTo = replicas.map((r) => fromHex(transportKeys.get(r.id)!));
  for (const s of secrets) {
    genesis.hsm.generateKey(label(genesis, genesisName(s)), kinds[s], { wrappable: true, wrapTo });
    attestKey(genesis, label(genesis, genesisName(s)));
  }

  // 3. each secret wrapped to every replica's attested transport key, and unwrapped there
  for (const s of secrets) {
    const from = label(genesis, genesisName(s));
    const key = computeFingerprint(genesis.hsm, from);
    for (const r of replicas) {
      const recipientKey = transportKeys.get(r.id)!;
      const wrapped = genesis.hsm.wrapKey(from, fromHex(recipientKey), rng);
      const wrappedDigest = toHex(sha256(wrapped));
      attest(genesis, { event: 'wrap', label: from, key, recipientKey, wrappedDigest });
      const to = label(r, s);
      r.hsm.unwrapKey(to, kinds[s], wrapped, label(r, 'transport'));
      attest(r, {
        event: 'unwrap',
        label: to,
        key: computeFingerprint(r.hsm, to),
        unwrapWith: label(r, 'transport'),
        transportKey: recipientKey,
        wrappedDigest,
      });
    }
  }

  // 4. no wrappable copy remains; the HSM's wrap count of each is attested as it goes
  const destroy = (r: ReplicaHsm, l: string) => {
    const wrapCount = r.hsm.keyInfo(l).wrapCount;
    r.hsm.deleteKey(l);
    attest(r, { event: 'destroy', label: l, wrapCount });
  };
  for (const s of secrets) destroy(genesis, label(genesis, genesisName(s)));

  // 5. wrap-seed: the 25519 keys derived from the key seed, then the seed destroyed
  if (transport === 'wrap-seed') {
    for (const r of replicas) {
      const seedLabel = label(r, 'key-seed');
      for (const name of ['channel', 'opaque-server'] as const) {
        deriveKey(r.hsm, seedLabel, label(r, name), kinds[name], DERIVE_INFO[name], suite);
        attest(r, {
          event: 'derive',
          label: label(r, name),
          key: computeFingerprint(r.hsm, label(r, name)),
          from: seedLabel,
          info: DERIVE_INFO[name],
        });
      }
      destroy(r, seedLabel);
    }
  }

  // 6. the final state of every replica's keys
  const ceremonyEvents = events.length;
  const records: ReplicaRecord[] = replicas.map((r) => ({
    id: r.id,
    attestations: REPLICA_KEY_NAMES.map((n) => attestKey(r, label(r, n))),
  }));
  const evidence: DeploymentEvidence = {
    type: EVIDENCE_TYPE,
    namespace: o.namespace,
    fleetId,
    suite: suite.id,
    transport,
    genesis: genesis.id,
    certificates: vendor.certificates,
    events: events.slice(0, ceremonyEvents),
    replicas: records,
  };
  return { evidence, replicas: replicas.map((r) => ({ ...r, labels: fleetLabels(r.prefix) })) };
}

/**
 * wrap-seed: seed = HKDF-Expand(key-seed, info, Nseed) inside the HSM, then the suite's
 * DeriveDiffieHellmanKeyPair (RFC 9807 §6.4.1; for X25519 the seed is the private key), imported
 * into the HSM. The 32 bytes pass through host memory once, at deployment (spec ch. 4 §4.3).
 */
function deriveKey(hsm: Hsm, seedLabel: string, to: string, kind: KeyKind, info: string, suite: Suite): void {
  const seed = hsm.hkdfExpand(seedLabel, utf8(info), suite.Nseed);
  const privateKey = kind === 'x25519' ? seed : suite.group.deriveDiffieHellmanKeyPair(seed).privateKey;
  hsm.importKey(to, kind, privateKey);
  seed.fill(0);
}
