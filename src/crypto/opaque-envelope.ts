/**
 * OPAQUE key derivations shared by both parties (RFC 9807 §4, §5.3, §6.4.2): the cleartext
 * credentials, envelope Store and Recover, the randomized password, the per-credential OPRF key,
 * and credential-response masking.
 * @module
 */
import { type Bytes, concat, ctEqual, lengthPrefixed, utf8, xor } from './bytes.ts';
import type { KeyPair, Suite } from './suite.ts';
import { VaultError } from '../errors.ts';

const L = {
  maskingKey: utf8('MaskingKey'),
  authKey: utf8('AuthKey'),
  exportKey: utf8('ExportKey'),
  privateKey: utf8('PrivateKey'),
  oprfKey: utf8('OprfKey'),
  deriveKeyPair: utf8('OPAQUE-DeriveKeyPair'),
  credentialResponsePad: utf8('CredentialResponsePad'),
};

/** Identities; when absent each defaults to its party's public key (RFC 9807 §4). */
export interface Identities {
  readonly serverIdentity?: Bytes;
  readonly clientIdentity?: Bytes;
}

export interface CleartextCredentials {
  readonly serverPublicKey: Bytes;
  readonly serverIdentity: Bytes;
  readonly clientIdentity: Bytes;
}

/** CreateCleartextCredentials (RFC 9807 §4). */
export function createCleartextCredentials(
  serverPublicKey: Bytes,
  clientPublicKey: Bytes,
  ids: Identities,
): CleartextCredentials {
  return {
    serverPublicKey,
    serverIdentity: ids.serverIdentity ?? serverPublicKey,
    clientIdentity: ids.clientIdentity ?? clientPublicKey,
  };
}

export function encodeCleartextCredentials(c: CleartextCredentials): Bytes {
  return concat(c.serverPublicKey, lengthPrefixed(c.serverIdentity), lengthPrefixed(c.clientIdentity));
}

/** randomized_password = Extract("", oprf_output || Stretch(oprf_output)) (RFC 9807 §5.2.3). */
export function computeRandomizedPassword(s: Suite, oprfOutput: Bytes): Bytes {
  const stretched = s.ksf.stretch(oprfOutput, s.Nh);
  return s.extract(new Uint8Array(0), concat(oprfOutput, stretched));
}

/** masking_key = Expand(randomized_password, "MaskingKey", Nh) (RFC 9807 §5.2.3). */
export function computeMaskingKey(s: Suite, randomizedPassword: Bytes): Bytes {
  return s.expand(randomizedPassword, L.maskingKey, s.Nh);
}

/**
 * The info of the per-credential OPRF key: Expand(oprf_seed, credential_identifier || "OprfKey", Nok) (RFC 9807
 * §5.2.2).
 */
export function oprfKeyInfo(credentialIdentifier: Bytes): Bytes {
  return concat(credentialIdentifier, L.oprfKey);
}

/** DeriveKeyPair(seed, "OPAQUE-DeriveKeyPair"): the OPRF key from its expanded seed (RFC 9807 §5.2.2). */
export function deriveOprfKey(s: Suite, seed: Bytes): Bytes {
  return s.oprf.deriveSecretKey(seed, L.deriveKeyPair);
}

interface EnvelopeKeys {
  readonly authKey: Bytes;
  readonly exportKey: Bytes;
  readonly clientKeyPair: KeyPair;
}

function deriveEnvelopeKeys(s: Suite, randomizedPassword: Bytes, envelopeNonce: Bytes): EnvelopeKeys {
  const authKey = s.expand(randomizedPassword, concat(envelopeNonce, L.authKey), s.Nh);
  const exportKey = s.expand(randomizedPassword, concat(envelopeNonce, L.exportKey), s.Nh);
  const seed = s.expand(randomizedPassword, concat(envelopeNonce, L.privateKey), s.Nseed);
  return { authKey, exportKey, clientKeyPair: s.group.deriveDiffieHellmanKeyPair(seed) };
}

export interface StoreResult {
  readonly envelope: Bytes;
  readonly clientPublicKey: Bytes;
  readonly maskingKey: Bytes;
  readonly exportKey: Bytes;
  /** intermediates exposed for the RFC vectors */
  readonly authKey: Bytes;
}

/** Store (RFC 9807 §4.1.2). */
export function store(
  s: Suite,
  randomizedPassword: Bytes,
  serverPublicKey: Bytes,
  ids: Identities,
  envelopeNonce: Bytes,
): StoreResult {
  const maskingKey = computeMaskingKey(s, randomizedPassword);
  const { authKey, exportKey, clientKeyPair } = deriveEnvelopeKeys(s, randomizedPassword, envelopeNonce);
  const cleartext = createCleartextCredentials(serverPublicKey, clientKeyPair.publicKey, ids);
  const authTag = s.mac(authKey, concat(envelopeNonce, encodeCleartextCredentials(cleartext)));
  return {
    envelope: concat(envelopeNonce, authTag),
    clientPublicKey: clientKeyPair.publicKey,
    maskingKey,
    exportKey,
    authKey,
  };
}

export interface RecoverResult {
  readonly clientPrivateKey: Bytes;
  readonly cleartextCredentials: CleartextCredentials;
  readonly exportKey: Bytes;
}

/** Recover (RFC 9807 §4.1.3): a wrong password shows up here as a tag mismatch. */
export function recover(
  s: Suite,
  randomizedPassword: Bytes,
  serverPublicKey: Bytes,
  envelope: Bytes,
  ids: Identities,
): RecoverResult {
  const envelopeNonce = envelope.subarray(0, s.Nn);
  const authTag = envelope.subarray(s.Nn);
  const { authKey, exportKey, clientKeyPair } = deriveEnvelopeKeys(s, randomizedPassword, envelopeNonce);
  const cleartextCredentials = createCleartextCredentials(serverPublicKey, clientKeyPair.publicKey, ids);
  const expectedTag = s.mac(authKey, concat(envelopeNonce, encodeCleartextCredentials(cleartextCredentials)));
  if (!ctEqual(authTag, expectedTag))
    throw new VaultError(
      'EnvelopeRecoveryFailed',
      'envelope authentication tag mismatch (wrong password or server key)',
    );
  return { clientPrivateKey: clientKeyPair.privateKey, cleartextCredentials, exportKey };
}

/**
 * credential_response_pad = Expand(masking_key, masking_nonce || "CredentialResponsePad", Npk + Nn + Nm); XOR both ways
 * (RFC 9807 §5.3).
 */
export function maskResponse(s: Suite, maskingKey: Bytes, maskingNonce: Bytes, plaintext: Bytes): Bytes {
  const pad = s.expand(maskingKey, concat(maskingNonce, L.credentialResponsePad), s.group.Npk + s.Nn + s.Nm);
  return xor(pad, plaintext);
}
