/**
 * The vault's keys inside its HSM, by label, and the views the protocol code needs of them
 * (spec ch. 4): the OPAQUE server key and OPRF seed as `ServerKeys`, the Noise channel key as a
 * `DhKey`. Nothing here reads private key bytes: every private operation is an HSM call.
 *
 * The per-credential OPRF key is the one secret that leaves the HSM (PKCS#11 has no ristretto255):
 * `Expand(oprf_seed, credential_identifier || "OprfKey", Nok)` runs inside the HSM, and the
 * derived scalar exists in host memory for one BlindEvaluate (spec ch. 4, "What leaves the token").
 * @module
 */
import { type Bytes, concat, lengthPrefixed, utf8 } from '../crypto/bytes.ts';
import type { DhKey } from '../crypto/noise.ts';
import type { ServerKeys } from '../crypto/opaque-server.ts';
import type { Suite } from '../crypto/suite.ts';
import type { Hsm, KeyKind } from '../hsm/hsm.ts';
import { VaultError } from '../errors.ts';

export interface KeyLabels {
  readonly opaqueServer: string;
  readonly oprfSeed: string;
  readonly channel: string;
  readonly seal: string;
  readonly identity: string;
}

export function keyLabels(prefix = 'bkv'): KeyLabels {
  return {
    opaqueServer: `${prefix}/opaque-server`,
    oprfSeed: `${prefix}/oprf-seed`,
    channel: `${prefix}/channel`,
    seal: `${prefix}/seal`,
    identity: `${prefix}/identity`,
  };
}

export function opaqueServerKeyKind(suite: Suite): KeyKind {
  return suite.group.name === 'curve25519' ? 'x25519' : suite.group.name === 'P256' ? 'p256' : 'ristretto255';
}

export function oprfSeedKind(suite: Suite): KeyKind {
  return suite.hashName === 'SHA512' ? 'hmac-sha512' : 'hmac-sha256';
}

/**
 * Generates, inside `hsm`, every key a single vault replica needs that it does not have yet, all
 * non-extractable. A fleet deployment (spec ch. 7) instead generates the fleet secrets in one HSM
 * and moves them to the others wrapped.
 */
export function provisionVaultKeys(hsm: Hsm, suite: Suite, labels: KeyLabels): void {
  const want: [string, KeyKind][] = [
    [labels.opaqueServer, opaqueServerKeyKind(suite)],
    [labels.oprfSeed, oprfSeedKind(suite)],
    [labels.channel, 'x25519'],
    [labels.seal, 'aes256gcm'],
    [labels.identity, 'ed25519'],
  ];
  for (const [label, kind] of want) if (!hsm.hasKey(label)) hsm.generateKey(label, kind);
}

function publicKeyOf(hsm: Hsm, label: string): Bytes {
  const pk = hsm.keyInfo(label).publicKey;
  if (!pk) throw new VaultError('KeyNotFound', `key "${label}" has no public key`);
  return pk;
}

/** RFC 9807 ServerKeys over the HSM. */
export function hsmServerKeys(hsm: Hsm, labels: KeyLabels): ServerKeys {
  return {
    publicKey: publicKeyOf(hsm, labels.opaqueServer),
    diffieHellman: (peer) => hsm.dh(labels.opaqueServer, peer),
    expandOprfSeed: (info, length) => hsm.hkdfExpand(labels.oprfSeed, info, length),
  };
}

/** The Noise responder static key over the HSM. */
export function hsmChannelKey(hsm: Hsm, labels: KeyLabels): DhKey {
  return { publicKey: publicKeyOf(hsm, labels.channel), dh: (peer) => hsm.dh(labels.channel, peer) };
}

const FAKE_KEY = utf8('FakeClientKey');
const FAKE_MASK = utf8('FakeMaskingKey');
const FAKE_SALT = utf8('FakeOprfSalt');

/** Bytes of a registration's OPRF salt. */
export const OPRF_SALT_BYTES = 16;

/**
 * The RFC 9807 `credential_identifier` the OPRF key is derived from (§5.2.2: `Expand(oprf_seed,
 * credential_identifier || "OprfKey", Nok)`): the credential id, length-prefixed, and the
 * registration's random salt. Each RegisterStart draws a new salt, so a RegistrationResponse
 * evaluates a key no record uses yet, and is no OPRF oracle for an existing record's password
 * (spec ch. 5, "One OPRF key per registration"). Server-internal: clients never see it.
 */
export function oprfCredentialIdentifier(credentialId: Bytes, salt: Bytes): Bytes {
  return concat(lengthPrefixed(credentialId), salt);
}

/**
 * The fake record for an unknown credential (RFC 9807 §10.9), derived from the OPRF seed so that
 * repeated probes for one identifier get the same fake client key, masking key and OPRF key, as a
 * real record would (spec ch. 5, "Unknown credentials").
 */
export function fakeRecordSecrets(
  suite: Suite,
  keys: ServerKeys,
  credentialId: Bytes,
): { clientPublicKey: Bytes; maskingKey: Bytes; oprfSalt: Bytes } {
  const seed = keys.expandOprfSeed(concat(credentialId, FAKE_KEY), suite.Nseed);
  return {
    clientPublicKey: suite.group.deriveDiffieHellmanKeyPair(seed).publicKey,
    maskingKey: keys.expandOprfSeed(concat(credentialId, FAKE_MASK), suite.Nh),
    // the fake OPRF key has the form of a real one, with a salt no registration draws
    oprfSalt: keys.expandOprfSeed(concat(credentialId, FAKE_SALT), OPRF_SALT_BYTES),
  };
}
