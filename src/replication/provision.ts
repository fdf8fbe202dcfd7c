/**
 * The keys of a replicated fleet (spec ch. 6, "Fleet keys"). The fleet is deployed by the
 * ceremony of ch. 7 (`deployFleet`, src/fleet/ceremony.ts): every replica generates its identity,
 * transport and seal keys inside its HSM, and the fleet secrets (OPRF seed, OPAQUE server key,
 * channel key) reach every replica only wrapped to its attested transport key. Replication adds
 * one key, the same in every replica, for authenticating replica-to-replica messages:
 *
 *   peer-mac = HKDF-Expand(oprf-seed, "bkv/fleet/v1/derive/peer-mac", 32)   (HMAC-SHA256 key)
 *
 * computed inside each HSM from the fleet's OPRF seed and imported there (the 32 bytes pass
 * through host memory once, at deployment, as the wrap-seed keys of ch. 7 do). No client can make
 * a vault compute this value: the OPRF seed is otherwise only expanded with info ending in
 * "OprfKey", "FakeClientKey" or "FakeMaskingKey" (spec ch. 3, 4).
 * @module
 */
import { type Bytes, type Rng, utf8 } from '../crypto/bytes.ts';
import type { Suite } from '../crypto/suite.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { createVendor, type Vendor } from '../fleet/attestation.ts';
import { type DeployedFleet, type FleetLabels, deployFleet, fleetLabels } from '../fleet/ceremony.ts';

export interface ReplicationLabels extends FleetLabels {
  /** The fleet's replica-to-replica MAC key. */
  readonly peerMac: string;
}

export function replicationLabels(prefix: string): ReplicationLabels {
  return { ...fleetLabels(prefix), peerMac: `${prefix}/peer-mac` };
}

export const PEER_MAC_INFO = 'bkv/fleet/v1/derive/peer-mac';

/** The peer MAC key's bytes, computed inside the HSM from the OPRF seed (they leave it once, to be imported). */
export function derivePeerMacKey(hsm: Hsm, oprfSeedLabel: string): Bytes {
  return hsm.hkdfExpand(oprfSeedLabel, utf8(PEER_MAC_INFO), 32);
}

/** Derives and imports the peer MAC key in one deployed replica's HSM. */
export function installPeerKey(hsm: Hsm, labels: ReplicationLabels): void {
  if (hsm.hasKey(labels.peerMac)) return;
  const key = derivePeerMacKey(hsm, labels.oprfSeed);
  hsm.importKey(labels.peerMac, 'hmac-sha256', key);
  key.fill(0);
}

export interface ReplicatedDeployment {
  readonly labels: ReplicationLabels;
  readonly deployment: DeployedFleet;
}

/**
 * Deploys a fleet on `hsms` (replica i is `r<i>`, every replica's keys under `prefix`) with the
 * ceremony of ch. 7, then installs the peer MAC key in each. `vendor`: the simulated HSM vendor
 * that attests the ceremony (default: a fresh one in a memory HSM).
 */
export function deployReplicatedFleet(
  hsms: readonly Hsm[],
  suite: Suite,
  prefix: string,
  rng: Rng,
  vendor?: Vendor,
): ReplicatedDeployment {
  const labels = replicationLabels(prefix);
  const deployment = deployFleet({
    namespace: 'bkv/replication',
    fleetId: `${prefix}-fleet`,
    suite,
    replicas: hsms.map((hsm, i) => ({ id: `r${i}`, hsm, prefix })),
    vendor: vendor ?? createVendor(MemoryHsm.create('bkv-vendor', rng)),
    rng,
  });
  for (const hsm of hsms) installPeerKey(hsm, labels);
  return { labels, deployment };
}
